/*
 * engine.c - the migration engine thread (see engine.h and docs/architecture.md).
 *
 * One migration is driven at a time: a step either advances it (and the next step runs at
 * once) or finds it waiting (for the destination's create, for compute's completion call),
 * and the engine goes on with the next one. A copy is the only long step; migrations queued
 * behind it wait for it, while the consumer thread serves everything else.
 */
#include "manager/engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/db.h"
#include "common/log.h"
#include "common/mq.h"
#include "common/util.h"
#include "core/nova.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/migration.h"
#include "proto/names.h"
#include "proto/schema.h"
#include "proto/topology.h"
#include "proto/wire.h"

#define ENG_STATEMENT_TIMEOUT_MS 5000
#define ENG_PUBLISH_TIMEOUT_MS 5000
/* How long a call of the engine waits for its answer (oslo's rpc_response_timeout). */
#define ENG_CALL_TIMEOUT_MS 60000
#define ENG_CALL_EXPIRATION "60000"
#define ENG_ARENA_CAP (256 * 1024)
#define ENG_MAX_MIGRATIONS 64
/* Steps of one migration in a row before the engine looks at the others. */
#define ENG_MAX_STEPS 8
#define ENG_TXN_ATTEMPTS 3
#define ENG_BACKOFF_BASE_MS 500
#define ENG_BACKOFF_CAP_MS 30000
/* The first key of the advisory locks that claim a migration ("vmig"); the second is the
 * hash of the source volume id. */
#define ENG_LOCK_CLASS "1986881895"

enum eng_next { ENG_WAIT, ENG_AGAIN };
/* What a call got: an answer, a failure raised by the other side, no answer in time (oslo's
 * MessagingTimeout), or not even sent (the broker unreachable). */
enum eng_call { ENG_CALL_OK = 0, ENG_CALL_LOST = -1, ENG_CALL_RAISED = 1, ENG_CALL_TIMEOUT = 2 };

struct engine {
	db_conn *db;
	mq_conn *pub;        /* confirms */
	mq_conn *rep;        /* consumes reply_q */
	char reply_q[40];
	volatile sig_atomic_t *stop;
};

static struct engine eng;
static pthread_t eng_thread;
static bool eng_started;

/* ---- the broker ---- */

static void eng_mq_drop(struct engine *e)
{
	mq_close(e->pub);
	mq_close(e->rep);
	e->pub = NULL;
	e->rep = NULL;
}

/*
 * Opens both connections and the reply queue when they are not open. The queue is reached
 * through the default exchange (volmgr's managers answer there) and through a direct
 * exchange of its own name (oslo's rabbit driver answers there). The connections ask for no
 * heartbeat: they idle during copies, and every wait on them is bounded.
 */
static int eng_mq_ready(struct engine *e, char *err, size_t errlen)
{
	struct mq_options o = { .url = cfg_common.transport_url, .heartbeat = 0,
				.confirms = true, .connect_timeout_ms = 5000 };
	struct mq_queue_options q = { .exclusive = true, .auto_delete = true };
	char hex[33];

	if (e->pub != NULL && e->rep != NULL)
		return 0;
	eng_mq_drop(e);
	e->pub = mq_open(&o, err, errlen);
	o.confirms = false;
	e->rep = e->pub != NULL ? mq_open(&o, err, errlen) : NULL;
	if (e->rep == NULL) {
		eng_mq_drop(e);
		return -1;
	}
	util_hex_id(hex);
	snprintf(e->reply_q, sizeof(e->reply_q), "reply_%s", hex);
	int rc = mq_declare_queue(e->rep, e->reply_q, &q, NULL);
	if (rc == MQ_OK)
		rc = mq_declare_exchange_ad(e->rep, e->reply_q, "direct", false, true);
	if (rc == MQ_OK)
		rc = mq_bind(e->rep, e->reply_q, e->reply_q, e->reply_q);
	if (rc == MQ_OK)
		rc = mq_consume(e->rep, e->reply_q, 16);
	if (rc != MQ_OK) {
		snprintf(err, errlen, "reply queue %s: %s", e->reply_q, mq_strerror(rc));
		eng_mq_drop(e);
		return -1;
	}
	return 0;
}

