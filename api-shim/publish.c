/*
 * publish.c - the publisher thread (see publish.h).
 *
 * Submitters append jobs to the incoming list under pub_lock and wake the thread through an
 * eventfd. Everything else belongs to the thread alone, without a lock: the connection, the
 * jobs it is about to write (ready) and those written and waiting for their confirm
 * (inflight, in the order of their sequence numbers). The thread waits in poll() on the
 * eventfd and, while confirms are due, the connection's socket, for at most the time to the
 * nearest deadline.
 */
#include "api-shim/publish.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "api-shim/smetrics.h"

#define PUBLISH_RETRY_MS 1000
/* The longest the thread sleeps without a deadline to watch: how soon it sees a stop. */
#define PUBLISH_IDLE_MS 1000
/* Confirm events taken per read. */
#define PUBLISH_EVENTS_MAX 64
/* Writes of one message: the first, and one more on a new connection after a loss. */
#define PUBLISH_ATTEMPTS 2
#define PUBLISH_ERR_MAX 512

struct pub_job {
	struct pub_job *next;
	char *routing_key;
	void *body;
	size_t len;
	struct mq_props props;     /* its strings point into strings below */
	char *strings;
	int64_t deadline_ms;
	uint64_t seq;              /* confirm sequence number, once written */
	bool returned;             /* a basic.return for it came before its ack */
	int attempts;              /* writes so far */
	publish_done_fn done;
	void *arg;
};

/* A FIFO of jobs. */
struct pub_list {
	struct pub_job *head, *tail;
};

static struct publish_options opts;
static char *opt_url, *opt_exchange;
static pthread_t pub_thread;
static bool pub_started;
static int pub_wakefd = -1;

static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pub_list pub_incoming;    /* under pub_lock */
static bool pub_stopping;               /* under pub_lock */
static atomic_int pub_pending;          /* jobs submitted and not yet done */

/* The thread's own. */
static mq_conn *pub_conn;
static struct pub_list pub_ready, pub_inflight;
static bool pub_return_unmatched;       /* a return matched no job: the next ack's are suspect */
static int64_t pub_last_fail_ms;
static bool pub_failed_once;
/* pub_failed_once for other threads (the health check). */
static atomic_bool pub_refused;
/* A connection was open before: the next one is a reconnect. */
static bool pub_opened_before;

