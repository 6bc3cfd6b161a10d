/*
 * batch.c - group commit of extend_volume and extend_volume_completion (see batch.h).
 */
#include "manager/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/dbarray.h"
#include "common/log.h"
#include "common/util.h"
#include "core/pending_extend.h"
#include "manager/driver.h"
#include "manager/dispatch.h"
#include "manager/finalize_sql.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/mmetrics.h"
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

/* The array parameters of the group's own statements; the finalization's are a fin_set. */
enum batch_param {
	P_IDS,          /* claim: unique ids */
	P_METHODS,      /* claim: their methods */
	P_OUTCOMES,     /* claim: the outcome each records */
	P_LOCK,         /* lock_volumes: volume ids */
	P_OUT,          /* unclaim: unique ids taken out */
	P_START_IDS,    /* notify_start: the volumes of extend_volume messages */
	P_START_STATUSES,
	P_START_SIZES,
	P_START_REQUESTS,
	P_COUNT,
};

/* The columns of lock_volumes, found by name in each result. */
enum batch_col {
	C_ID,
	C_STATUS,
	C_SIZE,
	C_HOST,
	C_PROJECT,
	C_STORE,
	C_NATTACHMENTS,
	C_PENDING,
	C_COUNT,
};

static const char *const batch_col_names[C_COUNT] = {
	[C_ID] = "id",
	[C_STATUS] = "status",
	[C_SIZE] = "size",
	[C_HOST] = "host",
	[C_PROJECT] = "project_id",
	[C_STORE] = "store_id",
	[C_NATTACHMENTS] = "nattachments",
	[C_PENDING] = "pending_reservations",
};

/* The extend_volume messages admitted to the group, for the driver's extend_group. */
struct batch_grow {
	const char *ids[BATCH_MAX];
	int sizes[BATCH_MAX];
	int status[BATCH_MAX];
	int item[BATCH_MAX];   /* index in items */
	int row[BATCH_MAX];    /* row in lock_volumes' result */
	int n;
};

struct batch {
	struct batch_item items[BATCH_MAX];
	int n;
	struct db_array p[P_COUNT];
	char *bufs;                 /* P_COUNT buffers of BATCH_ARRAY_BYTES */
	struct fin_set fin;         /* the finalizations of the group */
	struct batch_grow grow;
	int cols[C_COUNT];          /* column numbers of the current lock_volumes result */
	struct vol_row scratch;     /* what admission and finalization need of a volume */
	/* VOLMGR_TEST_CRASH_AFTER_COMMIT set: die (SIGKILL) after the group's commit, before
	 * its ack, so that the integration tests can show what a crash there leaves. */
	bool crash_after_commit;
	int64_t closed_at;          /* util_now_ms() when the previous batch stopped filling */
};

struct batch *batch_new(void)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b == NULL || (b->bufs = malloc((size_t)P_COUNT * BATCH_ARRAY_BYTES)) == NULL ||
	    fin_sql_load() != 0 || fin_set_init(&b->fin, BATCH_ARRAY_BYTES) != 0) {
		log_error("cannot set up the group commit");
		batch_free(b);
		return NULL;
	}
	b->crash_after_commit = getenv("VOLMGR_TEST_CRASH_AFTER_COMMIT") != NULL;
	return b;
}

void batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	fin_set_free(&b->fin);
	free(b->bufs);
	free(b);
}

/* The arguments the grouped methods share. */
struct batch_ext {
	const char *volume_id;
	int new_size;
	const char *const *reservations;
	int nreservations;
	bool completion;
	bool error;
};

static struct batch_ext batch_ext_of(const struct batch_item *it)
{
	if (it->job.method->id == PROTO_M_EXTEND_VOLUME) {
		const struct proto_args_extend_volume *a = &it->job.args.extend_volume;
		return (struct batch_ext){ a->volume_id, a->new_size, a->reservations,
					   (int)a->nreservations, false, false };
	}
	const struct proto_args_extend_volume_completion *a = &it->job.args.extend_volume_completion;
	return (struct batch_ext){ a->volume_id, a->new_size, a->reservations,
				   (int)a->nreservations, true, a->error };
}

static struct db_array *batch_param(struct batch *b, enum batch_param p)
{
	db_array_init(&b->p[p], b->bufs + (size_t)p * BATCH_ARRAY_BYTES, BATCH_ARRAY_BYTES);
	return &b->p[p];
}