/* Publishes body with the broker's confirm; drops the connections when they failed.
 * Returns MQ_OK or mq_publish's status, with err. */
static int eng_publish(struct engine *e, const char *exchange, const char *rk, const char *body,
		       size_t len, const struct mq_props *props, char *err, size_t errlen)
{
	int rc = mq_publish(e->pub, exchange, rk, body, len, props, true, ENG_PUBLISH_TIMEOUT_MS);

	if (rc == MQ_OK)
		return MQ_OK;
	snprintf(err, errlen, "publishing to %s: %s", rk, mq_strerror(rc));
	if (rc != MQ_UNROUTABLE && rc != MQ_NACKED)
		eng_mq_drop(e);
	return rc;
}

/* Waits for the reply to msg_id; earlier calls' late replies are dropped. */
static int eng_wait_reply(struct engine *e, const char *msg_id, struct pv_arena *ra,
			  const struct pv **result, char *err, size_t errlen)
{
	int64_t deadline = util_now_ms() + ENG_CALL_TIMEOUT_MS;

	for (;;) {
		int64_t left = deadline - util_now_ms();
		struct mq_delivery d;
		struct proto_reply r;
		enum proto_format fmt;
		char detail[256];

		if (*e->stop) {
			snprintf(err, errlen, "stopping");
			return ENG_CALL_LOST;
		}
		if (left <= 0) {
			snprintf(err, errlen, "no reply within %d s", ENG_CALL_TIMEOUT_MS / 1000);
			return ENG_CALL_TIMEOUT;
		}
		int rc = mq_next(e->rep, &d, left > 1000 ? 1000 : (int)left);
		if (rc == MQ_TIMEOUT)
			continue;
		if (rc != MQ_OK) {
			snprintf(err, errlen, "reply queue: %s", mq_strerror(rc));
			eng_mq_drop(e);
			return ENG_CALL_LOST;
		}
		bool ok = proto_format_of(d.content_type, &fmt) == 0 &&
			  proto_decode_reply(fmt, d.body, d.len, &proto_default_limits, ra, &r,
					     detail, sizeof(detail)) == PROTO_OK;
		if (mq_ack(e->rep, d.tag, false) != MQ_OK)
			eng_mq_drop(e);
		mq_delivery_free(&d);
		if (!ok || r.msg_id == NULL || strcmp(r.msg_id, msg_id) != 0)
			continue;
		if (r.failure != NULL) {
			char cls[PROTO_FAILURE_CLASS_MAX] = "", msg[PROTO_FAILURE_MESSAGE_MAX] = "";
			if (proto_failure_parse(r.failure, cls, msg) != 0)
				util_strlcpy(cls, "unknown failure", sizeof(cls));
			snprintf(err, errlen, "%s: %s", cls, msg);
			return ENG_CALL_RAISED;
		}
		*result = r.result;
		return ENG_CALL_OK;
	}
}

/*
 * Sends method for vol (its Volume primitive, as the sender's context the volume's user and
 * project with admin rights, as Cinder's manager's elevated context) to the service of host,
 * in oslo's JSON, which volmgr's managers and cinder-volume both read. For a call, waits
 * for the answer: *result (in ra) or the raised failure in err. Returns an enum eng_call.
 */
static int eng_send(struct engine *e, enum proto_method_id id, const char *host,
		    const struct vol_row *vol, const union proto_args *args, const char *request_id,
		    struct pv_arena *ra, const struct pv **result, char *err, size_t errlen)
{
	const struct proto_method *pm = proto_method_get(id);
	struct proto_volume_fields f;
	struct proto_context ctx;
	struct proto_msg m;
	struct proto_call call;
	char rk[PROTO_NAME_MAX], ts[32], msg_id[33];
	char *body = NULL;
	size_t len = 0;
	int rc = ENG_CALL_LOST;

