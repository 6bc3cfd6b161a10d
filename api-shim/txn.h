/*
 * txn.h - how a handler runs its database work: one transaction on the thread's connection,
 * with the outcome turned into a reply.
 *
 * A handler's argument struct starts with a struct txn_ctx (so the db_txn_fn receives it as
 * its void *arg). The body reports a client error by setting a fault on t->r and returning
 * TXN_FAULT, which rolls everything back. A body that publishes an RPC cast does it last,
 * after every check and write, and waits for the broker's confirm before returning DB_OK, so
 * the commit follows a confirmed publish (see cast.h).
 *
 * If the commit of a transaction that already published fails with a retryable error,
 * db_transaction would run the body again and publish a second cast with a new _unique_id;
 * the body refuses that (txn_attempt returns TXN_REPUBLISH) and the request is answered 503:
 * the manager finds the volume not in the state the published cast expects and does nothing.
 */
#ifndef VOLMGR_SHIM_TXN_H
#define VOLMGR_SHIM_TXN_H

#include <stdbool.h>
#include "common/db.h"
#include "core/status.h"
#include "api-shim/request.h"

/* The positive body results TXN_FAULT and TXN_REPUBLISH (rolled back) are declared in
 * core/status.h. */

struct txn_ctx {
	struct shim_request *r;
	bool published;       /* set once a cast of this request was confirmed */
};

/*
 * Called first by every transaction body. Returns DB_OK, or TXN_REPUBLISH when an earlier
 * attempt of this transaction already published (the body must return it at once).
 */
__attribute__((warn_unused_result))
int txn_attempt(struct txn_ctx *t);

/*
 * Runs fn(db, t) in a transaction on this thread's connection (at most SHIM_TXN_ATTEMPTS
 * attempts on serialization failures). A connection lost before anything was published is
 * reconnected and the transaction run once more. Returns 0 after a commit; otherwise a reply
 * is set on t->r (the body's fault, or 503 / 500 for database trouble) and returns -1.
 */
__attribute__((warn_unused_result))
int txn_run(struct txn_ctx *t, db_txn_fn fn);

/* Maps a core/db status met inside a body to the body's return value: a negative db status
 * is returned as is, VOL_NOT_FOUND becomes a 404 for volume_id, anything else a 500. */
int txn_fail(struct txn_ctx *t, int status, const char *volume_id);

/* Sets a 500 fault (an allocation failure or an impossible state) and returns TXN_FAULT. */
int txn_internal(struct txn_ctx *t);

#endif
