/*
 * mq.h - one AMQP 0-9-1 connection with one channel (librabbitmq 0.11).
 *
 * A connection either consumes (mq_consume + mq_next + mq_ack/mq_reject) or publishes with
 * publisher confirms (options.confirms), not both, so that confirms and deliveries never
 * interleave on one socket. Heartbeats are serviced only while the caller is inside
 * mq_next/mq_publish, so callers keep the work between calls bounded.
 *
 * There is no automatic recovery: after MQ_CONN_LOST the caller mq_close()s the handle, waits
 * (util_backoff_ms) and mq_open()s a new one, then declares its topology again. Delivery tags
 * from the old connection are dead and must be forgotten.
 *
 * Status convention: MQ_OK (0) or a negative enum mq_status. Not thread-safe: one thread per
 * handle at a time.
 *
 * A channel error from the broker (404 no such exchange or queue, 406 mismatched declare)
 * yields MQ_REFUSED and channel 1 is reopened, so the handle stays usable; on a connection
 * with consumers that cannot be done behind the caller's back, so it yields MQ_CONN_LOST.
 * The client announces consumer_cancel_notify, so a consumed queue that is deleted makes
 * mq_next return MQ_CONN_LOST instead of waiting on a consumer the broker dropped.
 * With heartbeats on, a connection left idle (no mq_* call) for about two heartbeat intervals
 * is dropped by the broker, and the next call returns MQ_CONN_LOST.
 */
#ifndef VOLMGR_COMMON_MQ_H
#define VOLMGR_COMMON_MQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mq_status {
	MQ_OK = 0,
	MQ_TIMEOUT = -1,     /* nothing arrived / no confirm before the deadline */
	MQ_NACKED = -2,      /* the broker refused the message (basic.nack) */
	MQ_UNROUTABLE = -3,  /* mandatory publish returned: no queue bound for the key */
	MQ_CONN_LOST = -4,   /* the connection or channel is gone: reopen */
	MQ_REFUSED = -5,     /* the broker refused an operation (e.g. declare mismatch, 406) */
	MQ_EMPTY = -6,       /* mq_get: the queue is empty */
	MQ_INVALID = -7,     /* bad argument or URL */
};

typedef struct mq_conn mq_conn;

struct mq_options {
	const char *url;        /* amqp://user:pass@host:port/vhost (copied); an empty vhost
				 * ("...:5672/") means "/". Several hosts in oslo.messaging's
				 * form, "amqp://u:p@h1:5672,u:p@h2:5673/vhost" (rabbit:// as
				 * well), are tried in order: see mq_open */
	int heartbeat;          /* seconds; 0 disables */
	bool confirms;          /* enable publisher confirms on the channel */
	int connect_timeout_ms; /* 0 means 5000 */
};

/*
 * Connects, logs in and opens channel 1. With several hosts in the URL it tries them in the
 * order written, wrapping around, and keeps the first that answers, so a caller that reopens
 * after MQ_CONN_LOST reaches another node of a cluster when its own is gone. It starts from
 * the host that answered the process's last mq_open, or from the one after it once a
 * connection to it was lost (mq_close of a dead handle), so a silent host costs its connect
 * and handshake timeouts (connect_timeout_ms each) once rather than at every reconnect.
 * Returns NULL with a readable reason in err: the last host's, with the number of hosts tried.
 */
__attribute__((warn_unused_result))
mq_conn *mq_open(const struct mq_options *opt, char *err, size_t errlen);

/* The most hosts a transport URL may name. */
#define MQ_URL_HOSTS_MAX 16

/*
 * Splits a transport URL, "scheme://[user[:pass]@]host[:port][,...]/[vhost]" with scheme amqp
 * or rabbit (oslo.messaging's name for the same AMQP 0-9-1 broker), into one
 * "amqp://[user[:pass]@]host[:port]/[vhost]" URL per host, in order, as librabbitmq parses
 * them (a host without credentials gets librabbitmq's guest:guest, as oslo.messaging gives it
 * its default user). A query ("?ssl=1", ...) is refused: no option it could carry is
 * supported. On success returns MQ_OK with *n (1..max) URLs in out[], each malloc'd and owned
 * by the caller; otherwise MQ_INVALID with a reason in err (which never quotes a password)
 * and nothing allocated.
 */