	if (proto_routing_key_for_volume_host(host, rk, sizeof(rk)) != 0) {
		snprintf(err, errlen, "'%s' names no volume service", host);
		return ENG_CALL_LOST;
	}
	if (eng_mq_ready(e, err, errlen) != 0)
		return ENG_CALL_LOST;
	util_now_iso(ts);
	memset(&ctx, 0, sizeof(ctx));
	ctx.user_id = vol->user_id;
	ctx.project_id = vol->project_id;
	ctx.request_id = request_id[0] != '\0' ? request_id : NULL;
	ctx.timestamp = ts;
	ctx.read_deleted = "no";
	ctx.is_admin = true;
	ctx.is_admin_project = true;
	proto_msg_init(&m, ENG_ARENA_CAP);
	vol_to_proto_fields(vol, &f);
	util_hex_id(msg_id);
	call = (struct proto_call){ msg_id, e->reply_q, ENG_CALL_TIMEOUT_MS / 1000 };
	if (proto_encode_volume_msg(&m, pm, &ctx, args, &f, pm->is_call ? &call : NULL,
				    PROTO_FMT_JSON, &body, &len) != PROTO_OK) {
		snprintf(err, errlen, "the %s message could not be built", pm->name);
		goto out;
	}
	struct mq_props props = { .content_type = PROTO_CONTENT_TYPE_JSON,
				  .message_id = m.unique_id, .persistent = true,
				  .expiration = pm->is_call ? ENG_CALL_EXPIRATION : NULL };
	if (eng_publish(e, cfg_common.control_exchange, rk, body, len, &props, err, errlen) != MQ_OK)
		goto out;
	log_info("%s %s for volume %s to %s, _unique_id %s", pm->is_call ? "call" : "cast",
		 pm->name, vol->id, rk, m.unique_id);
	rc = pm->is_call ? eng_wait_reply(e, msg_id, ra, result, err, errlen) : ENG_CALL_OK;
out:
	free(body);
	proto_msg_destroy(&m);
	return rc;
}

/* ---- transactions on a claimed migration ---- */

typedef int (*eng_step_fn)(db_conn *db, const struct mig_row *m, const void *arg);

struct eng_txn {
	const struct mig_row *seen;
	eng_step_fn fn;
	const void *arg;
};

/* Runs the step on the row locked again, only when its stage is still the one the engine
 * saw (a completion call may have moved it meanwhile). */
static int eng_txn_body(db_conn *db, void *p)
{
	const struct eng_txn *t = p;
	struct mig_row m;

	int rc = mig_get(db, t->seen->volume_id, true, &m);
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && (strcmp(m.stage, t->seen->stage) != 0 ||
						    strcmp(m.id, t->seen->id) != 0)))
		return DB_OK;
	return rc == DB_OK ? t->fn(db, &m, t->arg) : rc;
}

static enum eng_next eng_txn(struct engine *e, const struct mig_row *m, eng_step_fn fn,
			     const void *arg)
{
	struct eng_txn t = { m, fn, arg };
	int rc = db_transaction(e->db, eng_txn_body, &t, ENG_TXN_ATTEMPTS);

	if (rc == DB_OK)
		return ENG_AGAIN;
	log_warning("migration of volume %s, stage %s: %s: %s", m->volume_id, m->stage,
		    db_strerror(rc), db_last_error(e->db));
	return ENG_WAIT;
}

static int eng_fn_abort(db_conn *db, const struct mig_row *m, const void *why)
{
	return mig_abort(db, m, why);
}

static int eng_fn_copying(db_conn *db, const struct mig_row *m, const void *arg)
{
	(void)arg;
	return mig_set_stage(db, m, MIG_COPYING, false, 0, NULL);
}

static int eng_fn_swapping(db_conn *db, const struct mig_row *m, const void *arg)
{
	(void)arg;
	return mig_set_stage(db, m, MIG_SWAPPING, false, mconf.migration_swap_timeout, NULL);
}

static int eng_fn_swap_sent(db_conn *db, const struct mig_row *m, const void *arg)
{
	(void)arg;
	return mig_set_swap_sent(db, m);
}

static int eng_fn_create_sent(db_conn *db, const struct mig_row *m, const void *arg)
{
	(void)arg;
	return mig_set_stage(db, m, MIG_CREATING, true, 0, NULL);
}

static int eng_fn_complete(db_conn *db, const struct mig_row *m, const void *arg)
{
	(void)arg;
	return mig_complete(db, m, false, NULL, NULL, NULL);
}

static int eng_fn_finish(db_conn *db, const struct mig_row *m, const void *arg)
{
	(void)arg;
	return mig_finish(db, m);
}

static int eng_fn_close(db_conn *db, const struct mig_row *m, const void *arg)
{
	(void)arg;
	return mig_close(db, m);
}

