/*
 * publish.c - the shared confirming publisher (see publish.h).
 *
 * A publisher writes its message under pub_lock, links a waiter (on its own stack) holding
 * the message's confirm sequence number, and waits on pub_cond. One waiting thread at a time
 * is the reader: it polls the socket with the lock released, then takes the lock to read the
 * confirms that arrived, settles every waiter they cover and wakes them all; a waiter still
 * pending then takes the reader's place. So the lock is never held while waiting for the
 * broker, and one ack(multiple) answers many requests at once.
 */
#include "api-shim/publish.h"

#include <errno.h>
#include <poll.h>
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
/* The reader polls in slices this long: input that another thread's write happened to buffer
 * in the handle (librabbitmq reads while writing when a heartbeat is due) is never left
 * unread for longer. */
#define PUBLISH_POLL_SLICE_MS 20
/* Confirm events taken per read. */
#define PUBLISH_EVENTS_MAX 64
#define PUB_PENDING 1

/* A publish waiting for its confirm; lives on the publishing thread's stack. */
struct pub_waiter {
	uint64_t seq;              /* confirm sequence number on the connection of pub_gen */
	const char *message_id;    /* to match a basic.return, or NULL */
	bool returned;             /* a basic.return for it came before its ack */
	int status;                /* PUB_PENDING, then an MQ_* status */
	struct pub_waiter *next;
};

static struct publish_options opts;
static char *opt_url, *opt_exchange;
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pub_cond = PTHREAD_COND_INITIALIZER;
static mq_conn *pub_conn;
static uint64_t pub_gen;            /* bumped when the connection is dropped */
static struct pub_waiter *pub_waiters;
static bool pub_reading;            /* a thread is polling the socket without the lock */
static bool pub_return_unmatched;   /* a return matched no waiter: the next ack's are suspect */
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

/* Opens the connection unless a failure a moment ago says not to try yet. Returns 0 or -1
 * with the reason in err. Called with pub_lock held. */
static int pub_connect(char *err, size_t errlen)
{
	if (pub_failed_once && util_now_ms() - pub_last_fail_ms < PUBLISH_RETRY_MS) {
		snprintf(err, errlen, "the message broker was unreachable a moment ago");
		return -1;
	}
	pub_conn = pub_open(err, errlen);
	pub_failed_once = pub_conn == NULL;
	if (pub_conn == NULL) {
		pub_last_fail_ms = util_now_ms();
		return -1;
	}
	return 0;
}

/*
 * The connection (or its channel, which numbered the publishes) is gone: every pending waiter
 * fails with status, and the next publish opens a new connection. Called with pub_lock held.
 */
static void pub_drop(int status)
{
	for (struct pub_waiter *w = pub_waiters; w != NULL; w = w->next) {
		if (w->status == PUB_PENDING)
			w->status = status;
	}
	mq_close(pub_conn);
	pub_conn = NULL;
	pub_gen++;
	pub_return_unmatched = false;
	pthread_cond_broadcast(&pub_cond);
}

/* Applies one confirm event to the pending waiters. Called with pub_lock held. */
static void pub_settle(const struct mq_confirm *ev)
{
	bool matched = false;

	for (struct pub_waiter *w = pub_waiters; w != NULL; w = w->next) {
		if (w->status != PUB_PENDING)
			continue;
		if (ev->kind == MQ_CONFIRM_RETURN) {
			if (w->message_id != NULL && strcmp(w->message_id, ev->message_id) == 0)
				w->returned = matched = true;
		} else if (mq_confirm_covers(ev, w->seq)) {
			if (ev->kind == MQ_CONFIRM_NACK)
				w->status = MQ_NACKED;
			else
				w->status = w->returned || pub_return_unmatched ? MQ_UNROUTABLE : MQ_OK;
		}
	}
	/* A return that names none of ours cannot be attributed: rather than answer 202 for a
	 * message that may be the returned one, every publish its ack covers counts as
	 * returned. */
	if (ev->kind == MQ_CONFIRM_RETURN)
		pub_return_unmatched = pub_return_unmatched || !matched;
	else
		pub_return_unmatched = false;
}

/* Milliseconds from now until deadline (CLOCK_REALTIME), at least 0. */
static int pub_ms_left(const struct timespec *deadline)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_REALTIME, &now);
	ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/*
 * One turn as the reader: waits (lock released) for input for up to a poll slice, then reads
 * the confirms that arrived and wakes the waiters when any was settled. Called with pub_lock
 * held and pub_conn open.
 */
