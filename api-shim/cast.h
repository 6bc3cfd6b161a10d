/*
 * cast.h - building and publishing a volume RPC cast from inside a handler's transaction (or
 * after it committed), and RPC calls with their replies from outside any transaction.
 *
 * The message is oslo's inner message (proto/msg.h) encoded as msgpack: method and version
 * from the method's row (proto/methods.h), the request context, and args built by the
 * method's schema (proto_args_build) from the typed arguments the caller fills: the Volume
 * primitive (and volume_id) from the row as it stands in the transaction (read after the
 * handler's updates), the others from args. It is published to control_exchange with the
 * routing key of the volume's backend (proto_routing_key_for_volume_host), content type
 * application/msgpack, message_id = _unique_id, persistent, mandatory.
 */
#ifndef VOLMGR_SHIM_CAST_H
#define VOLMGR_SHIM_CAST_H

#include <stdbool.h>
#include <jansson.h>
#include "common/db.h"
#include "core/volume.h"
#include "proto/schema.h"
#include "api-shim/txn.h"

/*
 * Inside t's transaction: reads volume_id, builds the cast of method with args and publishes
 * it. Returns DB_OK once the broker confirmed (t->published is then set), TXN_FAULT with a 503
 * fault set when the message could not be built, routed or confirmed, or a negative db
 * status.
 */
__attribute__((warn_unused_result))
int cast_volume(struct txn_ctx *t, db_conn *db, enum proto_method_id method,
		const char *volume_id, const union proto_args *args);

/*
 * Outside any transaction: builds the cast of method with args for row (as its caller's
 * committed transaction loaded it) and publishes it. Returns 0 once the broker confirmed, or
 * -1 with a fault set on r (503 when the message could not be built, routed or confirmed).
 */
__attribute__((warn_unused_result))
int cast_volume_row(struct shim_request *r, enum proto_method_id method,
		    const struct vol_row *row, const union proto_args *args);

/* A call's reply. */
struct call_reply {
	json_t *result;   /* the result as JSON (null when none); the caller json_decref()s */
	bool failed;      /* the manager raised: class and message below */
	char failure_class[PROTO_FAILURE_CLASS_MAX];
	char failure_message[PROTO_FAILURE_MESSAGE_MAX];
};

/* A call on its way: what call_volume_finish needs once the wait ended. */
struct call_pending {
	int slot;                     /* the reply's slot (replies.h); -1 when none */
	enum proto_method_id method;
	char msg_id[33];
	char volume_id[37];
	int timeout_s;
};

/*
 * Sends method for the volume row (as loaded by the caller's committed transaction) as an RPC
 * call, and watches its reply for at most [api] rpc_response_timeout seconds: notify(arg) is
 * called once when the reply arrives or the time is up (replies_watch), and the caller, woken,
 * takes the outcome with call_volume_finish. It must run outside any transaction: no row lock
 * is held while the manager works, and no thread waits for the reply.
 *
 * The message carries _msg_id, _reply_q and _timeout, and the AMQP expiration of the same
 * timeout, so that a call that waited in the queue until its caller gave up expires there (the
 * broker dead-letters it) instead of running later. A call that the manager had already
 * started when the caller gave up still completes, and its reply is dropped.
 *
 * Returns 0 (p filled; notify may already have been called), or -1 with a 503 fault set on r
 * when the call could not be sent (p->slot is then -1).
 */
__attribute__((warn_unused_result))
int call_volume_start(struct shim_request *r, const struct vol_row *row,
		      enum proto_method_id method, const union proto_args *args,
		      struct call_pending *p, void (*notify)(void *arg), void *arg);

/*
 * The outcome of p once its wait ended; frees its slot. Returns 0 when a reply arrived (out
 * filled; it may be a failure), or -1 with a fault set on r: 504 when no reply came in time,
 * 500 for a reply that cannot be read.
 */
__attribute__((warn_unused_result))
int call_volume_finish(struct shim_request *r, struct call_pending *p, struct call_reply *out);

/* Gives p's slot up (its request ended before the reply). */
void call_volume_cancel(struct call_pending *p);

#endif
