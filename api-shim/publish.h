/*
 * publish.h - the shim's publisher: one AMQP connection with publisher confirms, owned by a
 * thread of its own, to which requests hand their messages.
 *
 * No server thread waits for the broker: publish_submit queues a copy of the message and
 * returns at once, and the request that submitted it is suspended meanwhile. The publisher
 * thread opens the connection when there is something to send (and again after a failure, at
 * most once a second), writes the message, reads the confirms, and calls the submitter's done
 * function once the broker confirmed or refused the message, or its deadline passed: done
 * wakes the request.
 *
 * A publish is mandatory (an unroutable message is a failure, not a silent drop). A message
 * written on a connection that was then lost before its confirm arrived is written once more,
 * with the same body, on a new connection: if the first copy did reach the broker, the manager
 * recognises the second by its _unique_id. The broker settles many messages with one
 * basic.ack(multiple). A returned message is matched to its job by props->message_id, which
 * every caller sets.
 *
 * On open the publisher declares the topic exchange (durable per amqp_durable_queues, as the
 * manager declares it), so that a missing consumer shows as "unroutable" instead of a channel
 * error.
 */
#ifndef VOLMGR_SHIM_PUBLISH_H
#define VOLMGR_SHIM_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/mq.h"

struct publish_options {
	const char *url;
	const char *exchange;
	bool durable_exchange;
	int heartbeat;        /* seconds */
	int connect_timeout_ms;
	int max_pending;      /* messages queued or waiting for their confirm, at most */
};

/*
 * How a submitted message ended: err is NULL when the broker confirmed it, else a short
 * readable reason ("message not routed: no queue is bound ...", "no confirm from the message
 * broker in time", ...), valid during the call. Called once, on the publisher thread, which
 * must not be kept waiting: record the outcome and wake the request.
 */
typedef void (*publish_done_fn)(void *arg, const char *err);

/* Copies the options and starts the publisher thread (no connection is opened yet). Returns
 * 0, or -1 after logging. */
__attribute__((warn_unused_result))
int publish_start(const struct publish_options *opt);

/*
 * Hands a copy of the message (body, routing key and props' strings; props' headers are not
 * carried, since the shim sends none) to the publisher, to be published to the exchange before
 * deadline_ms (util_now_ms's clock). Returns 0, after which
 * done(arg, ...) is called exactly once (it may run before this returns), or -1 with the
 * reason in err and done never called: the publisher is stopped, or max_pending messages are
 * waiting already.
 */
__attribute__((warn_unused_result))
int publish_submit(const char *routing_key, const void *body, size_t len,
		   const struct mq_props *props, int64_t deadline_ms, publish_done_fn done,
		   void *arg, char *err, size_t errlen);

/* False when the publisher's last attempt to connect to the broker failed. */
bool publish_broker_ok(void);

/* Ends every message still waiting (done with "the API service is stopping"), stops the
 * thread and closes the connection. publish_submit refuses from then on. */
void publish_stop(void);

#endif