static void list_push(struct pub_list *l, struct pub_job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

/* Appends every job of from to l, in order, and empties from. */
static void list_splice(struct pub_list *l, struct pub_list *from)
{
	if (from->head == NULL)
		return;
	if (l->tail != NULL)
		l->tail->next = from->head;
	else
		l->head = from->head;
	l->tail = from->tail;
	from->head = from->tail = NULL;
}

static void job_free(struct pub_job *j)
{
	free(j->routing_key);
	free(j->body);
	free(j->strings);
	free(j);
}

/* Tells j's submitter how it ended (err NULL: confirmed) and frees it. */
static void job_finish(struct pub_job *j, const char *err)
{
	if (err != NULL)
		log_warning("publish to %s failed: %s", j->routing_key, err);
	smetrics_published(err == NULL);
	j->done(j->arg, err);
	job_free(j);
	atomic_fetch_sub(&pub_pending, 1);
}

/* Finishes every job of l with err. */
static void list_fail(struct pub_list *l, const char *err)
{
	struct pub_job *j = l->head, *next;

	for (; j != NULL; j = next) {
		next = j->next;
		job_finish(j, err);
	}
	l->head = l->tail = NULL;
}

/* Finishes the jobs of l whose deadline passed, and lowers *wait_ms to the time left to the
 * nearest other one. */
static void list_expire(struct pub_list *l, int64_t now, int *wait_ms)
{
	struct pub_job **pp = &l->head, *j;

	l->tail = NULL;
	while ((j = *pp) != NULL) {
		if (j->deadline_ms <= now) {
			*pp = j->next;
			job_finish(j, "no confirm from the message broker in time");
			continue;
		}
		if (j->deadline_ms - now < *wait_ms)
			*wait_ms = (int)(j->deadline_ms - now);
		l->tail = j;
		pp = &j->next;
	}
}

/* Opens the connection with confirms and declares the exchange. */
static mq_conn *pub_open(char *err, size_t errlen)
{
	struct mq_options o = {
		.url = opts.url,
		.heartbeat = opts.heartbeat,
		.confirms = true,
		.connect_timeout_ms = opts.connect_timeout_ms,
	};
	char why[PUBLISH_ERR_MAX / 2];
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
 * with the reason in err. */
static int pub_connect(char *err, size_t errlen)
{
	if (pub_failed_once && util_now_ms() - pub_last_fail_ms < PUBLISH_RETRY_MS) {
		snprintf(err, errlen, "the message broker was unreachable a moment ago");
		return -1;
	}
	pub_conn = pub_open(err, errlen);
	pub_failed_once = pub_conn == NULL;
	atomic_store(&pub_refused, pub_failed_once);
	if (pub_conn != NULL && pub_opened_before)
		smetrics_broker_reconnect();
	pub_opened_before = pub_opened_before || pub_conn != NULL;
	if (pub_conn == NULL) {
		pub_last_fail_ms = util_now_ms();
		return -1;
	}
	return 0;
}

/*
 * The connection (or its channel, which numbered the publishes) is gone with status: a job
 * waiting for its confirm is written again on the next connection when the connection was
 * lost and it has an attempt left, and fails otherwise.
 */
static void pub_drop(int status)
{
	struct pub_list again = { 0 };
	struct pub_job *j = pub_inflight.head, *next;
	char err[PUBLISH_ERR_MAX];

	snprintf(err, sizeof(err), status == MQ_CONN_LOST ?
		 "the connection to the message broker was lost" : "publish failed: %s",
		 mq_strerror(status));
	for (; j != NULL; j = next) {
		next = j->next;
		if (status == MQ_CONN_LOST && j->attempts < PUBLISH_ATTEMPTS)
			list_push(&again, j);
		else
			job_finish(j, err);
	}
	pub_inflight.head = pub_inflight.tail = NULL;
	/* Written again before anything that came later. */
	list_splice(&again, &pub_ready);
	pub_ready = again;
	mq_close(pub_conn);
	pub_conn = NULL;
	pub_return_unmatched = false;
	if (status == MQ_CONN_LOST && pub_ready.head != NULL)
		log_warning("publisher: connection lost; reconnecting and publishing again");
}

/* Writes the ready jobs, opening the connection first if needed. */
static void pub_write(void)
{
	char err[PUBLISH_ERR_MAX];
	struct pub_job *j;

	if (pub_ready.head == NULL)
		return;
	if (pub_conn == NULL && pub_connect(err, sizeof(err)) != 0) {
		list_fail(&pub_ready, err);
		return;
	}
	while ((j = pub_ready.head) != NULL) {
		int rc = mq_publish_nowait(pub_conn, opts.exchange, j->routing_key, j->body,
					   j->len, &j->props, true, &j->seq);

		if (rc == MQ_CONN_LOST) {
			pub_drop(rc);
			return;
		}
		pub_ready.head = j->next;
		if (pub_ready.head == NULL)
			pub_ready.tail = NULL;
		j->attempts++;
		if (rc != MQ_OK) {
			snprintf(err, sizeof(err), "publish failed: %s", mq_strerror(rc));
			job_finish(j, err);
			continue;
		}
		j->returned = false;
		list_push(&pub_inflight, j);
	}
}

/* The verdict of an ack or nack for j, as job_finish takes it. */
static const char *pub_verdict(const struct pub_job *j, const struct mq_confirm *ev, char *err,
			       size_t errlen)
{
	if (ev->kind == MQ_CONFIRM_NACK)
		return "the message broker refused the message";
	if (!j->returned && !pub_return_unmatched)
		return NULL;
	snprintf(err, errlen, "message not routed: no queue is bound to exchange %s for routing "
		 "key %s", opts.exchange, j->routing_key);
	return err;
}

/* Applies one confirm event to the jobs waiting for theirs. */
static void pub_settle(const struct mq_confirm *ev)
{
	struct pub_job **pp = &pub_inflight.head, *j;
	char err[PUBLISH_ERR_MAX];
	bool matched = false;

	pub_inflight.tail = NULL;
	while ((j = *pp) != NULL) {
		if (ev->kind == MQ_CONFIRM_RETURN) {
			if (j->props.message_id != NULL &&
			    strcmp(j->props.message_id, ev->message_id) == 0)
				j->returned = matched = true;
		} else if (mq_confirm_covers(ev, j->seq)) {
			*pp = j->next;
			job_finish(j, pub_verdict(j, ev, err, sizeof(err)));
			continue;
		}
		pub_inflight.tail = j;
		pp = &j->next;
	}
	/* A return that names none of ours cannot be attributed: rather than answer 202 for a
	 * message that may be the returned one, every publish its ack covers counts as
	 * returned. */
	if (ev->kind == MQ_CONFIRM_RETURN)
		pub_return_unmatched = pub_return_unmatched || !matched;
	else
		pub_return_unmatched = false;
}

/* Reads the confirms that arrived. */
static void pub_read(void)
{
	struct mq_confirm ev[PUBLISH_EVENTS_MAX];
	size_t n = 0;
	int rc = mq_read_confirms(pub_conn, 0, ev, PUBLISH_EVENTS_MAX, &n);

	for (size_t i = 0; i < n; i++)
		pub_settle(&ev[i]);
	if (rc != MQ_OK && rc != MQ_TIMEOUT) {
		log_warning("publisher: %s while waiting for confirms", mq_strerror(rc));
		pub_drop(rc);
	}
}

/* Waits for a submission or a confirm, at most wait_ms. Returns true when the socket may
 * have confirms to read. */
static bool pub_poll(int wait_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = pub_wakefd, .events = POLLIN },
		{ .fd = -1, .events = POLLIN },
	};
	uint64_t count;

	if (pub_conn != NULL && pub_inflight.head != NULL) {
		if (mq_input_buffered(pub_conn))
			return true;
		pfd[1].fd = mq_socket_fd(pub_conn);
	}
	if (poll(pfd, 2, wait_ms) < 0 && errno != EINTR)
		log_warning("publisher: poll: %s", strerror(errno));
	if (pfd[0].revents & POLLIN)
		(void)!read(pub_wakefd, &count, sizeof(count));
	return pfd[1].fd >= 0 && pfd[1].revents != 0;
}

