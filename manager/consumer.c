/*
 * consumer.c - AMQP topology, consumption and dead-lettering for the volume manager.
 */
#include "manager/consumer.h"

#include <stdio.h>

#include "common/cfg.h"
#include "common/log.h"
#include "proto/codec.h"

#define CONSUMER_PUBLISH_TIMEOUT_MS 5000

static int consumer_open(mq_conn **out, bool confirms, char *err, size_t errlen)
{
	/* The dead-letter connection idles for long stretches and services no heartbeats
	 * while it idles, so it asks for none; every publish on it is bounded by a timeout. */
	struct mq_options opt = {
		.url = cfg_common.transport_url,
		.heartbeat = confirms ? 0 : cfg_common.heartbeat_timeout_threshold,
		.confirms = confirms,
		.connect_timeout_ms = 5000,
	};
	*out = mq_open(&opt, err, errlen);
	return *out != NULL ? MQ_OK : MQ_CONN_LOST;
}

int consumer_init(struct consumer *c)
{
	c->in = NULL;
	c->out = NULL;
	return proto_service_queues(cfg_common.host, cfg_common.backend, c->queues);
}

/* One step of the topology: what it is, for the error message, and its status. */
static int topo_step(int rc, const char *what, const char *name, char *err, size_t errlen)
{
	if (rc != MQ_OK)
		snprintf(err, errlen, "cannot %s %s: %s", what, name, mq_strerror(rc));
	return rc;
}

static int consumer_declare(struct consumer *c, char *err, size_t errlen)
{
	const char *ex = cfg_common.control_exchange;
	struct mq_queue_options service_q = {
		.durable = cfg_common.amqp_durable_queues || cfg_common.rabbit_quorum_queue,
		.quorum = cfg_common.rabbit_quorum_queue,
		.dead_letter_exchange = PROTO_DLX,
	};
	struct mq_queue_options dead_q = { .durable = true };
	int rc;

	rc = topo_step(mq_declare_exchange(c->in, ex, "topic", cfg_common.amqp_durable_queues),
		       "declare exchange", ex, err, errlen);
	if (rc == MQ_OK)
		rc = topo_step(mq_declare_exchange(c->in, PROTO_DLX, "topic", true),
			       "declare exchange", PROTO_DLX, err, errlen);
	if (rc == MQ_OK)
		rc = topo_step(mq_declare_queue(c->in, PROTO_DLQ, &dead_q, NULL),
			       "declare queue", PROTO_DLQ, err, errlen);
	if (rc == MQ_OK)
		rc = topo_step(mq_bind(c->in, PROTO_DLQ, PROTO_DLX, "#"), "bind", PROTO_DLQ,
			       err, errlen);
	for (int i = 0; i < 3 && rc == MQ_OK; i++) {
		rc = topo_step(mq_declare_queue(c->in, c->queues[i], &service_q, NULL),
			       "declare queue", c->queues[i], err, errlen);
		if (rc == MQ_OK)
			rc = topo_step(mq_bind(c->in, c->queues[i], ex, c->queues[i]), "bind",
				       c->queues[i], err, errlen);
	}
	for (int i = 0; i < 3 && rc == MQ_OK; i++)
		rc = topo_step(mq_consume(c->in, c->queues[i], cfg_common.rabbit_qos_prefetch_count),
			       "consume", c->queues[i], err, errlen);
	return rc;
}

int consumer_connect(struct consumer *c, char *err, size_t errlen)
{
	int rc = consumer_open(&c->in, false, err, errlen);
	if (rc == MQ_OK)
		rc = consumer_open(&c->out, true, err, errlen);
	if (rc == MQ_OK)
		rc = consumer_declare(c, err, errlen);
	if (rc != MQ_OK)
		consumer_close(c);
	return rc;
}

void consumer_close(struct consumer *c)
{
	mq_close(c->in);
	mq_close(c->out);
	c->in = NULL;
	c->out = NULL;
}

int consumer_next(struct consumer *c, struct mq_delivery *d, int timeout_ms)
{
	return mq_next(c->in, d, timeout_ms);
}

int consumer_ack(struct consumer *c, const struct mq_delivery *d)
{
	return mq_ack(c->in, d->tag, false);
}

int consumer_ack_upto(struct consumer *c, uint64_t tag)
{
	return mq_ack(c->in, tag, true);
}

int consumer_check(struct consumer *c)
{
	const char *names[4] = { c->queues[0], c->queues[1], c->queues[2], PROTO_DLQ };
	char err[256];
	int rc = MQ_OK;

	if (c->out == NULL && consumer_open(&c->out, true, err, sizeof(err)) != MQ_OK) {
		log_error("broker: %s", err);
		return MQ_CONN_LOST;
	}
	for (int i = 0; i < 4 && rc == MQ_OK; i++) {
		rc = mq_declare_queue(c->out, names[i], NULL, NULL);
		if (rc == MQ_REFUSED)
			log_error("queue %s is gone; reconnecting to declare it again", names[i]);
	}
	if (rc == MQ_CONN_LOST) {
		mq_close(c->out);
		c->out = NULL;
	}
	return rc;
}

static int consumer_publish_dead(struct consumer *c, const struct mq_delivery *d,
				 const struct mq_props *props)
{
	char err[256];
	int rc = MQ_CONN_LOST;

	/* Two tries: the confirm connection may have been dropped by the broker while idle. */
	for (int attempt = 0; attempt < 2 && rc == MQ_CONN_LOST; attempt++) {
		if (c->out == NULL && consumer_open(&c->out, true, err, sizeof(err)) != MQ_OK) {
			log_error("dead letter: cannot connect: %s", err);
			return MQ_CONN_LOST;
		}
		rc = mq_publish(c->out, PROTO_DLX, d->routing_key != NULL ? d->routing_key : "",
				d->body, d->len, props, true, CONSUMER_PUBLISH_TIMEOUT_MS);
		if (rc == MQ_CONN_LOST || rc == MQ_TIMEOUT) {
			mq_close(c->out);
			c->out = NULL;
		}
	}
	return rc;
}

int consumer_dead_letter(struct consumer *c, const struct mq_delivery *d, const char *reason)
{
	const struct mq_header headers[] = {
		{ PROTO_HDR_REASON, reason },
		{ PROTO_HDR_ORIG_EXCHANGE, d->exchange != NULL ? d->exchange : "" },
		{ PROTO_HDR_ORIG_ROUTING_KEY, d->routing_key != NULL ? d->routing_key : "" },
	};
	const struct mq_props props = {
		.content_type = d->content_type,
		.message_id = d->message_id,
		.persistent = true,
		.headers = headers,
		.nheaders = sizeof(headers) / sizeof(headers[0]),
	};

	log_warning("dead-lettering delivery %llu (routing key %s, message id %s): %s",
		    (unsigned long long)d->tag, d->routing_key != NULL ? d->routing_key : "-",
		    d->message_id != NULL ? d->message_id : "-", reason);
	int rc = consumer_publish_dead(c, d, &props);
	if (rc == MQ_OK)
		return mq_ack(c->in, d->tag, false);
	log_error("dead letter: publish failed (%s); rejecting the delivery to the queue's "
		  "dead-letter exchange instead", mq_strerror(rc));
	return mq_reject(c->in, d->tag, false);
}