static enum eng_next eng_abort(struct engine *e, const struct mig_row *m, const char *why)
{
	return eng_txn(e, m, eng_fn_abort, why);
}

/* Loads a volume outside any transaction; VOL_NOT_FOUND, DB_OK or a db status. */
static int eng_volume(struct engine *e, const char *id, struct vol_row *v)
{
	return vol_get(e->db, id, false, v);
}

/* Attached to a server: the copy is compute's (Cinder swaps when the volume has any
 * attachment; one without an instance cannot be swapped and is copied here). */
static bool eng_attached(const struct vol_row *v)
{
	for (int i = 0; i < v->nattachments && i < VOL_MAX_ATTACHMENTS; i++)
		if (v->attachments[i].instance_uuid[0] != '\0')
			return true;
	return false;
}

/* ---- the stages ---- */

static enum eng_next eng_creating(struct engine *e, const struct mig_row *m)
{
	struct vol_row dst, src;
	char err[512];

	int rc = eng_volume(e, m->new_volume_id, &dst);
	if (rc == VOL_NOT_FOUND)
		return eng_abort(e, m, "the temporary volume disappeared");
	if (rc != DB_OK)
		return ENG_WAIT;
	if (!m->create_sent) {
		union proto_args a = { .create_volume = { .volume_id = dst.id } };
		if (eng_send(e, PROTO_M_CREATE_VOLUME, dst.host, &dst, &a, m->request_id, NULL,
			     NULL, err, sizeof(err)) != ENG_CALL_OK) {
			log_warning("Volume %s: create_volume for %s not sent: %s", m->volume_id,
				    dst.id, err);
			return m->expired ? eng_abort(e, m, err) : ENG_WAIT;
		}
		return eng_txn(e, m, eng_fn_create_sent, NULL);
	}
	if (strcmp(dst.status, VOL_S_AVAILABLE) == 0) {
		rc = eng_volume(e, m->volume_id, &src);
		if (rc == VOL_NOT_FOUND)
			return eng_abort(e, m, "the source volume disappeared");
		if (rc != DB_OK)
			return ENG_WAIT;
		return eng_txn(e, m, eng_attached(&src) ? eng_fn_swapping : eng_fn_copying, NULL);
	}
	if (strcmp(dst.status, VOL_S_ERROR) == 0)
		return eng_abort(e, m, "failed to create new_volume on destination");
	if (m->expired)
		return eng_abort(e, m, "timeout creating new_volume on destination");
	return ENG_WAIT;
}

/* The connector of this host for initialize_connection, as os-brick describes a host. */
static struct pv *eng_connector(struct pv_arena *a)
{
	struct pv *c = pv_new_map(a, 4);

	pv_map_put_str(a, c, "host", cfg_common.host);
	pv_map_put_str(a, c, "platform", "x86_64");
	pv_map_put_bool(a, c, "multipath", false);
	return a->failed ? NULL : c;
}

/*
 * Cinder's _copy_volume_data with the destination "remote": initialize_connection on the
 * destination's service for this host, the bytes copied into the file its answer names,
 * terminate_connection. Returns 0, ENG_CALL_LOST (try again later) or ENG_CALL_RAISED (the
 * copy failed for good, as when the destination does not answer: Cinder's timeout), with
 * err.
 */
