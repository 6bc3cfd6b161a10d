/*
 * txn.c - a handler's transaction and the reply for its outcome (see txn.h).
 */
#include "api-shim/txn.h"

#include <pthread.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/volume.h"
#include "api-shim/cast.h"
#include "api-shim/dbpool.h"
#include "api-shim/fault.h"
#include "api-shim/offload.h"
#include "api-shim/shim.h"

int txn_fail(struct txn_ctx *t, int status, const char *volume_id)
{
	if (status < 0)
		return status;
	if (status == VOL_NOT_FOUND && volume_id != NULL) {
		fault_volume_not_found(t->r, volume_id);
		return TXN_FAULT;
	}
	log_error("unexpected result %d inside a transaction", status);
	return txn_internal(t);
}

int txn_internal(struct txn_ctx *t)
{
	fault_reply(t->r, 500, "%s", FAULT_MSG_INTERNAL);
	return TXN_FAULT;
}

/* Runs fn in a transaction, once more on a new connection when the connection was lost. *dbp
 * is the connection of the last attempt (NULL when none could be had). Returns as
 * db_transaction. */
static int txn_exec(struct txn_ctx *t, db_txn_fn fn, db_conn **dbp)
{
	db_conn *db = dbpool_get();
	int rc;

	*dbp = db;
	if (db == NULL)
		return DB_RECONNECT;
	rc = db_transaction(db, fn, t, SHIM_TXN_ATTEMPTS);
	if (rc == DB_RECONNECT) {
		log_warning("database connection lost; reconnecting and retrying once");
		db = *dbp = dbpool_get();
		if (db != NULL)
			rc = db_transaction(db, fn, t, SHIM_TXN_ATTEMPTS);
	}
	return rc;
}

/* The reply for a transaction that did not commit (rc != DB_OK) on db (may be NULL). */
static void txn_failed(struct txn_ctx *t, db_conn *db, int rc)
{
	switch (rc) {
	case TXN_FAULT:
		return;
	case DB_RECONNECT:
		fault_unavailable(t->r, db == NULL ? "the database cannot be reached" :
				  "the database connection was lost");
		return;
	case DB_RETRY:
		fault_unavailable(t->r, "the database is busy, try again");
		return;
	default:
		/* A statement that hit statement_timeout (57014), e.g. waiting for a row lock. */
		if (db != NULL && strcmp(db_last_sqlstate(db), "57014") == 0) {
			fault_unavailable(t->r, "the database did not answer in time");
			return;
		}
		log_error("transaction failed: %s (%s)", db_strerror(rc),
			  db != NULL ? db_last_error(db) : "");
		fault_reply(t->r, 500, "%s", FAULT_MSG_INTERNAL);
	}
}

int txn_run(struct txn_ctx *t, db_txn_fn fn)
{
	db_conn *db;
	int rc = txn_exec(t, fn, &db);

	if (rc == DB_OPEN) {
		/* A body that publishes belongs to txn_run_publishing. */
		log_error("a transaction body published outside txn_run_publishing");
		db_rollback(db);
		cast_msg_free(t->cast);
		t->cast = NULL;
		rc = DB_REJECT;
	}
	if (rc == DB_OK)
		return 0;
	txn_failed(t, db, rc);
	return -1;
}

/* A cast's wait for the broker, on the casts' thread that runs its transaction. */
struct txn_confirm {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	bool failed;
	char err[TXN_ERR_MAX];
};

/* The publisher's verdict on the cast (on the publisher thread). */
static void txn_confirmed(void *arg, const char *err)
{
	struct txn_confirm *c = arg;

	pthread_mutex_lock(&c->lock);
	c->done = true;
	c->failed = err != NULL;
	if (err != NULL)
		util_strlcpy(c->err, err, sizeof(c->err));
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Publishes the cast the body built and waits for the broker's verdict, then commits the
 * transaction the body left open, or rolls it back. The publisher ends the wait publish_timeout
 * after the request's head, not after the transaction began: requests that queued behind a
 * transaction waiting for an unresponsive broker (for its locks, or for a thread) are answered
 * when their own time is up, not one timeout after another. Returns DB_OK after the commit,
 * TXN_FAULT with a 503 set, or a negative db status of the commit.
 */
static int txn_publish(struct txn_ctx *t, db_conn *db)
{
	struct txn_confirm c = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	int secs = api_cfg.publish_timeout < api_cfg.request_timeout ? api_cfg.publish_timeout :
		   api_cfg.request_timeout;
	int64_t deadline = t->r->start_ms + (int64_t)secs * 1000;
	int rc = cast_submit(t->cast, deadline, txn_confirmed, &c, c.err, sizeof(c.err));

	cast_msg_free(t->cast);
	t->cast = NULL;
	if (rc != 0) {
		c.failed = true;
	} else {
		pthread_mutex_lock(&c.lock);
		while (!c.done)
			pthread_cond_wait(&c.cond, &c.lock);
		pthread_mutex_unlock(&c.lock);
	}
	if (c.failed) {
		db_rollback(db);
		fault_unavailable(t->r, c.err);
		return TXN_FAULT;
	}
	rc = db_commit(db);
	if (rc != DB_OK)
		log_error("commit failed after a confirmed publish: %s (%s)", db_strerror(rc),
			  db_last_error(db));
	return rc;
}

/* On a thread of the casts' pool: the transaction, with its publish. */
static void txn_cast_work(void *arg, bool cancelled)
{
	struct txn_ctx *t = arg;
	db_conn *db;
	int rc;

	if (cancelled) {
		fault_unavailable(t->r, "the API service is stopping");
		return;
	}
	rc = txn_exec(t, t->fn, &db);
	if (rc == DB_OPEN) {
		rc = txn_publish(t, db);
		if (rc < 0) {
			fault_unavailable(t->r, "the database could not commit the change");
			return;
		}
	}
	if (rc == DB_OK)
		t->committed = true;
	else
		txn_failed(t, db, rc);
}

/* On a server thread, once the transaction ended. */
static void txn_cast_resumed(struct shim_request *r)
{
	struct txn_ctx *t = r->txn;

	r->txn = NULL;
	if (t->committed)
		t->next(t);
}

void txn_run_publishing(struct txn_ctx *t, db_txn_fn fn, txn_next_fn next)
{
	t->fn = fn;
	t->next = next;
	t->committed = false;
	t->r->txn = t;
	if (offload_run(OFFLOAD_CASTS, t->r, txn_cast_work, t, txn_cast_resumed) != 0) {
		t->r->txn = NULL;
		fault_unavailable(t->r, "too many requests are waiting to publish a cast");
	}
}
