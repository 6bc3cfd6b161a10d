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
#include "api-shim/publish.h"
#include "api-shim/txn.h"

/* A message built and not yet handed to the publisher (cast.c). */
struct cast_msg;

/*
 * Inside t's transaction, as the last step of a body run by txn_run_publishing: reads
 * volume_id and builds the cast of method with args into t->cast, to be published before the
 * commit. Returns DB_OPEN (for the body to return), TXN_FAULT with a 503 fault set when the
 * message could not be built, or a negative db status.
 */
__attribute__((warn_unused_result))
int cast_volume(struct txn_ctx *t, db_conn *db, enum proto_method_id method,
		const char *volume_id, const union proto_args *args);

/* Hands m to the publisher (publish_submit; m may be freed at once). Returns 0 (done will
 * be called), or -1 with the reason in err. */
__attribute__((warn_unused_result))
int cast_submit(const struct cast_msg *m, int64_t deadline_ms, publish_done_fn done, void *arg,
		char *err, size_t errlen);

/* Frees m (NULL is fine). */
void cast_msg_free(struct cast_msg *m);

/* A cast published from a suspended request, and how it went. */
struct cast_send {
	struct shim_request *r;
	bool failed;                  /* not confirmed: err says why */
	char err[TXN_ERR_MAX];
};

/*
 * Outside any transaction: builds the cast of method with args for row (as its caller's
 * committed transaction loaded it) and publishes it with r suspended. Once the broker
 * confirmed it or not (or the time is up, or the publisher would not take it), r wakes and
 * resume(r) runs, s saying which; s must live until then. Returns 0, or -1 with a 503 fault
 * set on r (the message could not be built) and r not suspended.
 */
__attribute__((warn_unused_result))
int cast_volume_row(struct shim_request *r, struct cast_send *s, enum proto_method_id method,
		    const struct vol_row *row, const union proto_args *args,
		    req_resume_fn resume);

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
	int64_t deadline_ms;          /* when the wait for the reply ends */
	void (*notify)(void *arg);
	void *notify_arg;
	bool send_failed;             /* the broker did not confirm the call: send_err says why */
	char send_err[TXN_ERR_MAX];
};

/*
 * Sends method for the volume row (as loaded by the caller's committed transaction) as an RPC
 * call, and watches its reply for at most [api] rpc_response_timeout seconds (less when the
 * request's own time ends sooner): notify(arg) is called once when the broker did not confirm
 * the call, or its reply arrived, or the time is up (replies_watch), and the caller, woken,
 * takes the outcome with call_volume_finish. It must run outside any transaction: no row lock
 * is held while the manager works, and no thread waits for the confirm or the reply.
 *
 * The message carries _msg_id, _reply_q and _timeout, and the AMQP expiration of the same
 * timeout, so that a call that waited in the queue until its caller gave up expires there (the
 * broker dead-letters it) instead of running later. A call that the manager had already
 * started when the caller gave up still completes, and its reply is dropped.
 *
 * Returns 0 (p filled; notify may already have been called), or -1 with a 503 fault set on r
 * when the call could not be built (p->slot is then -1).
 */
__attribute__((warn_unused_result))
int call_volume_start(struct shim_request *r, const struct vol_row *row,
		      enum proto_method_id method, const union proto_args *args,
		      struct call_pending *p, void (*notify)(void *arg), void *arg);

/*
 * The outcome of p once its wait ended; frees its slot. Returns 0 when a reply arrived (out
 * filled; it may be a failure), or -1 with a fault set on r: 503 when the broker did not
 * confirm the call, 504 when no reply came in time, 500 for a reply that cannot be read.
 */
__attribute__((warn_unused_result))
int call_volume_finish(struct shim_request *r, struct call_pending *p, struct call_reply *out);

/* Gives p's slot up (its request ended before the reply). */
void call_volume_cancel(struct call_pending *p);

#endif
