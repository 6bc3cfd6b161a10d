/*
 * consumer.h - the manager's two AMQP connections: one consumes the three service queues
 * with manual acks, the other publishes dead letters with publisher confirms (a connection
 * either consumes or publishes, see common/mq.h).
 *
 * consumer_connect declares the whole topology every time, so that a broker that lost it
 * (restart without durable queues, a fresh node) is usable again after a reconnect. A
 * service queue deleted while the manager runs cancels its consumer (common/mq.c asks for
 * consumer-cancel notifications), which ends the connection, so the reconnect declares it
 * again; a deleted dead-letter queue is declared again when a dead letter comes back
 * unroutable. After MQ_CONN_LOST from any call here the caller consumer_close()s and
 * connects again later; deliveries of the old connection are then dead (the broker requeues
 * them).
 */
#ifndef VOLMGR_MANAGER_CONSUMER_H
#define VOLMGR_MANAGER_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mq.h"
#include "proto/journal.h"
#include "proto/topology.h"

/* The three service queues, then the server's queue on each of the two fanout exchanges. */
#define CONSUMER_NQUEUES 5
#define CONSUMER_NFANOUT 2

struct consumer {
	mq_conn *in;   /* consuming; NULL while disconnected */
	mq_conn *out;  /* confirms; opened with in, reopened on demand */
	char queues[CONSUMER_NQUEUES][PROTO_NAME_MAX];
	/* The fanout exchanges of the topics of queues[0] and queues[1], whose queues are
	 * queues[3] and queues[4]. */
	char fanouts[CONSUMER_NFANOUT][PROTO_NAME_MAX];
	char journal[PROTO_NAME_MAX];  /* the journal stream, or "" when none is kept */
	struct proto_journal_batch jbatch; /* copies not yet relayed to it */
};

/* Fills c->queues and c->fanouts from the configuration; the fanout queues get a name unique
 * to this process, as oslo's servers do. Returns 0, or -1 when the names do not fit. */
__attribute__((warn_unused_result))
int consumer_init(struct consumer *c);

/* Opens both connections, declares the topology (docs/contracts.md, "Topology"; exactly
 * oslo.messaging's with [DEFAULT] oslo_compatible_topology) and starts consuming. Returns MQ_OK, or a negative mq status with the reason in err (both
 * connections are then closed). */
__attribute__((warn_unused_result))
int consumer_connect(struct consumer *c, char *err, size_t errlen);

/* Closes both connections (unacked deliveries return to their queues). Idempotent. */
void consumer_close(struct consumer *c);

/* Waits up to timeout_ms for a delivery: MQ_OK, MQ_TIMEOUT or MQ_CONN_LOST. Deliveries are
 * relayed to the journal (without the caller's token) in batches, one published when it is
 * full or when no delivery is waiting. */
__attribute__((warn_unused_result))
int consumer_next(struct consumer *c, struct mq_delivery *d, int timeout_ms);

/* Whether d came through one of c's fanout exchanges (a broadcast to every server of a
 * topic) rather than through the topic exchange (one server's message). */
bool consumer_from_fanout(const struct consumer *c, const struct mq_delivery *d);

__attribute__((warn_unused_result))
int consumer_ack(struct consumer *c, const struct mq_delivery *d);

/* Acknowledges every unacknowledged delivery up to and including tag (basic.ack multiple). */
__attribute__((warn_unused_result))
int consumer_ack_upto(struct consumer *c, uint64_t tag);

/*
 * Dead-letters d: publishes its body unchanged to volmgr.dlx with its routing key and
 * content type, persistent, with the headers x-volmgr-reason (reason), x-volmgr-original-
 * exchange and x-volmgr-original-routing-key; waits for the confirm, then acks d. When the
 * publish fails, rejects d without requeue instead, so that the queue's own dead-letter
 * exchange keeps the message. Returns the status of the ack / reject (MQ_CONN_LOST means
 * the consumer connection is gone and d will come back).
 */
__attribute__((warn_unused_result))
int consumer_dead_letter(struct consumer *c, const struct mq_delivery *d, const char *reason);

/*
 * Publishes a call's reply body (of content_type) to the default exchange with reply_q as routing key
 * (oslo's direct reply), persistent off, mandatory, and waits for the confirm. Returns
 * MQ_OK, MQ_UNROUTABLE (the caller's queue is gone) or another mq status.
 */
__attribute__((warn_unused_result))
int consumer_reply(struct consumer *c, const char *reply_q, const char *content_type,
		   const void *body, size_t len);

#endif
