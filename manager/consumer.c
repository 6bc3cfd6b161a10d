/*
 * consumer.c - AMQP topology, consumption and dead-lettering for the volume manager.
 */
#include "manager/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "core/settings.h"
#include "manager/mconf.h"
#include "manager/mmetrics.h"
#include "proto/codec.h"
#include "proto/journal.h"
#include "proto/scrub.h"

#define CONSUMER_PUBLISH_TIMEOUT_MS 5000
/* Confirm events of journal batches read (and dropped) at a time. */
#define CONSUMER_CONFIRMS_MAX 64

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
	char hex[33];
	int rc;

	c->in = NULL;
	c->out = NULL;
	c->journal[0] = '\0';
	proto_journal_init(&c->jbatch);
	util_hex_id(hex);
	rc = proto_service_queues(cfg_common.host, settings.backend, c->queues);
	for (int i = 0; i < CONSUMER_NFANOUT && rc == 0; i++)
		rc = proto_fanout_exchange(c->queues[i], c->fanouts[i], PROTO_NAME_MAX) |
		     proto_fanout_queue(c->queues[i], hex, c->queues[3 + i], PROTO_NAME_MAX);
	return rc;
}

/* One step of the topology: what it is, for the error message, and its status. */
static int topo_step(int rc, const char *what, const char *name, char *err, size_t errlen)
{
	if (rc != MQ_OK)
		snprintf(err, errlen, "cannot %s %s: %s", what, name, mq_strerror(rc));
	return rc;
}

/* The dead-letter exchange and queue. Also run on the publishing connection when a dead
 * letter comes back unroutable, i.e. someone deleted the queue while the manager ran. A new
 * queue is replicated as the service queues are: a classic queue lives on one node of a
 * cluster, and while that node is down its declaration fails (404), which would keep every
 * manager from consuming again after the cluster lost that node. A queue that exists is
 * kept as it is (passive declare first): one made classic by an older volmgr would refuse
 * the quorum declaration (406) and stop the manager, and deleting it would lose the dead
 * letters that operators keep (docs/operations.md says how to move them). */
static int consumer_declare_dead(mq_conn *mq, char *err, size_t errlen)
{
	struct mq_queue_options dead_q = {
		.durable = true,
		.quorum = cfg_common.rabbit_quorum_queue,
		.ha_all = mconf.rabbit_ha_queues,
	};
	int rc;

	rc = topo_step(mq_declare_exchange(mq, PROTO_DLX, "topic", true),
		       "declare exchange", PROTO_DLX, err, errlen);
	if (rc == MQ_OK && mq_declare_queue(mq, PROTO_DLQ, NULL, NULL) != MQ_OK)
		rc = topo_step(mq_declare_queue(mq, PROTO_DLQ, &dead_q, NULL),
			       "declare queue", PROTO_DLQ, err, errlen);
	if (rc == MQ_OK)
		rc = topo_step(mq_bind(mq, PROTO_DLQ, PROTO_DLX, "#"), "bind", PROTO_DLQ,
			       err, errlen);
	return rc;
}

/* The journal: a stream to which the manager relays a copy of every message it receives, so
 * that operators can replay what reached the volume service (volctl replay --from-journal)
 * without having captured beforehand. The broker enforces the retention; a changed retention
 * is a declare mismatch (406), which the error names: the stream must then be deleted, or its
 * retention set by a policy. */