static void pub_read(const struct timespec *deadline)
{
	struct mq_confirm ev[PUBLISH_EVENTS_MAX];
	uint64_t gen = pub_gen;
	size_t n = 0;
	int rc;

	if (!mq_input_buffered(pub_conn)) {
		struct pollfd pfd = { .fd = mq_socket_fd(pub_conn), .events = POLLIN };
		int ms = pub_ms_left(deadline);

		pub_reading = true;
		pthread_mutex_unlock(&pub_lock);
		(void)poll(&pfd, 1, ms < PUBLISH_POLL_SLICE_MS ? ms : PUBLISH_POLL_SLICE_MS);
		pthread_mutex_lock(&pub_lock);
		pub_reading = false;
		if (pub_gen != gen)
			return;   /* dropped meanwhile: the waiters were failed and woken */
	}
	rc = mq_read_confirms(pub_conn, 0, ev, PUBLISH_EVENTS_MAX, &n);
	for (size_t i = 0; i < n; i++)
		pub_settle(&ev[i]);
	if (rc == MQ_OK || rc == MQ_TIMEOUT) {
		if (n > 0)
			pthread_cond_broadcast(&pub_cond);
		return;
	}
	log_warning("publisher: %s while waiting for confirms", mq_strerror(rc));
	pub_drop(rc);
}

/* Waits until w is settled or the deadline passes, reading in turn with the other waiters,
 * then unlinks w. Returns its MQ_* status. Called with pub_lock held. */
static int pub_wait(struct pub_waiter *w, const struct timespec *deadline)
{
	struct pub_waiter **pp;

	while (w->status == PUB_PENDING) {
		if (pub_ms_left(deadline) == 0) {
			w->status = MQ_TIMEOUT;
			/* It may have been the reader: let another waiter take over. */
			pthread_cond_broadcast(&pub_cond);
		} else if (!pub_reading) {
			pub_read(deadline);
		} else {
			(void)pthread_cond_timedwait(&pub_cond, &pub_lock, deadline);
		}
	}
	for (pp = &pub_waiters; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	return w->status;
}

/* The outcome of one try as publish_message reports it: 0, 1 when the connection was found
 * dead (worth one more try), or -1 with the reason in err. */
static int pub_verdict(int status, const char *routing_key, char *err, size_t errlen)
{
	switch (status) {
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
		snprintf(err, errlen, "no confirm from the message broker within %d ms",
			 opts.timeout_ms);
		return -1;
	case MQ_CONN_LOST:
		snprintf(err, errlen, "the connection to the message broker was lost");
		return 1;
	default:
		snprintf(err, errlen, "publish failed: %s", mq_strerror(status));
		return -1;
	}
}

/* One publish on the current connection, opening it first if needed, and the wait for its
 * confirm. Returns as pub_verdict. Called with pub_lock held. */
static int pub_try(const char *routing_key, const void *body, size_t len,
		   const struct mq_props *props, const struct timespec *deadline, char *err,
		   size_t errlen)
{
	struct pub_waiter w = {
		.message_id = props != NULL ? props->message_id : NULL,
		.status = PUB_PENDING,
	};
	int rc;

	if (pub_conn == NULL && pub_connect(err, errlen) != 0)
		return -1;
	rc = mq_publish_nowait(pub_conn, opts.exchange, routing_key, body, len, props, true,
			       &w.seq);
	if (rc == MQ_OK) {
		w.next = pub_waiters;
		pub_waiters = &w;
		rc = pub_wait(&w, deadline);
	} else if (rc == MQ_CONN_LOST) {
		pub_drop(rc);
	}
	return pub_verdict(rc, routing_key, err, errlen);
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
	rc = pub_try(routing_key, body, len, props, &deadline, err, errlen);
	if (rc == 1) {
		log_warning("publisher: %s; reconnecting and publishing again", err);
		rc = pub_try(routing_key, body, len, props, &deadline, err, errlen);
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
	if (pub_conn != NULL)
		pub_drop(MQ_CONN_LOST);
	pthread_mutex_unlock(&pub_lock);
	free(opt_url);
	free(opt_exchange);
	opt_url = opt_exchange = NULL;
}
