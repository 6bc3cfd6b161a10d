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
 * common/mq.h), reconnects with backoff, and hands each reply to the call that has its _msg_id;
 * a reply nobody waits for any more (the call timed out) or that names an unknown _msg_id is
 * logged and dropped. No thread waits for a reply: a call is watched, and its owner notified
 * when the reply arrives, the deadline passes or the reply connection breaks (the listener
 * looks at the deadlines every REPLIES_TICK_MS). The table of calls is bounded by
 * max_pending, the server's connection limit.
 *
 * Thread-safe after replies_start.
 */
#ifndef VOLMGR_SHIM_REPLIES_H
#define VOLMGR_SHIM_REPLIES_H

#include <stdbool.h>
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
	int max_pending;   /* bound of the table (one per connection the server accepts) */
};

/* How a watched call's owner learns that its wait ended: called once, from the listener's
 * thread (or the watcher's own, when the wait had already ended), with no lock held. */
typedef void (*replies_notify_fn)(void *arg);

/* Chooses the queue name and starts the listener thread. Returns 0 or -1. */
__attribute__((warn_unused_result))
int replies_start(const struct replies_options *opt);

/* True while the reply queue exists and is consumed (the broker connection is up). */
bool replies_ready(void);

/* The reply queue's name (valid after replies_start). */
const char *replies_queue(void);

/*
 * Registers a call with msg_id before it is published, so that a reply that overtakes the
 * publisher's confirm is not lost. Returns a slot number >= 0, or REPLIES_NOT_READY.
 */
__attribute__((warn_unused_result))
int replies_register(const char *msg_id);

/*
 * Watches slot: notify(arg) is called once, when its reply arrives, deadline_ms (util_now_ms
 * clock) passes or the reply connection breaks, whichever comes first (at once when that
 * already happened). The caller then takes the outcome with replies_take.
 */
void replies_watch(int slot, int64_t deadline_ms, replies_notify_fn notify, void *arg);

/*
 * The outcome of slot, whose wait ended (or not: then REPLIES_TIMEOUT), and frees the slot. On
 * REPLIES_OK *body (malloc'd, caller frees) and *len hold the reply as received.
 */
__attribute__((warn_unused_result))
int replies_take(int slot, char **body, size_t *len);

/* Frees slot without waiting (the publish failed, or its request went away). */
void replies_cancel(int slot);

/* Stops the listener and closes its connection; every call still waiting is notified
 * (REPLIES_LOST). The table stays for the notified requests to take their outcome. */
void replies_stop(void);

/* Frees the table. Only after the server stopped. */
void replies_free(void);

#endif