static int consumer_declare_journal(struct consumer *c, char *err, size_t errlen)
{
	const char *ex = cfg_common.control_exchange;
	struct mq_queue_options journal_q = {
		.stream = true,
		.max_age = mconf.journal_max_age,
		.max_length_bytes = mconf.journal_max_bytes,
	};
	int rc;

	if (proto_journal_queue(ex, c->journal, sizeof(c->journal)) != 0) {
		snprintf(err, errlen, "journal name for exchange %s is too long", ex);
		return MQ_INVALID;
	}
	rc = topo_step(mq_declare_queue(c->in, c->journal, &journal_q, NULL), "declare stream",
		       c->journal, err, errlen);
	/* Earlier versions bound the stream to the exchange with '#', through which the broker
	 * kept the tokens that other publishers (a real cinder-api) put in their messages: the
	 * relay keeps none, and the binding goes. */
	if (rc == MQ_OK)
		rc = topo_step(mq_unbind(c->in, c->journal, ex, "#"), "unbind", c->journal, err,
			       errlen);
	if (rc != MQ_OK)
		c->journal[0] = '\0';
	return rc;
}

/* The fanout exchanges and this server's queue on each, as oslo.messaging's
 * declare_fanout_consumer declares them: the exchange neither durable nor kept without
 * bindings, the queue neither durable nor auto-deleted but expiring when unused. */
static int consumer_declare_fanout(struct consumer *c, char *err, size_t errlen)
{
	struct mq_queue_options fanout_q = {
		.ha_all = mconf.rabbit_ha_queues,
		.expires_ms = mconf.rabbit_transient_queues_ttl * 1000,
	};
	int rc = MQ_OK;

	for (int i = 0; i < CONSUMER_NFANOUT && rc == MQ_OK; i++) {
		const char *q = c->queues[3 + i];

		rc = topo_step(mq_declare_exchange_ad(c->in, c->fanouts[i], "fanout", false, true),
			       "declare exchange", c->fanouts[i], err, errlen);
		if (rc == MQ_OK)
			rc = topo_step(mq_declare_queue(c->in, q, &fanout_q, NULL), "declare queue",
				       q, err, errlen);
		if (rc == MQ_OK)
			rc = topo_step(mq_bind(c->in, q, c->fanouts[i], c->queues[i]), "bind", q,
				       err, errlen);
	}
	return rc;
}

