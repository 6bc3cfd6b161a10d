/*
 * replies.c - the reply queue, its listener thread and the table of waiting calls (see
 * replies.h).
 */
#include "api-shim/replies.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mq.h"
#include "common/util.h"
#include "proto/codec.h"
#include "proto/wire.h"
#include "api-shim/shim.h"
#include "api-shim/smetrics.h"

/* How often the listener looks for calls whose deadline passed: the resolution of a call's
 * timeout. */
#define REPLIES_TICK_MS 200
#define REPLIES_PREFETCH 64
/* Notifications sent per pass over the table, outside its lock. */
#define REPLIES_NOTIFY_BATCH 32
#define REPLIES_BACKOFF_BASE_MS 500
#define REPLIES_BACKOFF_CAP_MS 10000
/* A reply is a result and a short failure text; anything larger is not ours. */
#define REPLIES_MAX_BODY (1024 * 1024)
#define REPLIES_ARENA_CAP (2 * REPLIES_MAX_BODY)

struct slot {
	bool used;
	bool done;            /* body set, lost, or timed out */
	int status;           /* REPLIES_OK, REPLIES_LOST or REPLIES_TIMEOUT once done */
	char msg_id[33];
	char *body;
	size_t len;
	int64_t deadline_ms;  /* 0 until watched */
	replies_notify_fn notify;
	void *notify_arg;
};

static struct replies_options opts;
static char *opt_url;
static char queue[REPLIES_QUEUE_MAX];
static pthread_t listener;
static bool listener_started;

/* Guards everything below. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static int nslots;
static bool ready;        /* the queue exists and is consumed */
static bool stopping;

/*
 * Ends the wait of slot s with status and takes its notification out (*fn, *arg), to be called
 * once the lock is released: a notification may take other locks. Called with lock held.
 */
static void finish(struct slot *s, int status, replies_notify_fn *fn, void **arg)
{
	s->done = true;
	s->status = status;
	*fn = s->notify;
	*arg = s->notify_arg;
	s->notify = NULL;
}

/* Ends every unfinished wait that matches: the lost ones (lost true: their replies went with
 * the exclusive queue), else those whose deadline passed; then notifies their owners. */
static void finish_waits(bool lost)
{
	replies_notify_fn fns[REPLIES_NOTIFY_BATCH];
	void *args[REPLIES_NOTIFY_BATCH];
	int n, from = 0;

	do {
		int64_t now = util_now_ms();

		n = 0;
		pthread_mutex_lock(&lock);
		for (; from < nslots && n < REPLIES_NOTIFY_BATCH; from++) {
			struct slot *s = &slots[from];

			if (!s->used || s->done)
				continue;
			if (lost)
				finish(s, REPLIES_LOST, &fns[n], &args[n]);
			else if (s->deadline_ms != 0 && now >= s->deadline_ms)
				finish(s, REPLIES_TIMEOUT, &fns[n], &args[n]);
			else
				continue;
			n++;
		}
		pthread_mutex_unlock(&lock);
		for (int i = 0; i < n; i++)
			if (fns[i] != NULL)
				fns[i](args[i]);
	} while (from < nslots);
}

bool replies_ready(void)
{
	pthread_mutex_lock(&lock);
	bool on = ready;
	pthread_mutex_unlock(&lock);
	return on;
}

static void set_ready(bool on)
{
	pthread_mutex_lock(&lock);
	ready = on;
	pthread_mutex_unlock(&lock);
	if (!on)
		finish_waits(true);
}

static bool should_stop(void)
{
	bool s;

	pthread_mutex_lock(&lock);
	s = stopping;
	pthread_mutex_unlock(&lock);
	return s;
}

static bool opened_before;   /* the listener's thread only */

/* Opens the consuming connection and declares and consumes the queue. */
static mq_conn *listen_open(void)
{
	struct mq_options o = { .url = opts.url, .heartbeat = opts.heartbeat };
	struct mq_queue_options q = { .exclusive = true, .auto_delete = true };
	char err[256];
	mq_conn *c = mq_open(&o, err, sizeof(err));
	int rc;

	if (c == NULL) {
		log_warning("reply queue: cannot connect to the message broker: %s", err);
		return NULL;
	}
	rc = mq_declare_queue(c, queue, &q, NULL);
	if (rc == MQ_OK)
		rc = mq_consume(c, queue, REPLIES_PREFETCH);
	if (rc != MQ_OK) {
		log_warning("reply queue %s: %s", queue, mq_strerror(rc));
		mq_close(c);
		return NULL;
	}
	log_info("reply queue %s ready", queue);
	/* Every queue after the first one of this process is a reconnect. */
	if (opened_before)
		smetrics_broker_reconnect();
	opened_before = true;
	return c;
}

