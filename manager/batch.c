/*
 * batch.c - group commit of extend_volume_completion (see batch.h).
 */
#include "manager/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbarray.h"
#include "common/log.h"
#include "common/util.h"
#include "core/pending_extend.h"
#include "manager/dispatch.h"
#include "manager/finalize_sql.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/records.h"
#include "proto/codec.h"
#include "proto/names.h"

/* Tries of the group's transaction inside db_transaction (serialization failures, deadlocks);
 * after that its messages go one at a time, each with dispatch's own retries. */
#define BATCH_TXN_ATTEMPTS 3
/* Room for one array parameter: BATCH_MAX volume ids, or the reservations of a usual batch
 * (a batch that does not fit goes one message at a time). */
#define BATCH_ARRAY_BYTES (128 * 1024)

enum batch_state {
	B_DONE,       /* acked or dead-lettered */
	B_SINGLE,     /* for dispatch_delivery */
	B_GROUP,      /* finalized by the group's transaction */
	B_DUPLICATE,  /* processed before: acked with the group */
	B_OUT,        /* taken out by the group: for dispatch_delivery after the commit */
};

struct batch_item {
	struct mq_delivery d;
	struct proto_msg msg;
	struct job job;
	enum batch_state state;
};

/* The array parameters of finalize.sql. */
enum batch_param {
	P_IDS,          /* claim: unique ids */
	P_VOLUMES,      /* lock_volumes, then finalize: volume ids */
	P_SIZES,
	P_STATUSES,
	P_REQUESTS,
	P_RESERVATIONS,
	P_RES_PROJECTS,
	P_POOL_HOSTS,
	P_POOLS,
	P_DELTAS,
	P_OUT,          /* unclaim: unique ids taken out */
	P_COUNT,
};

struct batch {
	struct batch_item items[BATCH_MAX];
	int n;
	struct db_array p[P_COUNT];
	char *bufs;                 /* P_COUNT buffers of BATCH_ARRAY_BYTES */
	struct vol_row scratch;     /* what the driver and the pool name need of a volume */
	char publisher[REC_PUBLISHER_MAX];
	/* VOLMGR_TEST_CRASH_AFTER_COMMIT set: die (SIGKILL) after the group's commit, before
	 * its ack, so that the integration tests can show what a crash there leaves. */
	bool crash_after_commit;
};

struct batch *batch_new(void)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b == NULL || (b->bufs = malloc((size_t)P_COUNT * BATCH_ARRAY_BYTES)) == NULL ||
	    fin_sql_load() != 0) {
		log_error("cannot set up the group commit");
		batch_free(b);
		return NULL;
	}
	rec_publisher(b->publisher);
	b->crash_after_commit = getenv("VOLMGR_TEST_CRASH_AFTER_COMMIT") != NULL;
	return b;
}

void batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->bufs);
	free(b);
}

static struct db_array *batch_param(struct batch *b, enum batch_param p)
{
	db_array_init(&b->p[p], b->bufs + (size_t)p * BATCH_ARRAY_BYTES, BATCH_ARRAY_BYTES);
	return &b->p[p];
}

/* Runs statement s with the array parameters ps; *res as db_exec (may be NULL). An array that
 * did not fit rolls the group back (DB_REJECT: its messages then go one at a time). */
static int batch_exec(db_conn *db, struct batch *b, enum fin_stmt s, const enum batch_param *ps,
		      int nps, PGresult **res)
{
	const char *values[P_COUNT + 1];

	for (int i = 0; i < nps; i++) {
		values[i] = db_array_text(&b->p[ps[i]]);
		if (values[i] == NULL) {
			log_warning("group commit: %d messages do not fit one batch's parameters",
				    b->n);
			return DB_REJECT;
		}
	}
	if (s == FIN_FINALIZE)
		values[nps++] = b->publisher;
	return db_exec(db, fin_sql(s), nps, values, res);
}

/* True if id is among the ids claim returned. Rows come back in the order of the batch, so
 * *next usually points at it; anything else falls back to a search. */
static bool batch_claimed(const PGresult *r, int *next, const char *id)
{
	int rows = PQntuples(r);

	if (*next < rows && strcmp(PQgetvalue(r, *next, 0), id) == 0) {
		(*next)++;
		return true;
	}
	for (int i = 0; i < rows; i++)
		if (strcmp(PQgetvalue(r, i, 0), id) == 0)
			return true;
	return false;
}