static void *pub_main(void *unused)
{
	(void)unused;
	for (;;) {
		int wait_ms = PUBLISH_IDLE_MS;
		int64_t now;
		bool stopping;

		pthread_mutex_lock(&pub_lock);
		list_splice(&pub_ready, &pub_incoming);
		stopping = pub_stopping;
		pthread_mutex_unlock(&pub_lock);
		if (stopping)
			break;
		now = util_now_ms();
		list_expire(&pub_ready, now, &wait_ms);
		list_expire(&pub_inflight, now, &wait_ms);
		pub_write();
		/* A connection lost while writing leaves its jobs ready for the next one: open it
		 * now rather than after the idle wait (jobs that used their last write failed). */
		if (pub_ready.head != NULL && pub_conn == NULL)
			wait_ms = 0;
		if (pub_poll(wait_ms) && pub_conn != NULL)
			pub_read();
	}
	list_fail(&pub_ready, "the API service is stopping");
	list_fail(&pub_inflight, "the API service is stopping");
	mq_close(pub_conn);
	pub_conn = NULL;
	return NULL;
}

static void pub_wake(void)
{
	uint64_t one = 1;

	(void)!write(pub_wakefd, &one, sizeof(one));
}

int publish_start(const struct publish_options *opt)
{
	opts = *opt;
	opt_url = strdup(opt->url != NULL ? opt->url : "");
	opt_exchange = strdup(opt->exchange != NULL ? opt->exchange : "");
	pub_wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (opt_url == NULL || opt_exchange == NULL || pub_wakefd < 0) {
		log_error("publisher: cannot start: out of memory or descriptors");
		goto fail;
	}
	opts.url = opt_url;
	opts.exchange = opt_exchange;
	if (pthread_create(&pub_thread, NULL, pub_main, NULL) != 0) {
		log_error("publisher: cannot start its thread");
		goto fail;
	}
	pub_started = true;
	return 0;
fail:
	free(opt_url);
	free(opt_exchange);
	opt_url = opt_exchange = NULL;
	if (pub_wakefd >= 0)
		close(pub_wakefd);
	pub_wakefd = -1;
	return -1;
}