static int consumer_declare(struct consumer *c, char *err, size_t errlen)
{
	const char *ex = cfg_common.control_exchange;
	/* oslo.messaging's topic exchange and topic consumers: durable when
	 * amqp_durable_queues or rabbit_quorum_queue, never auto-deleted (amqp_auto_delete's
	 * default), with the arguments of its _get_queue_arguments. volmgr's own addition, the
	 * dead-letter exchange, would make oslo's declaration of the same queue fail. */
	bool durable = cfg_common.amqp_durable_queues || cfg_common.rabbit_quorum_queue;
	struct mq_queue_options service_q = {
		.durable = durable,
		.quorum = cfg_common.rabbit_quorum_queue,
		.ha_all = mconf.rabbit_ha_queues,
		.dead_letter_exchange = mconf.oslo_compatible_topology ? NULL : PROTO_DLX,
	};
	int rc;

	rc = topo_step(mq_declare_exchange(c->in, ex, "topic", durable), "declare exchange", ex,
		       err, errlen);
	if (rc == MQ_OK)
		rc = consumer_declare_dead(c->in, err, errlen);
	if (rc == MQ_OK && mconf.journal_enabled)
		rc = consumer_declare_journal(c, err, errlen);
	for (int i = 0; i < 3 && rc == MQ_OK; i++) {
		rc = topo_step(mq_declare_queue(c->in, c->queues[i], &service_q, NULL),
			       "declare queue", c->queues[i], err, errlen);
		if (rc == MQ_OK)
			rc = topo_step(mq_bind(c->in, c->queues[i], ex, c->queues[i]), "bind",
				       c->queues[i], err, errlen);
	}
	if (rc == MQ_OK)
		rc = consumer_declare_fanout(c, err, errlen);
	for (int i = 0; i < CONSUMER_NQUEUES && rc == MQ_OK; i++)
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

static void consumer_journal_flush(struct consumer *c);

void consumer_close(struct consumer *c)
{
	/* What the batch holds is relayed while the connection may still take it; the
	 * deliveries not acknowledged come back, and are journaled again, anyway. */
	if (c->out != NULL)
		consumer_journal_flush(c);
	proto_journal_clear(&c->jbatch);
	mq_close(c->in);
	mq_close(c->out);
	c->in = NULL;
	c->out = NULL;
}

/*
 * Publishes the journal batch the consumer filled, without waiting for its confirm; the
 * confirms that arrived are read and dropped. The journal is for operators and no part of a
 * message's handling, so a batch that could not be written is logged and dropped, never a
 * reason to stop.
 */
static void consumer_journal_flush(struct consumer *c)
{
	const struct mq_props props = {
		.content_type = PROTO_JOURNAL_CONTENT_TYPE,
		.persistent = true,
	};
	struct mq_confirm ev[CONSUMER_CONFIRMS_MAX];
	char err[256];
	size_t n;
	uint64_t seq;
	int rc;

	if (c->jbatch.n == 0)
		return;
	if (c->out == NULL && consumer_open(&c->out, true, err, sizeof(err)) != MQ_OK) {
		log_error("journal: cannot connect: %s; %d messages not journaled", err,
			  c->jbatch.n);
		proto_journal_clear(&c->jbatch);
		return;
	}
	rc = mq_publish_nowait(c->out, "", c->journal, c->jbatch.buf.data, c->jbatch.buf.size,
			       &props, false, &seq);
	if (rc != MQ_OK)
		log_error("journal: %s; %d messages not journaled", mq_strerror(rc), c->jbatch.n);
	proto_journal_clear(&c->jbatch);
	while (rc == MQ_OK) {
		rc = mq_read_confirms(c->out, 0, ev, CONSUMER_CONFIRMS_MAX, &n);
		if (rc == MQ_TIMEOUT)
			return;
	}
	log_error("journal: %s; the connection is opened again", mq_strerror(rc));
	mq_close(c->out);
	c->out = NULL;
}

/*
 * Adds a copy of d to the journal batch, with the caller's token replaced by null, and
 * publishes the batch when it is full; a batch the copy would take past its size limit is
 * published first.
 */
static void consumer_journal(struct consumer *c, const struct mq_delivery *d)
{
	char *clean = NULL;
	size_t clean_len = 0;
	int scrub = PROTO_UNCHANGED;

	if (proto_may_hold_secrets(d->body, d->len))
		scrub = proto_scrub_secrets(d->content_type, d->body, d->len, &clean, &clean_len);
	const struct proto_journal_rec rec = {
		.exchange = d->exchange,
		.routing_key = d->routing_key,
		.content_type = d->content_type,
		.message_id = d->message_id,
		.body = scrub == PROTO_REWRITTEN ? clean : d->body,
		.len = scrub == PROTO_REWRITTEN ? clean_len : d->len,
	};

	if (scrub != PROTO_REWRITE_FAILED && !proto_journal_fits(&c->jbatch, &rec))
		consumer_journal_flush(c);
	if (scrub == PROTO_REWRITE_FAILED || proto_journal_add(&c->jbatch, &rec) != 0)
		log_error("journal: out of memory; message %s not journaled",
			  d->message_id != NULL ? d->message_id : "-");
	free(clean);
	if (proto_journal_full(&c->jbatch))
		consumer_journal_flush(c);
}

int consumer_next(struct consumer *c, struct mq_delivery *d, int timeout_ms)
{
	int rc;

	if (c->journal[0] == '\0') {
		rc = mq_next(c->in, d, timeout_ms);
	} else {
		/* A batch waits no longer than the queue stays busy. */
		rc = mq_next(c->in, d, c->jbatch.n > 0 ? 0 : timeout_ms);
		if (rc == MQ_TIMEOUT && c->jbatch.n > 0) {
			consumer_journal_flush(c);
			rc = mq_next(c->in, d, timeout_ms);
		}
		if (rc == MQ_OK)
			consumer_journal(c, d);
	}
	if (rc == MQ_OK && d->redelivered)
		mmetrics_redelivered();
	return rc;
}

bool consumer_from_fanout(const struct consumer *c, const struct mq_delivery *d)
{
	for (int i = 0; i < CONSUMER_NFANOUT; i++)
		if (d->exchange != NULL && strcmp(d->exchange, c->fanouts[i]) == 0)
			return true;
	return false;
}

int consumer_ack(struct consumer *c, const struct mq_delivery *d)
{
	return mq_ack(c->in, d->tag, false);
}

int consumer_ack_upto(struct consumer *c, uint64_t tag)
{
	return mq_ack(c->in, tag, true);
}

/* Publishes on the confirming connection, opening it when needed. */
static int consumer_publish(struct consumer *c, const char *exchange, const char *routing_key,
			    const void *body, size_t len, const struct mq_props *props)
{
	char err[256];
	int rc = MQ_CONN_LOST;

	/* Two tries: the confirm connection may have been dropped by the broker while idle, the
	 * dead-letter queue deleted (a dead letter comes back unroutable), which declaring it
	 * again repairs, or the channel closed by the broker for an earlier journal batch
	 * published without waiting (its error surfaces here, and the channel is open again). */
	for (int attempt = 0; attempt < 2 && (rc == MQ_CONN_LOST || rc == MQ_UNROUTABLE ||
					      rc == MQ_REFUSED);
	     attempt++) {
		if (c->out == NULL && consumer_open(&c->out, true, err, sizeof(err)) != MQ_OK) {
			log_error("publisher: cannot connect: %s", err);
			return MQ_CONN_LOST;
		}
		if (rc == MQ_UNROUTABLE && consumer_declare_dead(c->out, err, sizeof(err)) != MQ_OK)
			log_error("dead letter: %s", err);
		rc = mq_publish(c->out, exchange, routing_key, body, len, props, true,
				CONSUMER_PUBLISH_TIMEOUT_MS);
		/* Only a dead letter can be repaired by declaring again; an unroutable reply
		 * means its caller's queue is gone, and the caller with it. */
		if (rc == MQ_UNROUTABLE && strcmp(exchange, PROTO_DLX) != 0)
			break;
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

	char *clean = NULL;
	size_t clean_len = 0;

	log_warning("dead-lettering delivery %llu (routing key %s, message id %s): %s",
		    (unsigned long long)d->tag, d->routing_key != NULL ? d->routing_key : "-",
		    d->message_id != NULL ? d->message_id : "-", reason);
	/* The dead letter is kept and shown to operators: the caller's token is not. */
	int scrub = proto_scrub_secrets(d->content_type, d->body, d->len, &clean, &clean_len);
	if (scrub == PROTO_REWRITE_FAILED)
		log_error("dead letter: out of memory removing the caller's token; kept as it came");
	int rc = consumer_publish(c, PROTO_DLX, d->routing_key != NULL ? d->routing_key : "",
				  scrub == PROTO_REWRITTEN ? clean : d->body,
				  scrub == PROTO_REWRITTEN ? clean_len : d->len, &props);
	free(clean);
	if (rc == MQ_OK)
		return mq_ack(c->in, d->tag, false);
	/* The queue's own dead-letter exchange would keep the body as it came, token and all:
	 * such a message goes back to its queue and is dead-lettered again later. */
	if (scrub == PROTO_REWRITTEN) {
		log_error("dead letter: publish failed (%s); the delivery holds a token, so it goes "
			  "back to its queue", mq_strerror(rc));
		return mq_reject(c->in, d->tag, true);
	}
	log_error("dead letter: publish failed (%s); rejecting the delivery to the queue's "
		  "dead-letter exchange instead", mq_strerror(rc));
	return mq_reject(c->in, d->tag, false);
}

int consumer_reply(struct consumer *c, const char *reply_q, const char *content_type,
		   const void *body, size_t len)
{
	const struct mq_props props = { .content_type = content_type };

	return consumer_publish(c, "", reply_q, body, len, &props);
}