/* The row of volume id in lock_volumes' result (ordered by id, bytewise), or -1. */
static int batch_find_volume(const PGresult *r, const char *id)
{
	int lo = 0, hi = PQntuples(r) - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int cmp = strcmp(PQgetvalue(r, mid, 0), id);
		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Whether the completion of it can be finalized with the group, given its locked row: the
 * conditions of h_extend_completion's success path. Anything else is left to it. */
static bool batch_admit(struct batch *b, const struct batch_item *it, const PGresult *r,
			int row)
{
	const struct proto_args_extend_volume_completion *a = &it->job.args.extend_volume_completion;
	char err[256];

	char mine[VOL_TEXT];

	if (row < 0 || strcmp(PQgetvalue(r, row, 1), VOL_S_EXTENDING) != 0 ||
	    a->new_size <= atoi(PQgetvalue(r, row, 2)))
		return false;
	/* The fence: only the completion of the volume's current pending extend joins the
	 * group. Any other (an old message, or one from an API that records no pending
	 * extend) goes alone, where h_extend_completion checks its reservations. */
	if (PQgetisnull(r, row, 6) ||
	    pending_extend_format_reservations(a->reservations, (int)a->nreservations, mine,
					       sizeof(mine)) != 0 ||
	    strcmp(mine, PQgetvalue(r, row, 6)) != 0)
		return false;
	util_strlcpy(b->scratch.id, a->volume_id, sizeof(b->scratch.id));
	util_strlcpy(b->scratch.host, PQgetvalue(r, row, 3), sizeof(b->scratch.host));
	if (job_driver->verify_size(&b->scratch, a->new_size, err, sizeof(err)) != DRV_OK) {
		log_debug("volume %s: %s; the completion goes alone", a->volume_id, err);
		return false;
	}
	return true;
}

/* Adds the finalization of it (admitted, row locked) to the finalize parameters. */
static void batch_add(struct batch *b, const struct batch_item *it, const PGresult *r, int row)
{
	const struct proto_args_extend_volume_completion *a = &it->job.args.extend_volume_completion;
	char host[VOL_TEXT], pool[VOL_TEXT];

	db_array_add(&b->p[P_VOLUMES], a->volume_id);
	db_array_add_long(&b->p[P_SIZES], a->new_size);
	db_array_add(&b->p[P_STATUSES],
		     atol(PQgetvalue(r, row, 5)) > 0 ? VOL_S_IN_USE : VOL_S_AVAILABLE);
	db_array_add(&b->p[P_REQUESTS], it->msg.ctx.request_id);
	for (unsigned i = 0; i < a->nreservations; i++) {
		db_array_add(&b->p[P_RESERVATIONS], a->reservations[i]);
		db_array_add(&b->p[P_RES_PROJECTS], PQgetvalue(r, row, 4));
	}
	rec_pool_of(&b->scratch, host, pool);
	db_array_add(&b->p[P_POOL_HOSTS], host);
	db_array_add(&b->p[P_POOLS], pool);
	db_array_add_long(&b->p[P_DELTAS], (long)a->new_size - atol(PQgetvalue(r, row, 2)));
}

/* claim: marks the messages processed before as duplicates. */
static int batch_claim(db_conn *db, struct batch *b)
{
	static const enum batch_param ps[] = { P_IDS };
	struct db_array *ids = batch_param(b, P_IDS);
	PGresult *r;
	int next = 0;

	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_GROUP)
			db_array_add(ids, b->items[i].msg.unique_id);
	int rc = batch_exec(db, b, FIN_CLAIM, ps, 1, &r);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_GROUP &&
		    !batch_claimed(r, &next, b->items[i].msg.unique_id))
			b->items[i].state = B_DUPLICATE;
	PQclear(r);
	return DB_OK;
}

/* lock_volumes: admits each claimed completion or takes it out; fills the finalize
 * parameters of the admitted ones and the unclaim list of the others. */
static int batch_lock(db_conn *db, struct batch *b)
{
	static const enum batch_param ps[] = { P_VOLUMES };
	struct db_array *vols = batch_param(b, P_VOLUMES);
	PGresult *r;

	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_GROUP)
			db_array_add(vols, b->items[i].job.args.extend_volume_completion.volume_id);
	int rc = batch_exec(db, b, FIN_LOCK_VOLUMES, ps, 1, &r);
	if (rc != DB_OK)
		return rc;
	for (int p = P_VOLUMES; p < P_COUNT; p++)
		batch_param(b, (enum batch_param)p);
	for (int i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		if (it->state != B_GROUP)
			continue;
		int row = batch_find_volume(r, it->job.args.extend_volume_completion.volume_id);
		if (batch_admit(b, it, r, row)) {
			batch_add(b, it, r, row);
		} else {
			it->state = B_OUT;
			db_array_add(&b->p[P_OUT], it->msg.unique_id);
		}
	}
	PQclear(r);
	return DB_OK;
}

