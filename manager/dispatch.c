/*
 * dispatch.c - decoding, validation, the idempotent transaction, and the ack of a delivery.
 */
#include "manager/dispatch.h"

#include <stdio.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "proto/codec.h"
#include "proto/schema.h"

/* Tries of one transaction inside db_transaction (serialization failures, deadlocks). */
#define DISPATCH_TXN_ATTEMPTS 3
/* Tries of a delivery against transient failures, and the backoff between them. */
#define DISPATCH_ATTEMPTS 5
#define DISPATCH_BACKOFF_BASE_MS 100
#define DISPATCH_BACKOFF_CAP_MS 2000
/* The per-delivery budget for those tries: a third of the heartbeat, within these bounds. */
#define DISPATCH_BUDGET_MIN_MS 3000
#define DISPATCH_BUDGET_MAX_MS 20000

const struct drv_ops *job_driver = &filestore_driver;

/* One row per method; the index is enum proto_method_id. */
static const struct {
	int (*txn)(db_conn *db, struct job *job);
	void (*after)(db_conn *db, struct job *job);
} dispatch_table[PROTO_M_COUNT] = {
	[PROTO_M_CREATE_VOLUME] = { h_create_volume, NULL },
	[PROTO_M_DELETE_VOLUME] = { h_delete_volume, NULL },
	[PROTO_M_EXTEND_VOLUME] = { h_extend_volume, h_extend_after },
	[PROTO_M_EXTEND_VOLUME_COMPLETION] = { h_extend_completion, NULL },
};

void job_outcome(struct job *job, const char *outcome)
{
	util_strlcpy(job->outcome, outcome, sizeof(job->outcome));
}

int job_load_volume(db_conn *db, struct job *job, const char *id, const char *want,
		    struct vol_row *v)
{
	int rc = vol_get(db, id, true, v);

	/* A volume deleted while its message waited is a normal race, not an error of the
	 * message: record it, so that a redelivery does not look again, and acknowledge. */
	if (rc == VOL_NOT_FOUND) {
		log_warning("%s: volume %s does not exist (any more); nothing to do",
			    job->method->name, id);
		job_outcome(job, "not_found");
		return JOB_SKIP;
	}
	if (rc != DB_OK)
		return rc;
	/* Stricter than Cinder, which runs whatever the status: only the status the API set for
	 * this operation proves that the message is the one the API meant. */
	if (strcmp(v->status, want) != 0) {
		log_warning("%s: volume %s is %s, not %s; nothing to do", job->method->name, id,
			    v->status, want);
		job_outcome(job, "wrong_status");
		return JOB_SKIP;
	}
	return DB_OK;
}

/* The transaction of a delivery: claim the _unique_id, run the handler, record its outcome. */
static int dispatch_txn(db_conn *db, void *arg)
{
	struct job *job = arg;
	const char *params[] = { job->msg->unique_id, job->method->name, NULL };
	PGresult *res = NULL;

	job->duplicate = false;
	job_outcome(job, "done");
	job->reason[0] = '\0';
	memset(&job->after, 0, sizeof(job->after));

	/* A concurrent transaction holding the same id makes this insert wait for it, so the
	 * same message can never run twice, even on two managers at once. */
	int rc = db_exec(db, "INSERT INTO volmgr_processed_messages (unique_id, method, "
			 "processed_at, outcome) VALUES ($1, $2, now() AT TIME ZONE 'utc', "
			 "'running') ON CONFLICT (unique_id) DO NOTHING RETURNING unique_id",
			 2, params, &res);
	if (rc != DB_OK)
		return rc;
	job->duplicate = PQntuples(res) == 0;
	PQclear(res);
	if (job->duplicate)
		return DB_OK;

	rc = dispatch_table[job->method->id].txn(db, job);
	if (rc != DB_OK)
		return rc;
	params[1] = job->outcome;
	res = NULL;
	rc = db_exec(db, "UPDATE volmgr_processed_messages SET outcome = $2 WHERE unique_id = $1",
		     2, params, &res);
	PQclear(res);
	return rc;
}

