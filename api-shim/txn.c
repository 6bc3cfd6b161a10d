/*
 * txn.c - a handler's transaction and the reply for its outcome (see txn.h).
 */
#include "api-shim/txn.h"

#include <string.h>

#include "common/log.h"
#include "core/volume.h"
#include "api-shim/dbpool.h"
#include "api-shim/fault.h"
#include "api-shim/shim.h"

int txn_attempt(struct txn_ctx *t)
{
	return t->published ? TXN_REPUBLISH : DB_OK;
}

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

int txn_run(struct txn_ctx *t, db_txn_fn fn)
{
	db_conn *db = dbpool_get();
	int rc;

	if (db == NULL) {
		fault_unavailable(t->r, "the database cannot be reached");
		return -1;
	}
	rc = db_transaction(db, fn, t, SHIM_TXN_ATTEMPTS);
	if (rc == DB_RECONNECT && !t->published) {
		log_warning("database connection lost; reconnecting and retrying once");
		db = dbpool_get();
		if (db != NULL)
			rc = db_transaction(db, fn, t, SHIM_TXN_ATTEMPTS);
	}
	switch (rc) {
	case DB_OK:
		return 0;
	case TXN_FAULT:
		return -1;
	case TXN_REPUBLISH:
		log_error("commit failed after a confirmed publish; answering 503");
		fault_unavailable(t->r, "the database could not commit the change");
		return -1;
	case DB_RECONNECT:
		fault_unavailable(t->r, t->published ? "the database connection was lost while "
				  "committing" : "the database connection was lost");
		return -1;
	case DB_RETRY:
		fault_unavailable(t->r, "the database is busy, try again");
		return -1;
	default:
		/* A statement that hit statement_timeout (57014), e.g. waiting for a row lock. */
		if (db != NULL && strcmp(db_last_sqlstate(db), "57014") == 0) {
			fault_unavailable(t->r, "the database did not answer in time");
			return -1;
		}
		log_error("transaction failed: %s (%s)", db_strerror(rc),
			  db != NULL ? db_last_error(db) : "");
		fault_reply(t->r, 500, "%s", FAULT_MSG_INTERNAL);
		return -1;
	}
}