/* The group's transaction (db_transaction body): claim, lock, unclaim, lock_usages,
 * finalize. Runs again from the start on a retry. */
static int batch_txn(db_conn *db, void *arg)
{
	static const enum batch_param out[] = { P_OUT };
	static const enum batch_param usages[] = { P_RESERVATIONS, P_RES_PROJECTS };
	static const enum batch_param fin[] = { P_VOLUMES, P_SIZES, P_STATUSES, P_REQUESTS,
						P_RESERVATIONS, P_RES_PROJECTS, P_POOL_HOSTS,
						P_POOLS, P_DELTAS };
	struct batch *b = arg;

	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_DUPLICATE || b->items[i].state == B_OUT)
			b->items[i].state = B_GROUP;
	int rc = batch_claim(db, b);
	if (rc == DB_OK)
		rc = batch_lock(db, b);
	if (rc == DB_OK && b->p[P_OUT].n > 0)
		rc = batch_exec(db, b, FIN_UNCLAIM, out, 1, NULL);
	if (rc != DB_OK || b->p[P_VOLUMES].n == 0)
		return rc;
	rc = batch_exec(db, b, FIN_LOCK_USAGES, usages, 2, NULL);
	if (rc == DB_OK)
		rc = batch_exec(db, b, FIN_FINALIZE, fin, sizeof(fin) / sizeof(fin[0]), NULL);
	return rc;
}

/* True if it may join the group: a successful completion whose volume and _unique_id no
 * earlier member has. */
static bool batch_groupable(const struct batch *b, int i)
{
	const struct batch_item *it = &b->items[i];
	const struct proto_args_extend_volume_completion *a = &it->job.args.extend_volume_completion;

	if (it->job.method->id != PROTO_M_EXTEND_VOLUME_COMPLETION || a->error)
		return false;
	for (int j = 0; j < i; j++) {
		const struct batch_item *o = &b->items[j];
		if (o->state == B_GROUP &&
		    (strcmp(o->msg.unique_id, it->msg.unique_id) == 0 ||
		     strcmp(o->job.args.extend_volume_completion.volume_id, a->volume_id) == 0))
			return false;
	}
	return true;
}

/* Decodes every delivery: poison is dead-lettered now, the rest sorted into the group or the
 * one-at-a-time path. Returns BATCH_DONE or BATCH_MQ_LOST. */
static int batch_sort(struct batch *b, struct consumer *c, int *ngroup)
{
	char reason[JOB_REASON_MAX];
	int result = BATCH_DONE;

	*ngroup = 0;
	for (int i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		int rc = dispatch_decode(&it->d, &it->msg, &it->job, reason, sizeof(reason));
		if (rc != PROTO_OK) {
			it->state = B_DONE;
			if (result == BATCH_DONE &&
			    dispatch_dead_letter(c, &it->d, &it->msg, it->job.fmt, rc, reason) !=
			    MQ_OK)
				result = BATCH_MQ_LOST;
			continue;
		}
		it->state = batch_groupable(b, i) ? B_GROUP : B_SINGLE;
		*ngroup += it->state == B_GROUP;
	}
	return result;
}

/* Runs the group's transaction; on failure its messages go one at a time. */
static void batch_commit(struct batch *b, db_conn *db)
{
	int counts[B_OUT + 1] = { 0 };

	int rc = db_transaction(db, batch_txn, b, BATCH_TXN_ATTEMPTS);
	if (rc != DB_OK)
		log_warning("group commit failed (%s: %s); its messages go one at a time",
			    db_strerror(rc), db_last_error(db));
	for (int i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		if (rc != DB_OK && it->state >= B_GROUP)
			it->state = B_SINGLE;
		if (it->state == B_GROUP)
			log_debug("extend_volume_completion: completed (volume %s, message %s)",
				  it->job.args.extend_volume_completion.volume_id, it->msg.unique_id);
		counts[it->state]++;
		if (it->state == B_OUT)
			it->state = B_SINGLE;
	}
	if (rc == DB_OK)
		log_info("group commit: %d completions finalized, %d already processed, %d taken "
			 "out of %d deliveries", counts[B_GROUP], counts[B_DUPLICATE], counts[B_OUT],
			 b->n);
}