/* Runs statement s with the array parameters ps, then extra (may be NULL); *res as db_exec
 * (may be NULL). An array that did not fit rolls the group back (DB_REJECT: its messages
 * then go one at a time). */
static int batch_exec(db_conn *db, struct batch *b, enum fin_stmt s, const enum batch_param *ps,
		      int nps, const char *extra, PGresult **res)
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
	if (extra != NULL)
		values[nps++] = extra;
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

/* Finds lock_volumes' columns by name. Returns DB_OK, or DB_REJECT (logged) when one is
 * missing: finalize.sql and this file disagree. */
static int batch_columns(struct batch *b, const PGresult *r)
{
	for (int c = 0; c < C_COUNT; c++) {
		b->cols[c] = PQfnumber(r, batch_col_names[c]);
		if (b->cols[c] < 0) {
			log_error("group commit: lock_volumes returns no column '%s'",
				  batch_col_names[c]);
			return DB_REJECT;
		}
	}
	return DB_OK;
}

static const char *batch_value(const struct batch *b, const PGresult *r, int row, enum batch_col c)
{
	return PQgetvalue(r, row, b->cols[c]);
}

/* The row of volume id in lock_volumes' result (ordered by id, bytewise), or -1. */
static int batch_find_volume(const struct batch *b, const PGresult *r, const char *id)
{
	int lo = 0, hi = PQntuples(r) - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int cmp = strcmp(batch_value(b, r, mid, C_ID), id);
		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Loads what admission and finalization need of row into b->scratch. */
static const struct vol_row *batch_volume(struct batch *b, const PGresult *r, int row)
{
	struct vol_row *v = &b->scratch;

	util_strlcpy(v->id, batch_value(b, r, row, C_ID), sizeof(v->id));
	util_strlcpy(v->status, batch_value(b, r, row, C_STATUS), sizeof(v->status));
	util_strlcpy(v->host, batch_value(b, r, row, C_HOST), sizeof(v->host));
	util_strlcpy(v->project_id, batch_value(b, r, row, C_PROJECT), sizeof(v->project_id));
	v->size = atoi(batch_value(b, r, row, C_SIZE));
	v->nattachments = atoi(batch_value(b, r, row, C_NATTACHMENTS));
	return v;
}

/*
 * Whether the message it may be finalized with the group, given its locked row: the one
 * admission (fin_admit), the fence, and for extend_volume a volume without attachments.
 * Anything else is left to the handler, alone.
 */
static bool batch_admit(struct batch *b, const struct batch_item *it, const PGresult *r,
			int row)
{
	struct batch_ext e = batch_ext_of(it);
	char err[256], mine[VOL_TEXT];

	if (row < 0)
		return false;
	const struct vol_row *v = batch_volume(b, r, row);
	enum fin_verdict verdict = fin_admit(v, e.new_size, e.completion, err, sizeof(err));
	if (verdict != FIN_ADMIT) {
		if (verdict == FIN_SIZE_MISMATCH)
			log_debug("volume %s: %s; the completion goes alone", v->id, err);
		return false;
	}
	/* The fence: only the message of the volume's current pending extend joins the group.
	 * Any other (an old message, or one from an API that records no pending extend) goes
	 * alone, where the handler checks its reservations. */
	if (PQgetisnull(r, row, b->cols[C_PENDING]) ||
	    pending_extend_format_reservations(e.reservations, e.nreservations, mine,
					       sizeof(mine)) != 0 ||
	    strcmp(mine, batch_value(b, r, row, C_PENDING)) != 0)
		return false;
	/* An attached volume's extend may need compute (DRV_NEEDS_FEEDBACK) or tell it after
	 * the commit: both belong to the handler. */
	return e.completion || v->nattachments == 0;
}

/* Takes item i out of the group: it goes alone after the commit. */
static void batch_take_out(struct batch *b, int i)
{
	b->items[i].state = B_OUT;
	db_array_add(&b->p[P_OUT], b->items[i].msg.unique_id);
}

/* Adds the finalization of item i (admitted, its volume at row of r). */
static void batch_finalize(struct batch *b, int i, const PGresult *r, int row)
{
	const struct batch_item *it = &b->items[i];
	struct batch_ext e = batch_ext_of(it);

	fin_set_add(&b->fin, batch_volume(b, r, row), e.new_size, e.reservations,
		    e.nreservations, it->msg.ctx.request_id);
}

/* claim: marks the messages processed before as duplicates. */
static int batch_claim(db_conn *db, struct batch *b)
{
	static const enum batch_param ps[] = { P_IDS, P_METHODS, P_OUTCOMES };
	struct db_array *ids = batch_param(b, P_IDS);
	struct db_array *methods = batch_param(b, P_METHODS);
	struct db_array *outcomes = batch_param(b, P_OUTCOMES);
	PGresult *r;
	int next = 0;

	for (int i = 0; i < b->n; i++) {
		const struct batch_item *it = &b->items[i];
		if (it->state != B_GROUP)
			continue;
		db_array_add(ids, it->msg.unique_id);
		db_array_add(methods, it->job.method->name);
		/* The outcomes the handlers record for the same success. */
		db_array_add(outcomes, batch_ext_of(it).completion ? "completed" : "extended");
	}
	int rc = batch_exec(db, b, FIN_CLAIM, ps, 3, NULL, &r);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_GROUP &&
		    !batch_claimed(r, &next, b->items[i].msg.unique_id))
			b->items[i].state = B_DUPLICATE;
	PQclear(r);
	return DB_OK;
}