int dispatch_decode(const struct mq_delivery *d, struct proto_msg *msg,
			   struct job *job, char *reason, size_t rlen)
{
	struct proto_limits lim = proto_default_limits;
	char detail[JOB_REASON_MAX / 2] = "";
	int rc;

	lim.max_bytes = (size_t)mconf.max_message_bytes;
	if (d->content_type != NULL && strcmp(d->content_type, PROTO_CONTENT_TYPE_MSGPACK) != 0) {
		rc = PROTO_EPARSE;
		snprintf(detail, sizeof(detail), "content type '%s' is not %s", d->content_type,
			 PROTO_CONTENT_TYPE_MSGPACK);
		goto fail;
	}
	rc = proto_msgpack_decode(d->body, d->len, &lim, msg, detail, sizeof(detail));
	if (rc != PROTO_OK)
		goto fail;
	job->msg = msg;
	job->method = proto_method_find(msg->method);
	if (job->method == NULL) {
		rc = PROTO_EMETHOD;
		snprintf(detail, sizeof(detail), "method '%s' is not served here", msg->method);
		goto fail;
	}
	if (msg->namespace_ != NULL && msg->namespace_[0] != '\0') {
		rc = PROTO_EMETHOD;
		snprintf(detail, sizeof(detail), "namespace '%s' is not served here",
			 msg->namespace_);
		goto fail;
	}
	rc = proto_version_check(msg->version, job->method);
	if (rc != PROTO_OK) {
		snprintf(detail, sizeof(detail), "%s version %s (this service serves up to %s)",
			 msg->method, msg->version, PROTO_RPC_VERSION);
		goto fail;
	}
	rc = proto_args_parse(job->method, msg->args, &job->args, detail, sizeof(detail));
	if (rc != PROTO_OK)
		goto fail;
	if (msg->is_call)
		log_warning("%s was sent as a call; volmgr serves it as a cast and sends no reply",
			    msg->method);
	return PROTO_OK;
fail:
	snprintf(reason, rlen, "%s: %s", proto_strerror(rc), detail);
	return rc;
}

static int dispatch_budget_ms(void)
{
	int hb = cfg_common.heartbeat_timeout_threshold;
	int budget = hb > 0 ? hb * 1000 / 3 : DISPATCH_BUDGET_MAX_MS;
	if (budget > DISPATCH_BUDGET_MAX_MS)
		budget = DISPATCH_BUDGET_MAX_MS;
	return budget < DISPATCH_BUDGET_MIN_MS ? DISPATCH_BUDGET_MIN_MS : budget;
}

/* Maps the status of an ack / reject of the consumer connection. */
static int dispatch_acked(int mq_rc)
{
	if (mq_rc == MQ_OK)
		return DISPATCH_DONE;
	log_error("acknowledgement failed: %s", mq_strerror(mq_rc));
	return DISPATCH_MQ_LOST;
}

/* Failures common/db.c classifies as DB_REJECT that another try can cure: a statement or lock
 * timeout (a row held by someone else for a while), insufficient resources (class 53) and
 * system errors (class 58). */
static bool dispatch_transient_reject(db_conn *db)
{
	static const char *const states[] = { "57014", "55P03", "53", "58" };
	const char *st = db_last_sqlstate(db);

	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strncmp(st, states[i], strlen(states[i])) == 0)
			return true;
	return false;
}

/* Runs the transaction with bounded retries. Returns DB_OK, JOB_PERMANENT (reason set) or
 * the last transient status (reason set); *db_down when the database stayed unreachable,
 * *stopped when shutdown cut the retries short. */