__attribute__((warn_unused_result))
int mq_url_hosts(const char *url, char **out, size_t max, size_t *n, char *err, size_t errlen);

/* Closes the channel and connection politely when they are alive, then frees. NULL is fine. */
void mq_close(mq_conn *mq);

struct mq_queue_options {
	bool durable;
	bool exclusive;
	bool auto_delete;
	bool quorum;                     /* x-queue-type = quorum (implies durable) */
	const char *dead_letter_exchange; /* x-dead-letter-exchange, or NULL */
	int expires_ms;                  /* x-expires, 0 for none */
	int max_length;                  /* x-max-length, 0 for none */
	bool stream;                     /* x-queue-type = stream (implies durable) */
	const char *max_age;             /* x-max-age ("7D", "12h"; streams), or NULL */
	int64_t max_length_bytes;        /* x-max-length-bytes, 0 for none */
	bool ha_all;                     /* x-ha-policy = all (oslo's rabbit_ha_queues) */
};

__attribute__((warn_unused_result))
int mq_declare_exchange(mq_conn *mq, const char *name, const char *type, bool durable);
/* As mq_declare_exchange; auto_delete: the broker deletes the exchange when its last binding
 * goes (oslo's fanout exchanges). */
__attribute__((warn_unused_result))
int mq_declare_exchange_ad(mq_conn *mq, const char *name, const char *type, bool durable,
			   bool auto_delete);
/* message_count may be NULL; otherwise it receives the queue's ready-message count. Passive
 * declare when opt is NULL (fails with MQ_REFUSED if the queue does not exist; the channel is
 * then reopened internally so the handle stays usable). */
__attribute__((warn_unused_result))
int mq_declare_queue(mq_conn *mq, const char *name, const struct mq_queue_options *opt,
		     uint32_t *message_count);
__attribute__((warn_unused_result))
int mq_bind(mq_conn *mq, const char *queue, const char *exchange, const char *routing_key);
/* Removes a binding; one that does not exist is no error. */
__attribute__((warn_unused_result))
int mq_unbind(mq_conn *mq, const char *queue, const char *exchange, const char *routing_key);
__attribute__((warn_unused_result))
int mq_purge(mq_conn *mq, const char *queue);

/* String-valued message headers. */
struct mq_header {
	const char *key;
	const char *value;
};

struct mq_props {
	const char *content_type;   /* NULL for none */
	const char *message_id;
	const char *correlation_id;
	const char *reply_to;
	const char *expiration;     /* per-message TTL in milliseconds, as text; NULL for none */
	bool persistent;            /* delivery_mode 2 */
	const struct mq_header *headers;
	size_t nheaders;
};

/*
 * Publishes body to exchange with routing_key. On a confirms connection it then waits up to
 * timeout_ms for the broker's verdict: MQ_OK (ack), MQ_NACKED, MQ_UNROUTABLE (mandatory and
 * returned), MQ_TIMEOUT, MQ_REFUSED (channel error, e.g. no such exchange) or MQ_CONN_LOST.
 * Confirms are matched by sequence number, so a late confirm of a publish that timed out is
 * skipped and the handle stays usable after MQ_TIMEOUT. Without confirms it returns after the
 * write (a message can then be lost without any error: use confirms when it matters).
 */
__attribute__((warn_unused_result))
int mq_publish(mq_conn *mq, const char *exchange, const char *routing_key, const void *body,
	       size_t len, const struct mq_props *props, bool mandatory, int timeout_ms);

/*
 * The pipelined form of mq_publish, for a confirms connection shared by several publishers:
 * writes the message and returns without waiting, with *seq set to its confirm sequence
 * number (1, 2, ... on the channel). The verdict arrives later through mq_read_confirms.
 * Returns MQ_OK, MQ_INVALID or MQ_CONN_LOST (the write failed).
 */
__attribute__((warn_unused_result))
int mq_publish_nowait(mq_conn *mq, const char *exchange, const char *routing_key,
		      const void *body, size_t len, const struct mq_props *props, bool mandatory,
		      uint64_t *seq);

/* The longest message_id a returned message reports (longer ones are truncated). */
#define MQ_MESSAGE_ID_MAX 128

