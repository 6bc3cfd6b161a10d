/*
 * txn.h - how a handler runs its database work: one transaction on the thread's connection,
 * with the outcome turned into a reply.
 *
 * A handler's argument struct starts with a struct txn_ctx (so the db_txn_fn receives it as
 * its void *arg). The body reports a client error by setting a fault on t->r and returning
 * TXN_FAULT, which rolls everything back.
 *
 * A body that publishes an RPC cast builds it last, after every check and write
 * (cast_volume), and returns DB_OPEN: the transaction stays open while the broker is asked to
 * confirm the message and commits only after the confirm, so that a client is never answered
 * 202 for a change whose cast was lost. If the commit fails after the confirm, the request is
 * answered 503, and the manager, finding the volume not in the state the cast expects, does
 * nothing. Such a transaction, which holds its locks while the broker confirms, runs on a
 * thread of the casts' offload pool (offload.h) with the request suspended: the requests that
 * wait for its locks wait there too, and no server thread waits for the broker.
 */
#ifndef VOLMGR_SHIM_TXN_H
#define VOLMGR_SHIM_TXN_H

#include <stdbool.h>
#include "common/db.h"
#include "core/status.h"
#include "api-shim/request.h"

/* The positive body result TXN_FAULT (rolled back) is declared in core/status.h. */

struct txn_ctx;
struct cast_msg;

/* The step after a commit, on a server thread. */
typedef void (*txn_next_fn)(struct txn_ctx *t);

#define TXN_ERR_MAX 512

struct txn_ctx {
	struct shim_request *r;
	/* For txn_run_publishing: */
	struct cast_msg *cast;        /* the cast the body built (cast_volume) */
	db_txn_fn fn;
	txn_next_fn next;
	bool committed;
};

/*
 * Runs fn(db, t) in a transaction on this thread's connection (at most SHIM_TXN_ATTEMPTS
 * attempts on serialization failures). A connection lost is reconnected and the transaction
 * run once more. fn must not publish. Returns 0 after a commit; otherwise a reply is set on
 * t->r (the body's fault, or 503 / 500 for database trouble) and returns -1.
 */
__attribute__((warn_unused_result))
int txn_run(struct txn_ctx *t, db_txn_fn fn);

/*
 * Runs fn as txn_run does, for a body that may publish a cast (cast_volume), on a thread of
 * the casts' pool with the request suspended. When the body published, the transaction
 * commits once the broker confirmed the cast, and rolls back, with a 503, when it did not or
 * the time was up. next(t) runs after the commit, on a server thread. On a failure a fault is
 * set on t->r and next does not run. t must live until the request ends (in the request's
 * state).
 */
void txn_run_publishing(struct txn_ctx *t, db_txn_fn fn, txn_next_fn next);

/* Maps a core/db status met inside a body to the body's return value: a negative db status
 * is returned as is, VOL_NOT_FOUND becomes a 404 for volume_id, anything else a 500. */
int txn_fail(struct txn_ctx *t, int status, const char *volume_id);

/* Sets a 500 fault (an allocation failure or an impossible state) and returns TXN_FAULT. */
int txn_internal(struct txn_ctx *t);

#endif
