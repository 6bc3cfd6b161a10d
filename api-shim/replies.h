/*
 * replies.h - the shim's side of oslo's RPC calls: one reply queue per process and the table
 * of calls waiting for their reply.
 *
 * As oslo.messaging's caller does, the shim declares one queue "reply_<32 hex>" for its whole
 * life and names it in every call (_reply_q); the manager publishes each reply to the default
 * exchange with that queue as routing key and the call's _msg_id inside. The queue is
 * exclusive, so the broker deletes it with the connection: a shim that died leaves nothing
 * behind.
 *
 * A listener thread owns the consuming connection (a connection either consumes or publishes,
 * common/mq.h), reconnects with backoff, and hands each reply to the server thread whose call
 * has that _msg_id; a reply nobody waits for any more (the call timed out) or that names an
 * unknown _msg_id is logged and dropped. The table of waiting calls is bounded by the number
 * of server threads, since a thread waits for one call at a time.
 *
 * Thread-safe after replies_start.
 */
#ifndef VOLMGR_SHIM_REPLIES_H
#define VOLMGR_SHIM_REPLIES_H

#include <stddef.h>
#include <stdint.h>

#define REPLIES_QUEUE_MAX 48   /* "reply_" + 32 hex + NUL fits */

enum replies_status {
	REPLIES_OK = 0,
	REPLIES_TIMEOUT = -1,   /* the deadline passed first */
	REPLIES_LOST = -2,      /* the reply connection broke while waiting: the reply is gone */
	REPLIES_NOT_READY = -3, /* no reply queue yet (broker unreachable) or the table is full */
};

struct replies_options {
	const char *url;
	int heartbeat;     /* seconds; the listener services them inside mq_next */
	int max_pending;   /* bound of the table (one per server thread) */
};

/* Chooses the queue name and starts the listener thread. Returns 0 or -1. */
__attribute__((warn_unused_result))
int replies_start(const struct replies_options *opt);

/* The reply queue's name (valid after replies_start). */
const char *replies_queue(void);

/*
 * Registers a call with msg_id before it is published, so that a reply that overtakes the
 * publisher's confirm is not lost. Returns a slot number >= 0, or REPLIES_NOT_READY.
 */
__attribute__((warn_unused_result))
int replies_register(const char *msg_id);

/*
 * Waits until the reply of slot arrives or deadline_ms (util_now_ms clock) passes, then frees
 * the slot whatever happened. On REPLIES_OK *body (malloc'd, caller frees) and *len hold the
 * reply as received.
 */
__attribute__((warn_unused_result))
int replies_wait(int slot, int64_t deadline_ms, char **body, size_t *len);

/* Frees slot without waiting (the publish failed). */
void replies_cancel(int slot);

/* Stops the listener and closes its connection. Only after the server threads stopped. */
void replies_stop(void);

#endif