static int eng_copy(struct engine *e, const struct mig_row *m, const struct vol_row *src,
		    const struct vol_row *dst, char *err, size_t errlen)
{
	struct pv_arena a;
	const struct pv *info = NULL;
	union proto_args args;
	char path[4096];
	int rc;

	pv_arena_init(&a, ENG_ARENA_CAP);
	memset(&args, 0, sizeof(args));
	args.initialize_connection.volume_id = dst->id;
	args.initialize_connection.connector = eng_connector(&a);
	rc = args.initialize_connection.connector == NULL ? ENG_CALL_LOST :
	     eng_send(e, PROTO_M_INITIALIZE_CONNECTION, dst->host, dst, &args, m->request_id,
		      &a, &info, err, errlen);
	if (rc == ENG_CALL_TIMEOUT)
		rc = ENG_CALL_RAISED;
	if (rc != ENG_CALL_OK)
		goto out;
	const struct pv *data = pv_get(info, "data");
	const struct pv *dev = data != NULL ? pv_get(data, "device_path") : NULL;
	if (dev == NULL || dev->type != PV_STR || dev->u.s[0] != '/' ||
	    util_strlcpy(path, dev->u.s, sizeof(path)) >= sizeof(path)) {
		snprintf(err, errlen, "the destination's connection names no local file");
		rc = ENG_CALL_RAISED;
		goto out;
	}
	log_info("Volume %s: copying its bytes into %s (%s).", src->id, dst->id, path);
	if (job_driver->copy_to(src, path, mconf.migration_copy_delay_ms, e->stop, err,
				errlen) != DRV_OK)
		rc = *e->stop ? ENG_CALL_LOST : ENG_CALL_RAISED;
	union proto_args t = { .terminate_connection = {
		.volume_id = dst->id, .connector = args.initialize_connection.connector } };
	char terr[256];
	const struct pv *ignored = NULL;
	if (eng_send(e, PROTO_M_TERMINATE_CONNECTION, dst->host, dst, &t, m->request_id, &a,
		     &ignored, terr, sizeof(terr)) != ENG_CALL_OK)
		log_warning("Volume %s: terminate_connection of %s: %s", src->id, dst->id, terr);
out:
	pv_arena_destroy(&a);
	return rc;
}

static enum eng_next eng_copying(struct engine *e, const struct mig_row *m)
{
	struct vol_row src, dst;
	char err[512];

	int rc = eng_volume(e, m->volume_id, &src);
	if (rc == DB_OK)
		rc = eng_volume(e, m->new_volume_id, &dst);
	if (rc == VOL_NOT_FOUND)
		return eng_abort(e, m, "a volume of the migration disappeared");
	if (rc != DB_OK)
		return ENG_WAIT;
	rc = eng_copy(e, m, &src, &dst, err, sizeof(err));
	if (rc == ENG_CALL_RAISED)
		return eng_abort(e, m, err);
	if (rc != ENG_CALL_OK) {
		log_warning("Volume %s: copy to %s postponed: %s", m->volume_id, dst.id, err);
		return ENG_WAIT;
	}
	return eng_txn(e, m, eng_fn_complete, NULL);
}

/*
 * Asks compute to swap, until swap_sent records that it was asked (a manager stopped
 * between the stage and the request asks after its restart; compute may then be asked
 * twice, never not at all), then waits for its completion call. A request that fails ends
 * the migration as Cinder's does (clean up, error), and so does the deadline: a completion
 * that never comes would keep the volume migrating and a retype's reservations held.
 */
static enum eng_next eng_swapping(struct engine *e, const struct mig_row *m)
{
	struct vol_row src;
	char err[512];

	if (m->expired)
		return eng_abort(e, m, "compute did not complete the swap within "
				 "migration_swap_timeout");
	if (m->swap_sent)
		return ENG_WAIT;
	int rc = eng_volume(e, m->volume_id, &src);
	if (rc != DB_OK)
		return rc == VOL_NOT_FOUND ? eng_abort(e, m, "the source volume disappeared")
					   : ENG_WAIT;
	for (int i = 0; i < src.nattachments && i < VOL_MAX_ATTACHMENTS; i++) {
		const char *server = src.attachments[i].instance_uuid;
		if (server[0] != '\0' &&
		    nova_swap_volume(server, src.id, m->new_volume_id, err, sizeof(err)) != 0)
			return eng_abort(e, m, err);
	}
	return eng_txn(e, m, eng_fn_swap_sent, NULL);
}

static enum eng_next eng_completing(struct engine *e, const struct mig_row *m)
{
	struct vol_row src, dst;
	struct pv_arena a;
	const struct pv *ignored = NULL;
	char err[512];

