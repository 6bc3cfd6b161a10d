/*
 * dispatch.c - decoding, validation, the idempotent transaction, and the ack of a delivery.
 */
#include "manager/dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/mmetrics.h"
#include "proto/codec.h"
#include "proto/schema.h"

/* Tries of one transaction inside db_transaction (serialization failures, deadlocks). */
#define DISPATCH_TXN_ATTEMPTS 3
/* Tries of a delivery against transient failures, and the backoff between them. */
#define DISPATCH_ATTEMPTS 5
#define DISPATCH_BACKOFF_BASE_MS 100
#define DISPATCH_BACKOFF_CAP_MS 2000
/* Deliveries of one message whose tries all lost the database connection, after which it is
 * dead-lettered (x-delivery-count, quorum queues): RabbitMQ 4's default delivery-limit. */
#define DISPATCH_CONN_LOST_DELIVERIES_MAX 20
/* The per-delivery budget for those tries: a third of the heartbeat, within these bounds. */
#define DISPATCH_BUDGET_MIN_MS 3000
#define DISPATCH_BUDGET_MAX_MS 20000
/* A reply holds a connection description at most; replies larger than this are not built. */
#define DISPATCH_REPLY_ARENA_CAP (256 * 1024)

const struct drv_ops *job_driver = &filestore_driver;

/* The manager's columns of the method rows (proto/methods.h); the index is enum
 * proto_method_id. failed runs in a transaction of its own after the message was
 * dead-lettered for good. */