static int batch_from_dispatch(int rc)
{
	switch (rc) {
	case DISPATCH_DONE:
		return BATCH_DONE;
	case DISPATCH_DB_DOWN:
		return BATCH_DB_DOWN;
	case DISPATCH_STOPPED:
		return BATCH_STOPPED;
	default:
		return BATCH_MQ_LOST;
	}
}

/* Acknowledges the group's messages: all at once when no unsettled delivery precedes the
 * last of them (a multiple ack covers every earlier tag), else one by one. */
static int batch_ack(struct batch *b, struct consumer *c)
{
	uint64_t top = 0;
	bool clean = true;

	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_GROUP || b->items[i].state == B_DUPLICATE)
			top = b->items[i].d.tag;
	for (int i = 0; i < b->n && b->items[i].d.tag < top; i++)
		clean = clean && b->items[i].state != B_SINGLE;
	if (top == 0)
		return BATCH_DONE;
	if (clean)
		return consumer_ack_upto(c, top) == MQ_OK ? BATCH_DONE : BATCH_MQ_LOST;
	for (int i = 0; i < b->n; i++) {
		const struct batch_item *it = &b->items[i];
		if ((it->state == B_GROUP || it->state == B_DUPLICATE) &&
		    consumer_ack(c, &it->d) != MQ_OK)
			return BATCH_MQ_LOST;
	}
	return BATCH_DONE;
}

/* Handles the b->n deliveries taken. */
static int batch_handle(struct batch *b, db_conn *db, struct consumer *c,
			volatile sig_atomic_t *stop)
{
	int ngroup;
	int result = batch_sort(b, c, &ngroup);

	if (result == BATCH_DONE && ngroup > 0) {
		batch_commit(b, db);
		if (b->crash_after_commit)
			raise(SIGKILL);
	}
	/* In the order they arrived, after the group: a message of this batch that the group
	 * took out sees the group's changes, as it would have one message later. */
	for (int i = 0; i < b->n && result == BATCH_DONE; i++) {
		struct batch_item *it = &b->items[i];
		if (it->state != B_SINGLE)
			continue;
		result = batch_from_dispatch(dispatch_delivery(db, c, &it->d, stop));
		if (result == BATCH_DONE)
			it->state = B_DONE;
	}
	/* Committed whatever else happened: ack unless the connection is gone (then they come
	 * back as duplicates). */
	if (result != BATCH_MQ_LOST) {
		int acked = batch_ack(b, c);
		if (acked != BATCH_DONE)
			result = acked;
	}
	if (result == BATCH_MQ_LOST)
		log_error("broker connection lost while acknowledging");
	return result;
}

int batch_run(struct batch *b, db_conn *db, struct consumer *c, int timeout_ms,
	      volatile sig_atomic_t *stop)
{
	int rc = consumer_next(c, &b->items[0].d, timeout_ms);

	if (rc == MQ_TIMEOUT)
		return BATCH_IDLE;
	if (rc != MQ_OK) {
		log_error("broker connection lost: %s", mq_strerror(rc));
		return BATCH_MQ_LOST;
	}
	b->n = 1;
	int64_t deadline = util_now_ms() + mconf.batch_window_ms;
	while (b->n < mconf.batch_size) {
		int64_t left = deadline - util_now_ms();
		rc = consumer_next(c, &b->items[b->n].d, left > 0 ? (int)left : 0);
		if (rc != MQ_OK)
			break;
		b->n++;
	}
	for (int i = 0; i < b->n; i++) {
		memset(&b->items[i].job, 0, sizeof(b->items[i].job));
		proto_msg_init(&b->items[i].msg, 0);
	}
	int result = batch_handle(b, db, c, stop);
	for (int i = 0; i < b->n; i++) {
		proto_msg_destroy(&b->items[i].msg);
		mq_delivery_free(&b->items[i].d);
	}
	b->n = 0;
	/* The deliveries taken before the connection failed were handled, but it is gone. */
	if (rc == MQ_CONN_LOST && result != BATCH_MQ_LOST) {
		log_error("broker connection lost: %s", mq_strerror(rc));
		result = BATCH_MQ_LOST;
	}
	return result;
}