	int rc = eng_volume(e, m->volume_id, &src);
	if (rc == DB_OK)
		rc = eng_volume(e, m->new_volume_id, &dst);
	if (rc == VOL_NOT_FOUND)
		return eng_abort(e, m, "a volume of the migration disappeared");
	if (rc != DB_OK)
		return ENG_WAIT;
	union proto_args u = { .update_migrated_volume = {
		.volume_id = src.id, .volume_status = m->orig_status } };
	struct proto_volume_fields nf;
	vol_to_proto_fields(&dst, &nf);
	u.update_migrated_volume.new_volume.fields = &nf;
	pv_arena_init(&a, ENG_ARENA_CAP);
	rc = eng_send(e, PROTO_M_UPDATE_MIGRATED_VOLUME, dst.host, &src, &u, m->request_id, &a,
		      &ignored, err, sizeof(err));
	pv_arena_destroy(&a);
	if (rc == ENG_CALL_RAISED || (rc != ENG_CALL_OK && m->expired)) {
		/* Settled on what the database says: a first attempt that committed (its reply
		 * lost) has the source named after the destination, and the swap of the rows goes
		 * on; otherwise the migration fails (mig_abort undoes nothing that is not done). */
		struct vol_row now;
		if (eng_volume(e, m->volume_id, &now) == DB_OK &&
		    strcmp(now.name_id, dst.id) == 0)
			return eng_txn(e, m, eng_fn_finish, NULL);
		return eng_abort(e, m, rc == ENG_CALL_RAISED ? err :
				 "update_migrated_volume not answered within "
				 "migration_update_timeout");
	}
	if (rc != ENG_CALL_OK) {
		/* Its handler is one transaction that recognises a repeat: asking again (at the
		 * next look, also after a timeout) is safe until the deadline, and giving up
		 * before it would fail a migration for a destination that is only slow. */
		log_warning("Volume %s: update_migrated_volume postponed: %s", src.id, err);
		return ENG_WAIT;
	}
	return eng_txn(e, m, eng_fn_finish, NULL);
}

/* Answers the completion call the row recorded: save_volume_id, the source's id. Returns 0
 * once the reply is settled: delivered, refused by the broker, or its caller gone (no
 * queue); -1 to try again at the next look, until MIG_REPLY_WINDOW_S have passed. */
static int eng_reply(struct engine *e, const struct mig_row *m, char *err, size_t errlen)
{
	enum proto_format fmt = PROTO_FMT_JSON;
	struct pv_arena a;
	char *body = NULL;
	size_t len = 0;
	int rc = -1;

	if (m->reply_q[0] == '\0' || m->reply_msg_id[0] == '\0')
		return 0;
	if (eng_mq_ready(e, err, errlen) != 0)
		return m->reply_late ? 0 : -1;
	/* The format the call came in; JSON, which every caller reads, if it is unreadable. */
	if (proto_format_parse(m->reply_format, &fmt) != 0)
		fmt = PROTO_FMT_JSON;
	pv_arena_init(&a, ENG_ARENA_CAP);
	struct proto_reply r = { .result = pv_new_str(&a, m->volume_id), .ending = true,
				 .msg_id = m->reply_msg_id };
	if (r.result == NULL || proto_encode_reply(fmt, &r, &body, &len) != PROTO_OK) {
		snprintf(err, errlen, "the reply cannot be built");
		rc = m->reply_late ? 0 : -1;
	} else {
		struct mq_props props = { .content_type = proto_format_content_type(fmt) };
		rc = eng_publish(e, "", m->reply_q, body, len, &props, err, errlen);
		/* A caller that gave up has no queue any more, and a refused reply stays refused:
		 * nothing to retry. A broker out of reach is retried while the caller may wait. */
		bool settled = rc == MQ_OK || rc == MQ_UNROUTABLE || rc == MQ_NACKED ||
			       m->reply_late;
		if (rc != MQ_OK)
			log_warning("Volume %s: the completion's reply to %s was not delivered%s: %s",
				    m->volume_id, m->reply_q, settled ? "" : " yet", err);
		rc = settled ? 0 : -1;
	}
	free(body);
	pv_arena_destroy(&a);
	return rc;
}

/* The casts and the reply a finished migration still owes, then its end. */
static enum eng_next eng_cleanup(struct engine *e, const struct mig_row *m)
{
	struct vol_row left;
	char err[512];