/* Hands a reply to its waiter, or drops it. Takes ownership of nothing. */
static void deliver(const struct mq_delivery *d)
{
	struct proto_limits lim = proto_default_limits;
	struct pv_arena arena;
	struct proto_reply rep;
	enum proto_format fmt;
	replies_notify_fn fn = NULL;
	void *fn_arg = NULL;
	char detail[256];
	int i;

	lim.max_bytes = REPLIES_MAX_BODY;
	pv_arena_init(&arena, REPLIES_ARENA_CAP);
	if (proto_format_of(d->content_type, &fmt) != 0 || fmt != api_cfg.rpc_wire_format) {
		log_warning("reply queue: dropping a reply of content type %s (calls are sent as "
			    "%s)", d->content_type != NULL ? d->content_type : "(none)",
			    proto_format_content_type(api_cfg.rpc_wire_format));
		goto out;
	}
	if (proto_decode_reply(fmt, d->body, d->len, &lim, &arena, &rep, detail,
			       sizeof(detail)) != PROTO_OK) {
		log_warning("reply queue: dropping an undecodable reply: %s", detail);
		goto out;
	}
	pthread_mutex_lock(&lock);
	for (i = 0; i < nslots; i++)
		if (slots[i].used && !slots[i].done && strcmp(slots[i].msg_id, rep.msg_id) == 0)
			break;
	if (i < nslots && (slots[i].body = malloc(d->len > 0 ? d->len : 1)) != NULL) {
		memcpy(slots[i].body, d->body, d->len);
		slots[i].len = d->len;
		finish(&slots[i], REPLIES_OK, &fn, &fn_arg);
	} else {
		/* The caller gave up (it answered 504) or never existed: nothing waits. */
		log_info("reply queue: dropping a reply for _msg_id %s: no call waits for it",
			 rep.msg_id);
	}
	pthread_mutex_unlock(&lock);
	if (fn != NULL)
		fn(fn_arg);
out:
	pv_arena_destroy(&arena);
}

static void *listen_main(void *arg)
{
	mq_conn *c = NULL;
	int attempt = 0;

	(void)arg;
	while (!should_stop()) {
		struct mq_delivery d;
		int rc;

		finish_waits(false);
		if (c == NULL) {
			c = listen_open();
			if (c == NULL) {
				int64_t until = util_now_ms() +
					util_backoff_ms(attempt++, REPLIES_BACKOFF_BASE_MS,
							REPLIES_BACKOFF_CAP_MS);

				while (util_now_ms() < until && !should_stop()) {
					util_sleep_ms(REPLIES_TICK_MS, NULL);
					finish_waits(false);
				}
				continue;
			}
			attempt = 0;
			set_ready(true);
		}
		rc = mq_next(c, &d, REPLIES_TICK_MS);
		if (rc == MQ_TIMEOUT)
			continue;
		if (rc == MQ_OK) {
			deliver(&d);
			rc = mq_ack(c, d.tag, false);
			mq_delivery_free(&d);
			if (rc == MQ_OK)
				continue;
		}
		log_warning("reply queue: connection lost (%s); reconnecting", mq_strerror(rc));
		set_ready(false);
		mq_close(c);
		c = NULL;
	}
	set_ready(false);
	mq_close(c);
	return NULL;
}

int replies_start(const struct replies_options *opt)
{
	char hex[33];

	opts = *opt;
	opt_url = strdup(opt->url != NULL ? opt->url : "");
	slots = calloc((size_t)opt->max_pending, sizeof(*slots));
	if (opt_url == NULL || slots == NULL)
		goto fail;
	opts.url = opt_url;
	nslots = opt->max_pending;
	util_hex_id(hex);
	snprintf(queue, sizeof(queue), "reply_%s", hex);
	if (pthread_create(&listener, NULL, listen_main, NULL) != 0)
		goto fail;
	listener_started = true;
	return 0;
fail:
	replies_stop();
	replies_free();
	return -1;
}

const char *replies_queue(void)
{
	return queue;
}

int replies_register(const char *msg_id)
{
	int slot = REPLIES_NOT_READY;

	pthread_mutex_lock(&lock);
	for (int i = 0; ready && i < nslots; i++) {
		if (!slots[i].used) {
			slots[i].used = true;
			slots[i].done = false;
			slots[i].body = NULL;
			util_strlcpy(slots[i].msg_id, msg_id, sizeof(slots[i].msg_id));
			slot = i;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return slot;
}

/* Frees slot s (its body too, unless taken). Called with lock held. */
static void release(struct slot *s)
{
	free(s->body);
	s->body = NULL;
	s->used = false;
	s->done = false;
	s->deadline_ms = 0;
	s->notify = NULL;
	s->notify_arg = NULL;
}

void replies_watch(int slot, int64_t deadline_ms, replies_notify_fn notify, void *arg)
{
	struct slot *s = &slots[slot];
	bool done;

	pthread_mutex_lock(&lock);
	done = s->done;
	s->deadline_ms = deadline_ms > 0 ? deadline_ms : 1;
	if (!done) {
		s->notify = notify;
		s->notify_arg = arg;
	}
	pthread_mutex_unlock(&lock);
	if (done)
		notify(arg);
}

int replies_take(int slot, char **body, size_t *len)
{
	struct slot *s = &slots[slot];
	int status = REPLIES_TIMEOUT;

	*body = NULL;
	*len = 0;
	pthread_mutex_lock(&lock);
	if (s->done) {
		status = s->status;
		*body = s->body;
		*len = s->len;
		s->body = NULL;
	}
	release(s);
	pthread_mutex_unlock(&lock);
	return status;
}

void replies_cancel(int slot)
{
	pthread_mutex_lock(&lock);
	release(&slots[slot]);
	pthread_mutex_unlock(&lock);
}

void replies_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_mutex_unlock(&lock);
	if (listener_started)
		pthread_join(listener, NULL);
	listener_started = false;
	/* The listener's last act ended every wait (set_ready(false)). */
}

void replies_free(void)
{
	for (int i = 0; i < nslots; i++)
		free(slots[i].body);
	free(slots);
	slots = NULL;
	nslots = 0;
	free(opt_url);
	opt_url = NULL;
}