#define DISPATCH_ROW(ID, name, send_version, min_minor, kind, group, args, handler, failed, \
		     after) \
	[PROTO_M_##ID] = { handler, after, failed },

static const struct {
	int (*txn)(db_conn *db, struct job *job);
	void (*after)(db_conn *db, struct job *job);
	int (*failed)(db_conn *db, struct job *job);
} dispatch_table[PROTO_M_COUNT] = {
	PROTO_METHODS(DISPATCH_ROW)
};

#undef DISPATCH_ROW

void job_outcome(struct job *job, const char *outcome)
{
	util_strlcpy(job->outcome, outcome, sizeof(job->outcome));
}

void job_failed(struct job *job, const char *outcome)
{
	job_outcome(job, outcome);
	job->failed = true;
}

int job_fail(struct job *job, const char *cls, const char *fmt, ...)
{
	va_list ap;

	util_strlcpy(job->failure_class, cls, sizeof(job->failure_class));
	va_start(ap, fmt);
	vsnprintf(job->failure_message, sizeof(job->failure_message), fmt, ap);
	va_end(ap);
	log_warning("%s: %s: %s", job->method->name, cls, job->failure_message);
	job_failed(job, "failed");
	return DB_OK;
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

/* Forgets the reply state of an earlier try. */
static void dispatch_reply_reset(struct job *job)
{
	pv_arena_destroy(&job->reply_arena);
	pv_arena_init(&job->reply_arena, DISPATCH_REPLY_ARENA_CAP);
	job->result = NULL;
	job->failure_class[0] = '\0';
	job->failure_message[0] = '\0';
	free(job->reply_body);
	job->reply_body = NULL;
	job->reply_len = 0;
}

/* Encodes the reply of a handled call into job->reply_body. Returns DB_OK, DB_RETRY when
 * memory ran out (the transaction rolls back and runs again: a call must never be recorded
 * as handled without its reply), or DB_REJECT for a reply that cannot be encoded at all. */
static int dispatch_reply_encode(struct job *job)
{
	struct proto_reply rep = { .result = job->result, .ending = true,
				   .msg_id = job->msg->msg_id };
	char *failure = NULL;
	int rc;

	if (job->failure_class[0] != '\0' &&
	    (failure = proto_failure_format(PROTO_FAILURE_MODULE_CINDER, job->failure_class,
					    job->failure_message)) == NULL)
		return DB_RETRY;
	rep.failure = failure;
	rc = proto_encode_reply(job->fmt, &rep, &job->reply_body, &job->reply_len);
	free(failure);
	if (rc == PROTO_ENOMEM)
		return DB_RETRY;
	return rc == PROTO_OK ? DB_OK : DB_REJECT;
}

/* Loads the stored reply of a call that was already handled (NULL column: none). The bytea
 * comes back in binary, as the bytes stored. Running out of memory for the copy is a
 * transient failure: the transaction rolls back and runs again, rather than acking a call
 * with no reply. The reply goes again only to the queue of the call that got it: a message
 * that reuses a handled _unique_id with another _reply_q gets nothing. */
static int dispatch_reply_load(db_conn *db, struct job *job)
{
	const char *params[] = { job->msg->unique_id };
	PGresult *res = NULL;
	int rc = db_exec_binary(db, "SELECT reply, reply_q FROM volmgr_processed_messages "
				"WHERE unique_id = $1", 1, params, NULL, NULL, true, &res);

	if (rc != DB_OK || PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		return rc;
	}
	if (PQgetisnull(res, 0, 1) || (size_t)PQgetlength(res, 0, 1) != strlen(job->msg->reply_q) ||
	    memcmp(PQgetvalue(res, 0, 1), job->msg->reply_q, strlen(job->msg->reply_q)) != 0) {
		log_warning("%s: %s was handled for another reply queue; no reply to %s",
			    job->method->name, job->msg->unique_id, job->msg->reply_q);
		PQclear(res);
		return DB_OK;
	}
	size_t n = (size_t)PQgetlength(res, 0, 0);

	job->reply_body = malloc(n > 0 ? n : 1);
	if (job->reply_body == NULL) {
		log_warning("%s: no memory for the stored reply of %s", job->method->name,
			    job->msg->unique_id);
		PQclear(res);
		return DB_RETRY;
	}
	memcpy(job->reply_body, PQgetvalue(res, 0, 0), n);
	job->reply_len = n;
	PQclear(res);
	return DB_OK;
}

/* Claims the delivery's _unique_id in volmgr_processed_messages; a message that has it
 * already is a duplicate (job->duplicate), and a call's stored reply is loaded to go again. */
static int dispatch_claim(db_conn *db, struct job *job)
{
	const char *params[] = { job->msg->unique_id, job->method->name };
	PGresult *res = NULL;

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
	if (job->duplicate && job->msg->is_call)
		return dispatch_reply_load(db, job);
	return DB_OK;
}

/* The transaction of a delivery: claim the _unique_id, run the handler, record its outcome
 * (and, for a call, its reply).
 *
 * A broadcast (job->broadcast) is neither claimed nor recorded. It reaches every server of
 * the topic with one _unique_id (every volume service sharing this database, and every
 * worker of each, has a fanout queue of its own): recorded by that id, it would run for the
 * first of them only. Keying it by id and recipient would need the recipient in the
 * table's key for little gain, since a fanout queue belongs to one worker's connection and
 * goes with it, so a broadcast is hardly ever delivered twice to one recipient. Running it
 * again is harmless for every method that comes by fanout: Cinder's volume RPC API
 * broadcasts only publish_service_capabilities, which asks for one more capability report,
 * and failover_completed, which volmgr does not serve (dead-lettered as an unknown method
 * before any transaction). Any other method sent to a fanout exchange still runs
 * idempotently by state, as every handler does. */
static int dispatch_txn(db_conn *db, void *arg)
{
	struct job *job = arg;

	job->duplicate = false;
	job->defer_reply = false;
	job_outcome(job, "done");
	job->failed = false;
	job->reason[0] = '\0';
	memset(&job->after, 0, sizeof(job->after));
	dispatch_reply_reset(job);

	int rc = job->broadcast ? DB_OK : dispatch_claim(db, job);

	if (rc != DB_OK || job->duplicate)
		return rc;
	rc = dispatch_table[job->method->id].txn(db, job);
	if (rc != DB_OK)
		return rc;
	if (job->msg->is_call && !job->defer_reply) {
		rc = dispatch_reply_encode(job);
		if (rc != DB_OK)
			return rc;
	}
	if (job->broadcast)
		return DB_OK;
	/* The reply goes as a binary parameter: its bytes as they are, NULL for a cast. */
	const char *update[] = { job->msg->unique_id, job->outcome, job->reply_body,
				 job->msg->reply_q };
	const int lengths[] = { 0, 0, (int)job->reply_len, 0 };
	const int formats[] = { 0, 0, 1, 0 };
	return db_exec_binary(db, "UPDATE volmgr_processed_messages SET outcome = $2, "
			      "reply = $3::bytea, reply_q = $4 WHERE unique_id = $1", 4, update,
			      lengths, formats, false, NULL);
}

int dispatch_decode(const struct mq_delivery *d, struct proto_msg *msg,
			   struct job *job, char *reason, size_t rlen)
{
	struct proto_limits lim = proto_default_limits;
	char detail[JOB_REASON_MAX / 2] = "";
	int rc;

	lim.max_bytes = (size_t)mconf.max_message_bytes;
	if (proto_format_of(d->content_type, &job->fmt) != 0) {
		rc = PROTO_EPARSE;
		snprintf(detail, sizeof(detail), "content type '%s' is neither %s nor %s",
			 d->content_type, PROTO_CONTENT_TYPE_MSGPACK, PROTO_CONTENT_TYPE_JSON);
		goto fail;
	}
	rc = proto_decode(job->fmt, d->body, d->len, &lim, msg, detail, sizeof(detail));
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
	if (msg->is_call != job->method->is_call)
		log_warning("%s was sent as a %s; volmgr serves it and %s", msg->method,
			    msg->is_call ? "call" : "cast",
			    msg->is_call ? "replies" : "sends no reply (there is no reply queue)");
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

/* Runs the transaction with bounded retries. Returns DB_OK, JOB_PERMANENT (reason set) or
 * the last transient status (reason set); *db_down when the last try lost the connection or
 * found the database unreachable, *stopped when shutdown cut the retries short. */
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
		if (rc == DB_REJECT || rc > 0) {
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
			else
				mmetrics_database_reconnect();
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
			/* A lost connection says nothing against the message, even when the
			 * reconnect after it worked: the database was restarting or dropping
			 * sessions, and the message waits in its queue for a database that
			 * answers, as it does while the database is down. */
			*db_down = rc == DB_RECONNECT || !db_is_ok(db);
			return rc;
		}
		util_sleep_ms(delay, NULL);
	}
}

/* Publishes a call's stored reply to its reply queue. A caller that gave up has no queue
 * or ignores the reply, so a failure here is only logged. */
static void dispatch_reply(struct consumer *c, const struct proto_msg *msg,
			   const struct job *job)
{
	if (!msg->is_call || job->reply_body == NULL)
		return;
	int rc = consumer_reply(c, msg->reply_q, proto_format_content_type(job->fmt),
				job->reply_body, job->reply_len);
	if (rc != MQ_OK)
		log_warning("%s: reply to %s (_msg_id %s) not delivered: %s", msg->method,
			    msg->reply_q, msg->msg_id, mq_strerror(rc));
}

/* The exception a caller gets for a message that cannot be served: oslo's dispatcher's for
 * a method or version this service does not have (as an oslo server raises them), Cinder's
 * InvalidInput for a malformed message, CinderException when handling it failed for good. */
static void dispatch_failure_of(int status, const struct proto_msg *msg, const char *reason,
				const char **module, const char **cls, char *text, size_t tlen)
{
	*module = PROTO_FAILURE_MODULE_CINDER;
	switch (status) {
	case PROTO_EVERSION:
		*module = PROTO_FAILURE_MODULE_OSLO;
		*cls = "UnsupportedVersion";
		snprintf(text, tlen, "Endpoint does not support RPC version %s. Attempted method: "
			 "%s", msg->version, msg->method);
		return;
	case PROTO_EMETHOD:
		*module = PROTO_FAILURE_MODULE_OSLO;
		*cls = "NoSuchMethod";
		snprintf(text, tlen, "Endpoint does not support RPC method %s", msg->method);
		return;
	case JOB_PERMANENT:
		*cls = "CinderException";
		break;
	default:
		*cls = "InvalidInput";
		break;
	}
	snprintf(text, tlen, "%s", reason);
}

int dispatch_dead_letter(struct consumer *c, const struct mq_delivery *d,
			 const struct proto_msg *msg, enum proto_format fmt, int status,
			 const char *reason)
{
	char text[PROTO_FAILURE_MESSAGE_MAX];
	const char *module, *cls;
	char *failure = NULL, *body = NULL;
	size_t len = 0;
	int rc;

	mmetrics_dead_letter(msg->method, status);
	if (msg->msg_id == NULL || msg->reply_q == NULL)
		return consumer_dead_letter(c, d, reason);
	dispatch_failure_of(status, msg, reason, &module, &cls, text, sizeof(text));
	struct proto_reply rep = { .ending = true, .msg_id = msg->msg_id };

	rep.failure = failure = proto_failure_format(module, cls, text);
	if (failure == NULL || proto_encode_reply(fmt, &rep, &body, &len) != PROTO_OK)
		log_error("%s: out of memory for the failure reply to _msg_id %s",
			  msg->method != NULL ? msg->method : "call", msg->msg_id);
	else if ((rc = consumer_reply(c, msg->reply_q, proto_format_content_type(fmt), body,
				      len)) != MQ_OK)
		log_warning("failure reply %s to %s (_msg_id %s) not delivered: %s", cls,
			    msg->reply_q, msg->msg_id, mq_strerror(rc));
	free(body);
	free(failure);
	return consumer_dead_letter(c, d, reason);
}

static int dispatch_failed_txn(db_conn *db, void *arg)
{
	struct job *job = arg;

	return dispatch_table[job->method->id].failed(db, job);
}

/* Dead-letters a decoded message whose handling failed for good, then gives its volume the
 * method's failure status. Returns as dispatch_acked. */
static int dispatch_give_up(db_conn *db, struct consumer *c, const struct mq_delivery *d,
			    const struct proto_msg *msg, struct job *job, const char *reason)
{
	int result = dispatch_acked(dispatch_dead_letter(c, d, msg, job->fmt, JOB_PERMANENT,
							 reason));

	/* Not when the dead letter failed: the delivery comes back and is handled again. */
	if (result != DISPATCH_DONE || dispatch_table[job->method->id].failed == NULL)
		return result;
	int rc = db_transaction(db, dispatch_failed_txn, job, DISPATCH_TXN_ATTEMPTS);
	if (rc != DB_OK)
		log_error("%s: the volume's failure status could not be recorded: %s: %s",
			  msg->method, db_strerror(rc), db_last_error(db));
	return result;
}

int dispatch_delivery(db_conn *db, struct consumer *c, const struct mq_delivery *d,
		      volatile sig_atomic_t *stop)
{
	char reason[JOB_REASON_MAX];
	struct proto_msg msg;
	struct job job;
	bool db_down, stopped;
	int result;

	/* A delivery starts the health check's staleness clock afresh: only one that is stuck
	 * for the whole bound makes this worker stale (mmetrics.h). */
	util_progress();
	memset(&job, 0, sizeof(job));
	job.broadcast = consumer_from_fanout(c, d);
	/* Decoding initialises msg again; this makes the destroy below safe on every path. */
	proto_msg_init(&msg, 0);
	int rc = dispatch_decode(d, &msg, &job, reason, sizeof(reason));
	if (rc != PROTO_OK) {
		result = dispatch_acked(dispatch_dead_letter(c, d, &msg, job.fmt, rc, reason));
		goto out;
	}
	log_set_request_id(msg.ctx.request_id);
	log_debug("%s %s (delivery %llu%s, unique id %s)", msg.method, msg.version,
		  (unsigned long long)d->tag, d->redelivered ? ", redelivered" : "", msg.unique_id);

	int64_t start_us = util_now_us();
	rc = dispatch_run(db, &job, stop, reason, sizeof(reason), &db_down, &stopped);
	if (db_down && !stopped && d->delivery_count >= DISPATCH_CONN_LOST_DELIVERIES_MAX) {
		/* The bound on a message that loses the connection every time it runs (one
		 * that makes its backend fail, say): it must not cycle through the queue for
		 * ever. A database down for long redelivers nothing, as nothing is consumed. */
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
			 " (on each of %ld deliveries)", d->delivery_count);
		result = dispatch_give_up(db, c, d, &msg, &job, reason);
		goto out;
	}
	if (stopped || db_down) {
		log_warning("%s: leaving the delivery unacknowledged: %s", msg.method,
			    stopped ? "shutting down" : "the database is unreachable");
		result = stopped ? DISPATCH_STOPPED : DISPATCH_DB_DOWN;
		mmetrics_message(job.method, MM_DEFERRED);
		goto out;
	}
	if (rc != DB_OK) {
		result = dispatch_give_up(db, c, d, &msg, &job, reason);
		goto out;
	}
	if (job.duplicate) {
		log_info("%s: message %s was already processed; %sacknowledging", msg.method,
			 msg.unique_id, job.reply_body != NULL ? "replying again and " : "");
		dispatch_reply(c, &msg, &job);
		result = dispatch_acked(consumer_ack(c, d));
		mmetrics_message(job.method, MM_DUPLICATE);
		goto out;
	}
	mmetrics_committed(job.method, util_now_us() - start_us, msg.ctx.timestamp);
	mmetrics_message(job.method, job.failed ? MM_FAILED : MM_OK);
	log_info("%s: %s (message %s)", msg.method, job.outcome, msg.unique_id);
	/* The reply goes out once the transaction is durable; a crash before it means a
	 * redelivery, which finds the stored reply and sends it. */
	dispatch_reply(c, &msg, &job);
	/* The commit is durable: ack first, so that a crash during the after-commit work finds
	 * a duplicate rather than a message to run again. The work runs even if the ack failed,
	 * because the redelivered message will be a duplicate and skip it. */
	result = dispatch_acked(consumer_ack(c, d));
	if (job.after.kind != JOB_AFTER_NONE && dispatch_table[job.method->id].after != NULL)
		dispatch_table[job.method->id].after(db, &job);
out:
	log_set_request_id(NULL);
	free(job.reply_body);
	pv_arena_destroy(&job.reply_arena);
	proto_msg_destroy(&msg);
	return result;
}