	int rc = eng_volume(e, m->new_volume_id, &left);
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return ENG_WAIT;
	/* Whatever its status: a failed migration's destination may never have been created
	 * and is deleted all the same (mig_abort). */
	if (rc == DB_OK) {
		union proto_args a = { .delete_volume = { .volume_id = left.id } };
		if (eng_send(e, PROTO_M_DELETE_VOLUME, left.host, &left, &a, m->request_id, NULL,
			     NULL, err, sizeof(err)) != ENG_CALL_OK) {
			log_warning("Volume %s: delete_volume for %s not sent: %s", m->volume_id,
				    left.id, err);
			return ENG_WAIT;
		}
	}
	if (eng_reply(e, m, err, sizeof(err)) != 0)
		return ENG_WAIT;
	return eng_txn(e, m, eng_fn_close, NULL);
}

/* ---- claiming and driving ---- */

static bool eng_claim(struct engine *e, const char *volume_id, bool take)
{
	PGresult *r = NULL;
	int rc = db_exec(e->db, take ?
			 "SELECT pg_try_advisory_lock(" ENG_LOCK_CLASS ", hashtext($1))" :
			 "SELECT pg_advisory_unlock(" ENG_LOCK_CLASS ", hashtext($1))", 1,
			 (const char *[]){ volume_id }, &r);
	bool got = rc == DB_OK && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;

	PQclear(r);
	return got;
}

static void eng_drive(struct engine *e, const char *volume_id)
{
	if (!eng_claim(e, volume_id, true))
		return;
	for (int step = 0; step < ENG_MAX_STEPS && !*e->stop; step++) {
		struct mig_row m;
		enum eng_next next = ENG_WAIT;

		if (mig_get(e->db, volume_id, false, &m) != DB_OK)
			break;
		log_set_request_id(m.request_id[0] != '\0' ? m.request_id : NULL);
		if (strcmp(m.stage, MIG_CREATING) == 0)
			next = eng_creating(e, &m);
		else if (strcmp(m.stage, MIG_COPYING) == 0)
			next = eng_copying(e, &m);
		else if (strcmp(m.stage, MIG_SWAPPING) == 0)
			next = eng_swapping(e, &m);
		else if (strcmp(m.stage, MIG_COMPLETING) == 0)
			next = eng_completing(e, &m);
		else if (strcmp(m.stage, MIG_CLEANUP) == 0)
			next = eng_cleanup(e, &m);
		if (next == ENG_WAIT)
			break;
	}
	log_set_request_id(NULL);
	(void)eng_claim(e, volume_id, false);
}

static void *eng_main(void *arg)
{
	struct engine *e = arg;
	char ids[ENG_MAX_MIGRATIONS][37];

	util_block_stop_signals();
	for (int attempt = 0; e->db == NULL && !*e->stop; attempt++) {
		e->db = db_open(cfg_common.db_connection, "volume-manager-migrations",
				ENG_STATEMENT_TIMEOUT_MS);
		if (e->db == NULL)
			util_sleep_ms(util_backoff_ms(attempt, ENG_BACKOFF_BASE_MS,
						      ENG_BACKOFF_CAP_MS), e->stop);
	}
	bool listening = false;
	for (int attempt = 0; !*e->stop; ) {
		int n = 0;

		if (!listening && db_listen(e->db, MIG_CHANNEL) == DB_OK)
			listening = true;
		if (listening && mig_list_mine(e->db, ids, ENG_MAX_MIGRATIONS, &n) == DB_OK) {
			attempt = 0;
			for (int i = 0; i < n && !*e->stop; i++)
				eng_drive(e, ids[i]);
			(void)db_wait_notify(e->db, ENGINE_RECHECK_MS, e->stop);
			continue;
		}
		/* The session is gone: its claims and its LISTEN with it. */
		listening = false;
		if (db_reconnect(e->db) != DB_OK)
			util_sleep_ms(util_backoff_ms(attempt++, ENG_BACKOFF_BASE_MS,
						      ENG_BACKOFF_CAP_MS), e->stop);
	}
	eng_mq_drop(e);
	if (e->db != NULL)
		db_close(e->db);
	e->db = NULL;
	return NULL;
}

int engine_start(volatile sig_atomic_t *stop)
{
	memset(&eng, 0, sizeof(eng));
	eng.stop = stop;
	if (pthread_create(&eng_thread, NULL, eng_main, &eng) != 0) {
		log_error("cannot start the migration engine thread");
		return -1;
	}
	eng_started = true;
	return 0;
}

void engine_join(void)
{
	if (eng_started)
		pthread_join(eng_thread, NULL);
	eng_started = false;
}