/*
 * Grows the volumes of the admitted extend_volume messages together (every one grown before
 * any is synced, driver.h), then adds the finalization of each one grown and its
 * volume.resize.start; one the driver failed goes alone, where the handler fails it.
 */
static void batch_grow(struct batch *b, const PGresult *r)
{
	struct batch_grow *g = &b->grow;

	if (g->n == 0)
		return;
	job_driver->extend_group(g->ids, g->sizes, g->n, g->status);
	for (int k = 0; k < g->n; k++) {
		const struct batch_item *it = &b->items[g->item[k]];
		if (g->status[k] != DRV_OK) {
			batch_take_out(b, g->item[k]);
			continue;
		}
		const struct vol_row *v = batch_volume(b, r, g->row[k]);
		db_array_add(&b->p[P_START_IDS], v->id);
		db_array_add(&b->p[P_START_STATUSES], v->status);
		db_array_add_long(&b->p[P_START_SIZES], v->size);
		db_array_add(&b->p[P_START_REQUESTS], it->msg.ctx.request_id);
		batch_finalize(b, g->item[k], r, g->row[k]);
	}
}

/* lock_volumes: admits each claimed message or takes it out; fills the finalization of the
 * admitted ones (after the driver for extend_volume) and the unclaim list of the others. */
static int batch_lock(db_conn *db, struct batch *b)
{
	static const enum batch_param ps[] = { P_LOCK };
	struct db_array *vols = batch_param(b, P_LOCK);
	PGresult *r;

	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_GROUP)
			db_array_add(vols, batch_ext_of(&b->items[i]).volume_id);
	int rc = batch_exec(db, b, FIN_LOCK_VOLUMES, ps, 1, NULL, &r);
	if (rc != DB_OK)
		return rc;
	rc = batch_columns(b, r);
	if (rc != DB_OK) {
		PQclear(r);
		return rc;
	}
	for (int p = P_OUT; p < P_COUNT; p++)
		batch_param(b, (enum batch_param)p);
	fin_set_clear(&b->fin);
	b->grow.n = 0;
	for (int i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		if (it->state != B_GROUP)
			continue;
		struct batch_ext e = batch_ext_of(it);
		int row = batch_find_volume(b, r, e.volume_id);
		if (!batch_admit(b, it, r, row)) {
			batch_take_out(b, i);
		} else if (e.completion) {
			batch_finalize(b, i, r, row);
		} else {
			struct batch_grow *g = &b->grow;
			/* The store a migration left the volume on is named after _name_id. */
			g->ids[g->n] = batch_value(b, r, row, C_STORE);
			g->sizes[g->n] = e.new_size;
			g->item[g->n] = i;
			g->row[g->n++] = row;
		}
	}
	batch_grow(b, r);
	PQclear(r);
	return DB_OK;
}

/* The group's transaction (db_transaction body): claim, lock (and the driver), unclaim,
 * notify_start, then the one finalization. Runs again from the start on a retry (the
 * driver's growth is idempotent). */