/* The strings of props, copied into one allocation that j->props points into. Returns 0 or
 * -1. */
static int job_copy_props(struct pub_job *j, const struct mq_props *props)
{
	const char *src[] = { props->content_type, props->message_id, props->correlation_id,
			      props->reply_to, props->expiration };
	const char **dst[] = { &j->props.content_type, &j->props.message_id,
			       &j->props.correlation_id, &j->props.reply_to,
			       &j->props.expiration };
	size_t total = 0, off = 0;

	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++)
		total += src[i] != NULL ? strlen(src[i]) + 1 : 0;
	j->strings = malloc(total + 1);
	if (j->strings == NULL)
		return -1;
	j->props.persistent = props->persistent;
	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
		size_t n;

		if (src[i] == NULL)
			continue;
		n = strlen(src[i]) + 1;
		memcpy(j->strings + off, src[i], n);
		*dst[i] = j->strings + off;
		off += n;
	}
	return 0;
}

int publish_submit(const char *routing_key, const void *body, size_t len,
		   const struct mq_props *props, int64_t deadline_ms, publish_done_fn done,
		   void *arg, char *err, size_t errlen)
{
	struct pub_job *j = calloc(1, sizeof(*j));
	bool refused;

	if (j == NULL || (j->routing_key = strdup(routing_key)) == NULL ||
	    (j->body = malloc(len > 0 ? len : 1)) == NULL || job_copy_props(j, props) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	memcpy(j->body, body, len);
	j->len = len;
	j->deadline_ms = deadline_ms;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&pub_lock);
	refused = pub_stopping || !pub_started ||
		  atomic_load(&pub_pending) >= opts.max_pending;
	if (!refused) {
		atomic_fetch_add(&pub_pending, 1);
		list_push(&pub_incoming, j);
		/* Under the lock, so that publish_stop cannot close the eventfd in between. */
		pub_wake();
	}
	pthread_mutex_unlock(&pub_lock);
	if (refused) {
		snprintf(err, errlen, pub_stopping || !pub_started ? "the API service is stopping" :
			 "too many messages are waiting for the message broker (%d)",
			 opts.max_pending);
		goto fail;
	}
	return 0;
fail:
	if (j != NULL)
		job_free(j);
	return -1;
}

void publish_stop(void)
{
	/* The thread takes the incoming list in the same critical section in which it sees
	 * pub_stopping, and fails what it holds on its way out; no submission is taken after. */
	pthread_mutex_lock(&pub_lock);
	pub_stopping = true;
	pthread_mutex_unlock(&pub_lock);
	if (pub_started) {
		pub_wake();
		pthread_join(pub_thread, NULL);
		pub_started = false;
	}
	pthread_mutex_lock(&pub_lock);
	if (pub_wakefd >= 0)
		close(pub_wakefd);
	pub_wakefd = -1;
	pthread_mutex_unlock(&pub_lock);
	free(opt_url);
	free(opt_exchange);
	opt_url = opt_exchange = NULL;
}

bool publish_broker_ok(void)
{
	return !atomic_load(&pub_refused);
}