static int dispatch_run(db_conn *db, struct job *job, volatile sig_atomic_t *stop,
			char *reason, size_t rlen, bool *db_down, bool *stopped)
{
	int64_t start = util_now_ms(), stop_seen = 0;
	int budget = dispatch_budget_ms();
	int rc = DB_OK;

	*db_down = false;
	*stopped = false;
	for (int attempt = 1; ; attempt++) {
		rc = db_transaction(db, dispatch_txn, job, DISPATCH_TXN_ATTEMPTS);
		if (rc == DB_OK)
			return DB_OK;
		if (rc == JOB_PERMANENT) {
			snprintf(reason, rlen, "%s", job->reason);
			return rc;
		}
		if ((rc == DB_REJECT && !dispatch_transient_reject(db)) || rc > 0) {
			if (rc > 0)
				snprintf(reason, rlen, "unexpected handler status %d", rc);
			else
				snprintf(reason, rlen, "permanent database error: %s (SQLSTATE %s)",
					 db_last_error(db), db_last_sqlstate(db));
			return JOB_PERMANENT;
		}
		snprintf(reason, rlen, "transient failure after %d attempts: %s: %s", attempt,
			 db_strerror(rc), db_last_error(db));
		log_warning("%s (attempt %d of %d): %s: %s", job->method->name, attempt,
			    DISPATCH_ATTEMPTS, db_strerror(rc), db_last_error(db));
		if (rc == DB_RECONNECT || !db_is_ok(db)) {
			if (db_reconnect(db) != DB_OK)
				log_warning("database reconnect failed");
		}
		if (*stop && stop_seen == 0)
			stop_seen = util_now_ms();
		int delay = util_backoff_ms(attempt, DISPATCH_BACKOFF_BASE_MS,
					    DISPATCH_BACKOFF_CAP_MS);
		int64_t now = util_now_ms();
		if (stop_seen != 0 && now + delay - stop_seen > (int64_t)mconf.drain_timeout * 1000) {
			*stopped = true;
			return rc;
		}
		if (attempt >= DISPATCH_ATTEMPTS || now + delay - start > budget) {
			*db_down = !db_is_ok(db);
			return rc;
		}
		util_sleep_ms(delay, NULL);
	}
}

int dispatch_delivery(db_conn *db, struct consumer *c, const struct mq_delivery *d,
		      volatile sig_atomic_t *stop)
{
	char reason[JOB_REASON_MAX];
	struct proto_msg msg;
	struct job job;
	bool db_down, stopped;
	int result;

	memset(&job, 0, sizeof(job));
	/* Decoding initialises msg again; this makes the destroy below safe on every path. */
	proto_msg_init(&msg, 0);
	if (dispatch_decode(d, &msg, &job, reason, sizeof(reason)) != PROTO_OK) {
		result = dispatch_acked(consumer_dead_letter(c, d, reason));
		goto out;
	}
	log_set_request_id(msg.ctx.request_id);
	log_debug("%s %s (delivery %llu%s, unique id %s)", msg.method, msg.version,
		  (unsigned long long)d->tag, d->redelivered ? ", redelivered" : "", msg.unique_id);

	int rc = dispatch_run(db, &job, stop, reason, sizeof(reason), &db_down, &stopped);
	if (stopped || db_down) {
		log_warning("%s: leaving the delivery unacknowledged: %s", msg.method,
			    stopped ? "shutting down" : "the database is unreachable");
		result = stopped ? DISPATCH_STOPPED : DISPATCH_DB_DOWN;
		goto out;
	}
	if (rc != DB_OK) {
		result = dispatch_acked(consumer_dead_letter(c, d, reason));
		goto out;
	}
	if (job.duplicate) {
		log_info("%s: message %s was already processed; acknowledging", msg.method,
			 msg.unique_id);
		result = dispatch_acked(consumer_ack(c, d));
		goto out;
	}
	log_info("%s: %s (message %s)", msg.method, job.outcome, msg.unique_id);
	/* The commit is durable: ack first, so that a crash during the after-commit work finds
	 * a duplicate rather than a message to run again. The work runs even if the ack failed,
	 * because the redelivered message will be a duplicate and skip it. */
	result = dispatch_acked(consumer_ack(c, d));
	if (job.after.kind != JOB_AFTER_NONE && dispatch_table[job.method->id].after != NULL)
		dispatch_table[job.method->id].after(db, &job);
out:
	log_set_request_id(NULL);
	proto_msg_destroy(&msg);
	return result;
}