/* One event of the broker's confirm stream. */
struct mq_confirm {
	enum { MQ_CONFIRM_ACK, MQ_CONFIRM_NACK, MQ_CONFIRM_RETURN } kind;
	uint64_t tag;        /* ACK, NACK: the sequence number confirmed ... */
	bool multiple;       /* ... and, when set, every earlier one too */
	char message_id[MQ_MESSAGE_ID_MAX]; /* RETURN: the returned message's message_id, or "" */
};

/* Does the ack or nack c settle publish number seq? */
bool mq_confirm_covers(const struct mq_confirm *c, uint64_t seq);

/*
 * Reads the confirm stream of a confirms connection: waits up to timeout_ms (0: only what
 * has already arrived) for the first event, then takes the events already received without
 * waiting again, up to max, into out[0..*n). A basic.return always precedes the ack of the
 * message it returns (mandatory publishes only); heartbeats are serviced on the way.
 * Returns MQ_OK (*n >= 1), MQ_TIMEOUT (*n == 0), MQ_REFUSED (the broker closed the channel:
 * every unconfirmed publish is lost, and the reopened channel numbers publishes from 1
 * again) or MQ_CONN_LOST; with an error, the *n events read before it are still valid.
 */
__attribute__((warn_unused_result))
int mq_read_confirms(mq_conn *mq, int timeout_ms, struct mq_confirm *out, size_t max,
		     size_t *n);

/*
 * For a caller that waits for input itself (poll) while other threads use the handle: the
 * socket, and whether input is already buffered in the handle (then polling the socket would
 * wait for nothing). Both read the handle, so they need the caller's lock; the descriptor may
 * then be polled without it. -1 when the handle is dead.
 */
int mq_socket_fd(mq_conn *mq);
bool mq_input_buffered(mq_conn *mq);

/* Sets basic.qos(prefetch) and starts consuming queue with manual acks. May be called for
 * several queues on one connection. */
__attribute__((warn_unused_result))
int mq_consume(mq_conn *mq, const char *queue, int prefetch);

/* A consumer argument (basic.consume arguments table). */
enum mq_arg_kind { MQ_ARG_STR, MQ_ARG_INT, MQ_ARG_TIMESTAMP };

struct mq_arg {
	const char *key;
	enum mq_arg_kind kind;
	const char *str;     /* MQ_ARG_STR */
	int64_t num;         /* MQ_ARG_INT; MQ_ARG_TIMESTAMP: seconds since the epoch */
};

/* As mq_consume, with consumer arguments, e.g. x-stream-offset (a stream requires a prefetch,
 * and reads from the offset, the timestamp, or "first" / "last" / "next"). */
__attribute__((warn_unused_result))
int mq_consume_args(mq_conn *mq, const char *queue, int prefetch, const struct mq_arg *args,
		    size_t nargs);

/* One delivered message. Every pointer is owned by the delivery and valid until
 * mq_delivery_free; strings are NUL-terminated copies; body is not NUL-terminated. */
struct mq_delivery {
	uint64_t tag;
	bool redelivered;
	char *exchange;
	char *routing_key;
	char *content_type;   /* NULL when absent */
	char *message_id;     /* NULL when absent */
	char *reply_to;       /* NULL when absent */
	char *correlation_id; /* NULL when absent */
	void *body;
	size_t len;
	struct mq_header *headers; /* string and integer headers (integers printed as text) */
	size_t nheaders;
	long delivery_count;  /* x-delivery-count (quorum queues), or -1 */
};

/* Waits up to timeout_ms for the next delivery: MQ_OK (fill *out; free with
 * mq_delivery_free), MQ_TIMEOUT or MQ_CONN_LOST. */
__attribute__((warn_unused_result))
int mq_next(mq_conn *mq, struct mq_delivery *out, int timeout_ms);

/* basic.get: MQ_OK (fill *out), MQ_EMPTY or an error. With auto_ack false the caller must
 * mq_ack or mq_reject out->tag. */
__attribute__((warn_unused_result))
int mq_get(mq_conn *mq, const char *queue, bool auto_ack, struct mq_delivery *out);

void mq_delivery_free(struct mq_delivery *d);

/* The value of header key in d, or NULL. */
const char *mq_delivery_header(const struct mq_delivery *d, const char *key);

__attribute__((warn_unused_result)) int mq_ack(mq_conn *mq, uint64_t tag, bool multiple);
__attribute__((warn_unused_result)) int mq_reject(mq_conn *mq, uint64_t tag, bool requeue);

const char *mq_strerror(int status);

#endif
