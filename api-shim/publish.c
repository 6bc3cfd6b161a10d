/*
 * publish.c - the shared confirming publisher (see publish.h).
 */
#include "api-shim/publish.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

#define PUBLISH_CONNECT_MAX_MS 5000
#define PUBLISH_RETRY_MS 1000

static struct publish_options opts;
static char *opt_url, *opt_exchange;
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static mq_conn *pub_conn;
static int64_t pub_last_fail_ms;
static bool pub_failed_once;

int publish_init(const struct publish_options *opt)
{
	opts = *opt;
	opt_url = strdup(opt->url != NULL ? opt->url : "");
	opt_exchange = strdup(opt->exchange != NULL ? opt->exchange : "");
	if (opt_url == NULL || opt_exchange == NULL) {
		free(opt_url);
		free(opt_exchange);
		opt_url = opt_exchange = NULL;
		return -1;
	}
	opts.url = opt_url;
	opts.exchange = opt_exchange;
	return 0;
}

/* Opens the connection with confirms and declares the exchange. Called with pub_lock held. */
static mq_conn *pub_open(char *err, size_t errlen)
{
	struct mq_options o = {
		.url = opts.url,
		.heartbeat = opts.heartbeat,
		.confirms = true,
		.connect_timeout_ms = opts.timeout_ms < PUBLISH_CONNECT_MAX_MS ?
			opts.timeout_ms : PUBLISH_CONNECT_MAX_MS,
	};
	char why[256];
	mq_conn *c = mq_open(&o, why, sizeof(why));
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "cannot connect to the message broker: %s", why);
		return NULL;
	}
	rc = mq_declare_exchange(c, opts.exchange, "topic", opts.durable_exchange);
	if (rc != MQ_OK) {
		snprintf(err, errlen, "cannot declare exchange %s: %s", opts.exchange,
			 mq_strerror(rc));
		mq_close(c);
		return NULL;
	}
	log_info("publisher connected (exchange %s)", opts.exchange);
	return c;
}

static void pub_drop(void)
{
	mq_close(pub_conn);
	pub_conn = NULL;
}

/* One publish on the current connection, opening it first if needed. Returns 0, 1 when the
 * connection was found dead (worth one more try), or -1. Called with pub_lock held. */
static int pub_try(const char *routing_key, const void *body, size_t len,
		   const struct mq_props *props, char *err, size_t errlen)
{
	int rc;

	if (pub_conn == NULL) {
		if (pub_failed_once && util_now_ms() - pub_last_fail_ms < PUBLISH_RETRY_MS) {
			snprintf(err, errlen, "the message broker was unreachable a moment ago");
			return -1;
		}
		pub_conn = pub_open(err, errlen);
		if (pub_conn == NULL) {
			pub_failed_once = true;
			pub_last_fail_ms = util_now_ms();
			return -1;
		}
		pub_failed_once = false;
	}
	rc = mq_publish(pub_conn, opts.exchange, routing_key, body, len, props, true,
			opts.timeout_ms);
	switch (rc) {
	case MQ_OK:
		return 0;
	case MQ_UNROUTABLE:
		snprintf(err, errlen, "message not routed: no queue is bound to exchange %s for "
			 "routing key %s", opts.exchange, routing_key);
		return -1;
	case MQ_NACKED:
		snprintf(err, errlen, "the message broker refused the message");
		return -1;
	case MQ_TIMEOUT:
		/* A late confirm would be read as the next message's: start afresh. */
		snprintf(err, errlen, "no confirm from the message broker within %d ms",
			 opts.timeout_ms);
		pub_drop();
		return -1;
	case MQ_CONN_LOST:
		snprintf(err, errlen, "the connection to the message broker was lost");
		pub_drop();
		return 1;
	default:
		snprintf(err, errlen, "publish failed: %s", mq_strerror(rc));
		pub_drop();
		return -1;
	}
}

int publish_message(const char *routing_key, const void *body, size_t len,
		    const struct mq_props *props, char *err, size_t errlen)
{
	struct timespec deadline;
	int rc;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += opts.timeout_ms / 1000;
	deadline.tv_nsec += (long)(opts.timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	rc = pthread_mutex_timedlock(&pub_lock, &deadline);
	if (rc != 0) {
		snprintf(err, errlen, "the publisher is busy (%s)",
			 rc == ETIMEDOUT ? "timed out waiting" : strerror(rc));
		return -1;
	}
	rc = pub_try(routing_key, body, len, props, err, errlen);
	if (rc == 1) {
		log_warning("publisher: %s; reconnecting and publishing again", err);
		rc = pub_try(routing_key, body, len, props, err, errlen);
	}
	pthread_mutex_unlock(&pub_lock);
	if (rc != 0) {
		log_warning("publish to %s failed: %s", routing_key, err);
		return -1;
	}
	return 0;
}

void publish_shutdown(void)
{
	pthread_mutex_lock(&pub_lock);
	pub_drop();
	pthread_mutex_unlock(&pub_lock);
	free(opt_url);
	free(opt_exchange);
	opt_url = opt_exchange = NULL;
}