static int batch_txn(db_conn *db, void *arg)
{
	static const enum batch_param out[] = { P_OUT };
	static const enum batch_param start[] = { P_START_IDS, P_START_STATUSES, P_START_SIZES,
						  P_START_REQUESTS };
	struct batch *b = arg;

	for (int i = 0; i < b->n; i++)
		if (b->items[i].state == B_DUPLICATE || b->items[i].state == B_OUT)
			b->items[i].state = B_GROUP;
	int rc = batch_claim(db, b);
	if (rc == DB_OK)
		rc = batch_lock(db, b);
	if (rc == DB_OK && b->p[P_OUT].n > 0)
		rc = batch_exec(db, b, FIN_UNCLAIM, out, 1, NULL, NULL);
	if (rc == DB_OK && b->p[P_START_IDS].n > 0)
		rc = batch_exec(db, b, FIN_NOTIFY_START, start, 4, b->fin.publisher, NULL);
	if (rc == DB_OK)
		rc = fin_set_run(db, &b->fin);
	return rc;
}

/* True if item i may join the group: a message of a groupable method that does not fail
 * the extend, whose volume and _unique_id no earlier member has. */
static bool batch_joins(const struct batch *b, int i)
{
	const struct batch_item *it = &b->items[i];

	/* Whether a method may be finalized as a group is a column of its row (methods.h). */
	if (!it->job.method->group_commit)
		return false;
	struct batch_ext e = batch_ext_of(it);
	if (e.error)
		return false;
	for (int j = 0; j < i; j++) {
		const struct batch_item *o = &b->items[j];
		if (o->state == B_GROUP &&
		    (strcmp(o->msg.unique_id, it->msg.unique_id) == 0 ||
		     strcmp(batch_ext_of(o).volume_id, e.volume_id) == 0))
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
		/* The group claims every member's _unique_id; a broadcast is never claimed
		 * (dispatch.c says why), so it goes alone. */
		it->state = !consumer_from_fanout(c, &it->d) && batch_joins(b, i) ? B_GROUP
										  : B_SINGLE;
		*ngroup += it->state == B_GROUP;
	}
	return result;
}

/* Runs the group's transaction; on failure its messages go one at a time. */
static void batch_commit(struct batch *b, db_conn *db)
{
	int counts[B_OUT + 1] = { 0 };
	int64_t start_us = util_now_us();

	int rc = db_transaction(db, batch_txn, b, BATCH_TXN_ATTEMPTS);
	int64_t took_us = util_now_us() - start_us;
	if (rc != DB_OK)
		log_warning("group commit failed (%s: %s); its messages go one at a time",
			    db_strerror(rc), db_last_error(db));
	for (int i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		if (rc != DB_OK && it->state >= B_GROUP)
			it->state = B_SINGLE;
		if (it->state == B_GROUP) {
			log_debug("%s: finalized with the group (volume %s, message %s)",
				  it->job.method->name, batch_ext_of(it).volume_id,
				  it->msg.unique_id);
			mmetrics_committed(it->job.method, took_us, it->msg.ctx.timestamp);
			mmetrics_message(it->job.method, MM_OK);
		} else if (it->state == B_DUPLICATE) {
			mmetrics_message(it->job.method, MM_DUPLICATE);
		}
		counts[it->state]++;
		if (it->state == B_OUT)
			it->state = B_SINGLE;
	}
	if (rc == DB_OK)
		mmetrics_group_commit(counts[B_GROUP]);
	if (rc == DB_OK)
		log_info("group commit: %d extends finalized, %d already processed, %d taken "
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
	/* A group costs the database, the broker and this process a fixed amount of CPU on top
	 * of its messages' (its transaction and commit, its ack, the relay's wake-up), which
	 * dominated when steady traffic made each batch close after batch_window_ms with a few
	 * messages: the groups came as fast as the window let them, whatever the load, and
	 * their fixed costs took the cores the messages needed. A batch that starts within
	 * batch_interval_ms of the previous one therefore stays open until that interval has
	 * passed (or it is full), which bounds the groups per second and lets a steady stream
	 * form larger groups; a message after a quiet spell still waits only batch_window_ms. */
	int64_t deadline = util_now_ms() + mconf.batch_window_ms;
	if (b->closed_at + mconf.batch_interval_ms > deadline)
		deadline = b->closed_at + mconf.batch_interval_ms;
	/* The broker sends no more than the prefetch window of one queue's consumer before an
	 * ack: a batch waiting for more than that would only wait out its deadline. */
	int limit = mconf.batch_size < cfg_common.rabbit_qos_prefetch_count ?
		    mconf.batch_size : cfg_common.rabbit_qos_prefetch_count;
	while (b->n < limit) {
		int64_t left = deadline - util_now_ms();
		rc = consumer_next(c, &b->items[b->n].d, left > 0 ? (int)left : 0);
		if (rc != MQ_OK)
			break;
		b->n++;
	}
	b->closed_at = util_now_ms();
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
