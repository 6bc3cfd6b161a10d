/*
 * publish.h - the shim's publisher: one AMQP connection with publisher confirms, shared by
 * every server thread behind a mutex, opened lazily and reopened after a failure.
 *
 * A publish is mandatory (an unroutable message is a failure, not a silent drop) and waits
 * for the broker's confirm for at most [api] publish_timeout seconds; waiting for the mutex
 * counts against the same deadline, so a request never waits longer than that in all (plus
 * one reconnect). A connection found dead is reopened and the publish tried once more with
 * the same body: if the first copy did reach the broker, the manager recognises the second by
 * its _unique_id.
 *
 * Confirms are pipelined: the mutex is held only to write a message and to read the confirms
 * that have arrived, so concurrent requests wait for their confirms together (the broker
 * settles many with one basic.ack(multiple)) instead of one after another. A returned
 * message is matched to its publisher by props->message_id, which every caller sets.
 *
 * On open the publisher declares the topic exchange (durable per amqp_durable_queues, as the
 * manager declares it), so that a missing consumer shows as "unroutable" instead of a channel
 * error.
 */
#ifndef VOLMGR_SHIM_PUBLISH_H
#define VOLMGR_SHIM_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include "common/mq.h"

struct publish_options {
	const char *url;
	const char *exchange;
	bool durable_exchange;
	int heartbeat;        /* seconds */
	int timeout_ms;       /* confirm (and mutex) deadline */
};

/* Copies the options. No connection is opened yet. Returns 0 or -1. */
__attribute__((warn_unused_result))
int publish_init(const struct publish_options *opt);

/*
 * Publishes body to the exchange with routing_key and waits for the confirm. Returns 0 when
 * the broker confirmed the message, or -1 with a short readable reason in err ("message not
 * routed: no queue is bound for routing key ...", "no confirm within 5 s", ...).
 */
__attribute__((warn_unused_result))
int publish_message(const char *routing_key, const void *body, size_t len,
		    const struct mq_props *props, char *err, size_t errlen);

/* Closes the connection. Only after the server threads have stopped. */
void publish_shutdown(void);

#endif
