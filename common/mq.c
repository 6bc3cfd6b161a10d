/*
 * mq.c - one AMQP connection and channel 1 on librabbitmq 0.11: declares, confirmed publishes,
 * manual-ack consumption.
 */
#include "common/mq.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif

#include "common/log.h"
#include "common/util.h"

#define MQ_CHANNEL 1
#define MQ_FRAME_MAX 131072
#define MQ_CONNECT_TIMEOUT_MS 5000
/* Bounds every synchronous method (declare, bind, qos, close...). librabbitmq closes the
 * socket when it expires, which the handle reports as MQ_CONN_LOST. */
#define MQ_RPC_TIMEOUT_MS 30000
#define MQ_CLOSE_TIMEOUT_MS 2000
/* Headers kept from a delivery and accepted on a publish. */
#define MQ_HEADERS_MAX 64

struct mq_conn {
	amqp_connection_state_t conn;
	char *url;                       /* amqp_parse_url's buffer: info points into it */
	struct amqp_connection_info info;
	bool confirms;
	bool dead;                       /* every call now returns MQ_CONN_LOST */
	bool conn_open;                  /* logged in; the peer has not closed the connection */
	bool channel_open;
	uint64_t publish_seq;            /* confirm sequence number of the last publish */
	int nconsumers;
	size_t host;                     /* which host of the transport URL this is ... */
	size_t nhosts;                   /* ... of how many */
};

/*
 * The host of a multi-host transport URL that the process's next mq_open tries first: the
 * one that answered last, or the one after a host whose connection was lost. Without it
 * every reconnect would first wait out the connect timeout of a host that is gone (a crashed
 * node does not refuse, it stays silent). One index for the process: the daemons use one
 * transport URL, and for another URL it is only a starting point, taken modulo its hosts.
 */
static atomic_size_t mq_first_host;

static const char *const mq_status_names[] = {
	[0] = "ok",
	[1] = "timed out",
	[2] = "refused by the broker (nack)",
	[3] = "unroutable (returned)",
	[4] = "connection lost",
	[5] = "refused by the broker",
	[6] = "queue is empty",
	[7] = "invalid argument",
};

const char *mq_strerror(int status)
{
	if (status > 0 || status < MQ_INVALID)
		return "unknown status";
	return mq_status_names[-status];
}

static struct timeval mq_timeval(int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

static amqp_bytes_t mq_bytes(const char *s)
{
	return amqp_cstring_bytes(s != NULL ? s : "");
}

/* A NUL-terminated copy of b, or NULL when out of memory. */
static char *mq_strdup_bytes(amqp_bytes_t b)
{
	char *s = malloc(b.len + 1);

	if (s != NULL) {
		if (b.len > 0)
			memcpy(s, b.bytes, b.len);
		s[b.len] = '\0';
	}
	return s;
}

static void mq_reply_text(amqp_rpc_reply_t r, char *buf, size_t len)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		snprintf(buf, len, "ok");
		return;
	case AMQP_RESPONSE_NONE:
		snprintf(buf, len, "no reply");
		return;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(buf, len, "%s", amqp_error_string2(r.library_error));
		return;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = r.reply.decoded;

			snprintf(buf, len, "connection closed by the broker: %u %.*s", m->reply_code,
				 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = r.reply.decoded;

			snprintf(buf, len, "channel closed by the broker: %u %.*s", m->reply_code,
				 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else {
			snprintf(buf, len, "unexpected method 0x%08x", (unsigned)r.reply.id);
		}
		return;
	}
	snprintf(buf, len, "unknown reply");
}

/* The connection is unusable: status is a librabbitmq status (socket, heartbeat, timeout). */
static int mq_lost(mq_conn *mq, const char *what, const char *why)
{
	if (!mq->dead)
		log_warning("mq: %s: %s; connection lost", what, why);
	mq->dead = true;
	mq->conn_open = false;
	mq->channel_open = false;
	return MQ_CONN_LOST;
}

static int mq_lost_status(mq_conn *mq, const char *what, int status)
{
	return mq_lost(mq, what, amqp_error_string2(status));
}

/* The broker closed the connection (connection.close): answer it and give up the handle. */
static int mq_on_connection_close(mq_conn *mq, const amqp_connection_close_t *m, const char *what)
{
	amqp_connection_close_ok_t ok;
	char why[256];

	snprintf(why, sizeof(why), "connection closed by the broker: %u %.*s", m->reply_code,
		 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
	memset(&ok, 0, sizeof(ok));
	(void)amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
	return mq_lost(mq, what, why);
}

/* Opens channel 1 and, on a publisher, puts it in confirm mode. */
static int mq_open_channel(mq_conn *mq, char *why, size_t whylen)
{
	amqp_rpc_reply_t r;

	if (amqp_channel_open(mq->conn, MQ_CHANNEL) == NULL) {
		r = amqp_get_rpc_reply(mq->conn);
		mq_reply_text(r, why, whylen);
		return -1;
	}
	mq->channel_open = true;
	mq->publish_seq = 0;
	if (mq->confirms && amqp_confirm_select(mq->conn, MQ_CHANNEL) == NULL) {
		r = amqp_get_rpc_reply(mq->conn);
		mq_reply_text(r, why, whylen);
		return -1;
	}
	return 0;
}

/*
 * The broker closed channel 1 (a channel exception: 404 no such queue or exchange, 406
 * mismatched declare...). The channel is reopened so the handle stays usable, unless it had
 * consumers: those cannot be restored behind the caller's back (their delivery tags died with
 * the channel), so the handle is given up instead.
 */
static int mq_on_channel_close(mq_conn *mq, const amqp_channel_close_t *m, const char *what)
{
	amqp_channel_close_ok_t ok;
	char why[256];

	log_warning("mq: %s: channel closed by the broker: %u %.*s", what, m->reply_code,
		    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
	memset(&ok, 0, sizeof(ok));
	mq->channel_open = false;
	if (amqp_send_method(mq->conn, MQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != 0)
		return mq_lost(mq, what, "cannot acknowledge the channel close");
	if (mq->nconsumers > 0)
		return mq_lost(mq, what, "the channel had consumers");
	if (mq_open_channel(mq, why, sizeof(why)) != 0)
		return mq_lost(mq, "reopening the channel", why);
	return MQ_REFUSED;
}

/* Maps the reply of a synchronous method to a status. */
static int mq_check_reply(mq_conn *mq, amqp_rpc_reply_t r, const char *what)
{
	char why[256];

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return MQ_OK;
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
			return mq_on_channel_close(mq, r.reply.decoded, what);
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
			return mq_on_connection_close(mq, r.reply.decoded, what);
	}
	mq_reply_text(r, why, sizeof(why));
	return mq_lost(mq, what, why);
}

/* For the librabbitmq wrappers that return a *_ok_t pointer or NULL. */
static int mq_check_rpc(mq_conn *mq, const void *ok, const char *what)
{
	return ok != NULL ? MQ_OK : mq_check_reply(mq, amqp_get_rpc_reply(mq->conn), what);
}

/*
 * Logs in announcing the client capability consumer_cancel_notify: without it the broker
 * silently drops a consumer whose queue was deleted, and mq_next would wait on it for ever.
 * With it the broker sends basic.cancel, which mq_next reports as MQ_CONN_LOST so that the
 * caller reconnects and declares its topology again. librabbitmq merges this capabilities
 * table with its own defaults.
 */
static amqp_rpc_reply_t mq_login(mq_conn *mq, int heartbeat)
{
	amqp_table_entry_t caps[] = {
		{ .key = amqp_cstring_bytes("consumer_cancel_notify"),
		  .value = { .kind = AMQP_FIELD_KIND_BOOLEAN, .value = { .boolean = 1 } } },
	};
	amqp_table_entry_t props[] = {
		{ .key = amqp_cstring_bytes("capabilities"),
		  .value = { .kind = AMQP_FIELD_KIND_TABLE,
			     .value = { .table = { .num_entries = 1, .entries = caps } } } },
	};
	amqp_table_t table = { .num_entries = 1, .entries = props };

	return amqp_login_with_properties(mq->conn, mq->info.vhost, 0, MQ_FRAME_MAX, heartbeat,
					  &table, AMQP_SASL_METHOD_PLAIN, mq->info.user,
					  mq->info.password);
}

int mq_url_hosts(const char *url, char **out, size_t max, size_t *n, char *err, size_t errlen)
{
	static const char *const schemes[] = { "amqp://", "rabbit://" };
	const char *authority = NULL, *path, *entry;
	size_t count = 0;

	*n = 0;
	if (strncmp(url, "amqps://", 8) == 0) {
		snprintf(err, errlen, "amqps:// (TLS) is not supported");
		return MQ_INVALID;
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && authority == NULL; i++)
		if (strncmp(url, schemes[i], strlen(schemes[i])) == 0)
			authority = url + strlen(schemes[i]);
	if (authority == NULL) {
		snprintf(err, errlen, "invalid transport URL (expected amqp:// or rabbit://)");
		return MQ_INVALID;
	}
	/* A password holding '/', '?' or ',' must be percent-encoded, as in oslo.messaging's
	 * parser, so the first of them ends the hosts. */
	path = authority + strcspn(authority, "/?");
	if (strchr(path, '?') != NULL) {
		snprintf(err, errlen, "transport URL options (\"?...\") are not supported");
		return MQ_INVALID;
	}
	for (entry = authority; entry <= path; count++) {
		size_t len = strcspn(entry, ",/");

		if (len > (size_t)(path - entry))
			len = (size_t)(path - entry);
		if (len == 0 || count == max) {
			snprintf(err, errlen, len == 0 ? "transport URL has an empty host" :
				 "transport URL names more than %zu hosts", max);
			goto fail;
		}
		/* "amqp://" + the host entry + the path ("/vhost", possibly empty) + NUL */
		out[count] = malloc(7 + len + strlen(path) + 1);
		if (out[count] == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		sprintf(out[count], "amqp://%.*s%s", (int)len, entry, path);
		entry += len + 1;
	}
	*n = count;
	return MQ_OK;
fail:
	while (count > 0)
		free(out[--count]);
	return MQ_INVALID;
}

/* mq_open for one host's URL ("amqp://user:pass@host:port/vhost"). */
static mq_conn *mq_open_host(const char *url, const struct mq_options *opt, char *err,
			     size_t errlen)
{
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	struct timeval tv;
	char why[256];
	mq_conn *mq;
	int rc, ms;

	mq = calloc(1, sizeof(*mq));
	if (mq == NULL || (mq->url = strdup(url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	mq->confirms = opt->confirms;
	/* The URL carries a password, so messages name only host, port and vhost. */
	if (amqp_parse_url(mq->url, &mq->info) != AMQP_STATUS_OK) {
		snprintf(err, errlen, "invalid transport URL (expected amqp://user:pass@host:port/vhost)");
		goto fail;
	}
	/* "amqp://host/" parses to an empty vhost; like oslo.messaging, that means the default
	 * vhost "/" (which a URL names explicitly as "%2F"). */
	if (mq->info.vhost[0] == '\0')
		mq->info.vhost = "/";
	mq->conn = amqp_new_connection();
	sock = mq->conn != NULL ? amqp_tcp_socket_new(mq->conn) : NULL;
	if (sock == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : MQ_CONNECT_TIMEOUT_MS;
	tv = mq_timeval(ms);
	rc = amqp_socket_open_noblock(sock, mq->info.host, mq->info.port, &tv);
	if (rc != AMQP_STATUS_OK) {
		snprintf(err, errlen, "cannot connect to %s:%d: %s", mq->info.host, mq->info.port,
			 amqp_error_string2(rc));
		goto fail;
	}
	(void)amqp_set_handshake_timeout(mq->conn, &tv);
	tv = mq_timeval(MQ_RPC_TIMEOUT_MS);
	(void)amqp_set_rpc_timeout(mq->conn, &tv);
	r = mq_login(mq, opt->heartbeat > 0 ? opt->heartbeat : 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		mq_reply_text(r, why, sizeof(why));
		snprintf(err, errlen, "login to %s:%d vhost %s failed: %s", mq->info.host,
			 mq->info.port, mq->info.vhost, why);
		goto fail;
	}
	mq->conn_open = true;
	if (mq_open_channel(mq, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot open a channel on %s:%d: %s", mq->info.host,
			 mq->info.port, why);
		goto fail;
	}
	log_debug("mq: connected to %s:%d vhost %s (heartbeat %d s%s)", mq->info.host,
		  mq->info.port, mq->info.vhost, amqp_get_heartbeat(mq->conn),
		  mq->confirms ? ", confirms" : "");
	return mq;
fail:
	mq_close(mq);
	return NULL;
}

mq_conn *mq_open(const struct mq_options *opt, char *err, size_t errlen)
{
	static char scratch[8];
	char *hosts[MQ_URL_HOSTS_MAX];
	mq_conn *mq = NULL;
	size_t n = 0, i = 0, k, first;

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (opt == NULL || opt->url == NULL) {
		snprintf(err, errlen, "no transport URL");
		return NULL;
	}
	if (mq_url_hosts(opt->url, hosts, MQ_URL_HOSTS_MAX, &n, err, errlen) != MQ_OK)
		return NULL;
	/* In the order written, from the host that answered last (see mq_first_host). */
	first = atomic_load(&mq_first_host) % n;
	for (k = 0; k < n && mq == NULL; k++) {
		i = (first + k) % n;
		mq = mq_open_host(hosts[i], opt, err, errlen);
		if (mq == NULL && n > 1)
			log_debug("mq: host %zu of %zu: %s", i + 1, n, err);
	}
	if (mq != NULL) {
		mq->host = i;
		mq->nhosts = n;
		atomic_store(&mq_first_host, i);
		if (k > 1)
			log_info("mq: connected to %s:%d, host %zu of %zu, after %zu that did not "
				 "answer", mq->info.host, mq->info.port, i + 1, n, k - 1);
	}
	if (mq == NULL && n > 1) {
		char last[256];

		snprintf(last, sizeof(last), "%s", err);
		snprintf(err, errlen, "none of the %zu hosts answered; the last: %s", n, last);
	}
	for (i = 0; i < n; i++)
		free(hosts[i]);
	return mq;
}

void mq_close(mq_conn *mq)
{
	if (mq == NULL)
		return;
	/* A lost connection sends the next mq_open to the following host first, unless another
	 * connection of the process has already moved on. */
	if (mq->dead && mq->nhosts > 1) {
		size_t lost = mq->host;

		(void)atomic_compare_exchange_strong(&mq_first_host, &lost,
						     (mq->host + 1) % mq->nhosts);
	}
	if (mq->conn != NULL) {
		/* A polite close is worth a short wait only: a broker that does not answer in
		 * time is as good as gone. */
		struct timeval tv = mq_timeval(MQ_CLOSE_TIMEOUT_MS);

		(void)amqp_set_rpc_timeout(mq->conn, &tv);
		if (mq->conn_open && mq->channel_open)
			(void)amqp_channel_close(mq->conn, MQ_CHANNEL, AMQP_REPLY_SUCCESS);
		if (mq->conn_open)
			(void)amqp_connection_close(mq->conn, AMQP_REPLY_SUCCESS);
		(void)amqp_destroy_connection(mq->conn);
	}
	free(mq->url);
	free(mq);
}

int mq_declare_exchange(mq_conn *mq, const char *name, const char *type, bool durable)
{
	return mq_declare_exchange_ad(mq, name, type, durable, false);
}

int mq_declare_exchange_ad(mq_conn *mq, const char *name, const char *type, bool durable,
			   bool auto_delete)
{
	const void *ok;

	if (mq->dead)
		return MQ_CONN_LOST;
	if (name == NULL || type == NULL)
		return MQ_INVALID;
	ok = amqp_exchange_declare(mq->conn, MQ_CHANNEL, mq_bytes(name), mq_bytes(type), 0,
				   durable, auto_delete, 0, amqp_empty_table);
	return mq_check_rpc(mq, ok, "exchange.declare");
}

int mq_declare_queue(mq_conn *mq, const char *name, const struct mq_queue_options *opt,
		     uint32_t *message_count)
{
	amqp_table_entry_t args[7];
	amqp_queue_declare_ok_t *ok;
	amqp_table_t table = { 0, args };
	bool durable = false, exclusive = false, auto_delete = false;
	int rc;

	if (mq->dead)
		return MQ_CONN_LOST;
	if (name == NULL)
		return MQ_INVALID;
	if (opt != NULL) {
		durable = opt->durable || opt->quorum || opt->stream;
		exclusive = opt->exclusive;
		auto_delete = opt->auto_delete;
		if (opt->quorum || opt->stream) {
			args[table.num_entries].key = amqp_cstring_bytes("x-queue-type");
			args[table.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
			args[table.num_entries++].value.value.bytes =
				amqp_cstring_bytes(opt->stream ? "stream" : "quorum");
		}
		if (opt->max_age != NULL) {
			args[table.num_entries].key = amqp_cstring_bytes("x-max-age");
			args[table.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
			args[table.num_entries++].value.value.bytes = amqp_cstring_bytes(opt->max_age);
		}
		if (opt->max_length_bytes > 0) {
			args[table.num_entries].key = amqp_cstring_bytes("x-max-length-bytes");
			args[table.num_entries].value.kind = AMQP_FIELD_KIND_I64;
			args[table.num_entries++].value.value.i64 = opt->max_length_bytes;
		}
		if (opt->dead_letter_exchange != NULL) {
			args[table.num_entries].key = amqp_cstring_bytes("x-dead-letter-exchange");
			args[table.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
			args[table.num_entries++].value.value.bytes =
				amqp_cstring_bytes(opt->dead_letter_exchange);
		}
		if (opt->expires_ms > 0) {
			args[table.num_entries].key = amqp_cstring_bytes("x-expires");
			args[table.num_entries].value.kind = AMQP_FIELD_KIND_I32;
			args[table.num_entries++].value.value.i32 = opt->expires_ms;
		}
		if (opt->max_length > 0) {
			args[table.num_entries].key = amqp_cstring_bytes("x-max-length");
			args[table.num_entries].value.kind = AMQP_FIELD_KIND_I32;
			args[table.num_entries++].value.value.i32 = opt->max_length;
		}
		if (opt->ha_all) {
			args[table.num_entries].key = amqp_cstring_bytes("x-ha-policy");
			args[table.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
			args[table.num_entries++].value.value.bytes = amqp_cstring_bytes("all");
		}
	}
	ok = amqp_queue_declare(mq->conn, MQ_CHANNEL, mq_bytes(name), opt == NULL, durable,
				exclusive, auto_delete, table);
	rc = mq_check_rpc(mq, ok, opt == NULL ? "queue.declare (passive)" : "queue.declare");
	if (rc == MQ_OK && message_count != NULL)
		*message_count = ok->message_count;
	return rc;
}

int mq_bind(mq_conn *mq, const char *queue, const char *exchange, const char *routing_key)
{
	const void *ok;

	if (mq->dead)
		return MQ_CONN_LOST;
	if (queue == NULL || exchange == NULL)
		return MQ_INVALID;
	ok = amqp_queue_bind(mq->conn, MQ_CHANNEL, mq_bytes(queue), mq_bytes(exchange),
			     mq_bytes(routing_key), amqp_empty_table);
	return mq_check_rpc(mq, ok, "queue.bind");
}

int mq_unbind(mq_conn *mq, const char *queue, const char *exchange, const char *routing_key)
{
	const void *ok;

	if (mq->dead)
		return MQ_CONN_LOST;
	if (queue == NULL || exchange == NULL)
		return MQ_INVALID;
	ok = amqp_queue_unbind(mq->conn, MQ_CHANNEL, mq_bytes(queue), mq_bytes(exchange),
			       mq_bytes(routing_key), amqp_empty_table);
	return mq_check_rpc(mq, ok, "queue.unbind");
}

int mq_purge(mq_conn *mq, const char *queue)
{
	const void *ok;

	if (mq->dead)
		return MQ_CONN_LOST;
	if (queue == NULL)
		return MQ_INVALID;
	ok = amqp_queue_purge(mq->conn, MQ_CHANNEL, mq_bytes(queue));
	return mq_check_rpc(mq, ok, "queue.purge");
}

/* Waits until deadline for a frame: MQ_OK with a method frame in *f, MQ_EMPTY for a frame of
 * another kind (a heartbeat), MQ_TIMEOUT or MQ_CONN_LOST. */
static int mq_wait_method(mq_conn *mq, int64_t deadline, amqp_frame_t *f, const char *what)
{
	struct timeval tv = mq_timeval(deadline - util_now_ms());
	int rc = amqp_simple_wait_frame_noblock(mq->conn, f, &tv);

	if (rc == AMQP_STATUS_TIMEOUT)
		return MQ_TIMEOUT;
	if (rc != AMQP_STATUS_OK)
		return mq_lost_status(mq, what, rc);
	return f->frame_type == AMQP_FRAME_METHOD ? MQ_OK : MQ_EMPTY;
}

bool mq_confirm_covers(const struct mq_confirm *c, uint64_t seq)
{
	if (c->kind == MQ_CONFIRM_RETURN)
		return false;
	return c->tag == seq || (c->multiple && c->tag > seq);
}

/* Reads the returned message that follows a basic.return and keeps its message_id in ev. */
static int mq_on_return(mq_conn *mq, const amqp_frame_t *f, struct mq_confirm *ev)
{
	const amqp_basic_return_t *m = f->payload.method.decoded;
	amqp_message_t msg;
	amqp_rpc_reply_t r;
	char why[256];

	log_info("mq: publish to %.*s with key %.*s returned: %u %.*s",
		 (int)m->exchange.len, (const char *)m->exchange.bytes,
		 (int)m->routing_key.len, (const char *)m->routing_key.bytes,
		 m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
	r = amqp_read_message(mq->conn, f->channel, &msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		mq_reply_text(r, why, sizeof(why));
		return mq_lost(mq, "reading a returned message", why);
	}
	ev->kind = MQ_CONFIRM_RETURN;
	ev->message_id[0] = '\0';
	if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
		size_t len = msg.properties.message_id.len;

		if (len >= sizeof(ev->message_id))
			len = sizeof(ev->message_id) - 1;
		memcpy(ev->message_id, msg.properties.message_id.bytes, len);
		ev->message_id[len] = '\0';
	}
	amqp_destroy_message(&msg);
	return MQ_OK;
}

/*
 * Reads one frame of the confirm stream, waiting until deadline. Returns MQ_OK with *got set
 * when it was an event (into ev), MQ_OK without when it was something else (a heartbeat),
 * or MQ_TIMEOUT, MQ_REFUSED, MQ_CONN_LOST.
 */
static int mq_confirm_frame(mq_conn *mq, int64_t deadline, struct mq_confirm *ev, bool *got)
{
	amqp_frame_t f;
	int rc;

	*got = false;
	amqp_maybe_release_buffers(mq->conn);
	rc = mq_wait_method(mq, deadline, &f, "waiting for a publisher confirm");
	if (rc != MQ_OK)
		return rc == MQ_EMPTY ? MQ_OK : rc;
	switch (f.payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		const amqp_basic_ack_t *a = f.payload.method.decoded;

		*ev = (struct mq_confirm){ .kind = MQ_CONFIRM_ACK, .tag = a->delivery_tag,
					   .multiple = a->multiple };
		*got = true;
		return MQ_OK;
	}
	case AMQP_BASIC_NACK_METHOD: {
		const amqp_basic_nack_t *n = f.payload.method.decoded;

		log_warning("mq: the broker nacked a publish");
		*ev = (struct mq_confirm){ .kind = MQ_CONFIRM_NACK, .tag = n->delivery_tag,
					   .multiple = n->multiple };
		*got = true;
		return MQ_OK;
	}
	case AMQP_BASIC_RETURN_METHOD:
		rc = mq_on_return(mq, &f, ev);
		*got = rc == MQ_OK;
		return rc;
	case AMQP_CHANNEL_CLOSE_METHOD:
		return mq_on_channel_close(mq, f.payload.method.decoded, "basic.publish");
	case AMQP_CONNECTION_CLOSE_METHOD:
		return mq_on_connection_close(mq, f.payload.method.decoded, "basic.publish");
	default:
		return MQ_OK;
	}
}

int mq_read_confirms(mq_conn *mq, int timeout_ms, struct mq_confirm *out, size_t max,
		     size_t *n)
{
	int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	*n = 0;
	if (mq->dead)
		return MQ_CONN_LOST;
	if (!mq->confirms || out == NULL || max == 0)
		return MQ_INVALID;
	while (*n < max) {
		bool got;
		int rc = mq_confirm_frame(mq, *n > 0 ? 0 : deadline, &out[*n], &got);

		if (rc == MQ_TIMEOUT)
			break;
		if (rc != MQ_OK)
			return rc;
		if (got)
			(*n)++;
		else if (*n == 0 && util_now_ms() >= deadline)
			break;
	}
	return *n > 0 ? MQ_OK : MQ_TIMEOUT;
}

int mq_socket_fd(mq_conn *mq)
{
	return mq->dead ? -1 : amqp_get_sockfd(mq->conn);
}

bool mq_input_buffered(mq_conn *mq)
{
	return !mq->dead && (amqp_frames_enqueued(mq->conn) || amqp_data_in_buffer(mq->conn));
}

/*
 * Waits for the broker's verdict on publish number seq. A basic.return precedes the ack of the
 * message it returns, so "returned" is remembered until the next ack; confirms of earlier
 * publishes that timed out arrive late and are skipped.
 */
static int mq_wait_confirm(mq_conn *mq, uint64_t seq, int timeout_ms)
{
	int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	bool returned = false;

	for (;;) {
		struct mq_confirm ev;
		size_t n;
		int rc = mq_read_confirms(mq, (int)(deadline - util_now_ms()), &ev, 1, &n);

		if (rc == MQ_TIMEOUT) {
			log_warning("mq: no publisher confirm within %d ms", timeout_ms);
			return MQ_TIMEOUT;
		}
		if (rc != MQ_OK)
			return rc;
		if (ev.kind == MQ_CONFIRM_RETURN) {
			returned = true;
		} else if (mq_confirm_covers(&ev, seq)) {
			if (ev.kind == MQ_CONFIRM_NACK)
				return MQ_NACKED;
			return returned ? MQ_UNROUTABLE : MQ_OK;
		} else {
			returned = false;
		}
	}
}

int mq_publish_nowait(mq_conn *mq, const char *exchange, const char *routing_key,
		      const void *body, size_t len, const struct mq_props *props, bool mandatory,
		      uint64_t *seq)
{
	amqp_table_entry_t headers[MQ_HEADERS_MAX];
	amqp_basic_properties_t p;
	amqp_bytes_t b;
	int rc;

	if (mq->dead)
		return MQ_CONN_LOST;
	if (exchange == NULL || routing_key == NULL || (body == NULL && len > 0))
		return MQ_INVALID;
	memset(&p, 0, sizeof(p));
	if (props != NULL) {
		if (props->nheaders > MQ_HEADERS_MAX || (props->nheaders > 0 && props->headers == NULL))
			return MQ_INVALID;
		if (props->content_type != NULL) {
			p._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
			p.content_type = amqp_cstring_bytes(props->content_type);
		}
		if (props->message_id != NULL) {
			p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
			p.message_id = amqp_cstring_bytes(props->message_id);
		}
		if (props->correlation_id != NULL) {
			p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
			p.correlation_id = amqp_cstring_bytes(props->correlation_id);
		}
		if (props->reply_to != NULL) {
			p._flags |= AMQP_BASIC_REPLY_TO_FLAG;
			p.reply_to = amqp_cstring_bytes(props->reply_to);
		}
		if (props->expiration != NULL) {
			p._flags |= AMQP_BASIC_EXPIRATION_FLAG;
			p.expiration = amqp_cstring_bytes(props->expiration);
		}
		p._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
		p.delivery_mode = props->persistent ? 2 : 1;
		if (props->nheaders > 0) {
			for (size_t i = 0; i < props->nheaders; i++) {
				headers[i].key = mq_bytes(props->headers[i].key);
				headers[i].value.kind = AMQP_FIELD_KIND_UTF8;
				headers[i].value.value.bytes = mq_bytes(props->headers[i].value);
			}
			p._flags |= AMQP_BASIC_HEADERS_FLAG;
			p.headers.num_entries = (int)props->nheaders;
			p.headers.entries = headers;
		}
	}
	b.len = len;
	b.bytes = (void *)body;
	rc = amqp_basic_publish(mq->conn, MQ_CHANNEL, mq_bytes(exchange), mq_bytes(routing_key),
				mandatory, 0, &p, b);
	if (rc != AMQP_STATUS_OK)
		return mq_lost_status(mq, "basic.publish", rc);
	*seq = mq->confirms ? ++mq->publish_seq : 0;
	return MQ_OK;
}

int mq_publish(mq_conn *mq, const char *exchange, const char *routing_key, const void *body,
	       size_t len, const struct mq_props *props, bool mandatory, int timeout_ms)
{
	uint64_t seq = 0;
	int rc = mq_publish_nowait(mq, exchange, routing_key, body, len, props, mandatory, &seq);

	if (rc != MQ_OK || !mq->confirms)
		return rc;
	return mq_wait_confirm(mq, seq, timeout_ms);
}

int mq_consume(mq_conn *mq, const char *queue, int prefetch)
{
	return mq_consume_args(mq, queue, prefetch, NULL, 0);
}

int mq_consume_args(mq_conn *mq, const char *queue, int prefetch, const struct mq_arg *args,
		    size_t nargs)
{
	amqp_table_entry_t entries[MQ_HEADERS_MAX];
	amqp_table_t table = { 0, entries };
	const void *ok;
	int rc;

	if (mq->dead)
		return MQ_CONN_LOST;
	if (queue == NULL || prefetch < 0 || prefetch > 65535 || nargs > MQ_HEADERS_MAX ||
	    (nargs > 0 && args == NULL))
		return MQ_INVALID;
	for (size_t i = 0; i < nargs; i++) {
		amqp_field_value_t *v = &entries[i].value;

		entries[i].key = mq_bytes(args[i].key);
		switch (args[i].kind) {
		case MQ_ARG_STR:
			v->kind = AMQP_FIELD_KIND_UTF8;
			v->value.bytes = mq_bytes(args[i].str);
			break;
		case MQ_ARG_INT:
			v->kind = AMQP_FIELD_KIND_I64;
			v->value.i64 = args[i].num;
			break;
		case MQ_ARG_TIMESTAMP:
			v->kind = AMQP_FIELD_KIND_TIMESTAMP;
			v->value.u64 = (uint64_t)args[i].num;
			break;
		}
	}
	table.num_entries = (int)nargs;
	ok = amqp_basic_qos(mq->conn, MQ_CHANNEL, 0, (uint16_t)prefetch, 0);
	rc = mq_check_rpc(mq, ok, "basic.qos");
	if (rc != MQ_OK)
		return rc;
	ok = amqp_basic_consume(mq->conn, MQ_CHANNEL, mq_bytes(queue), amqp_empty_bytes, 0, 0, 0,
				table);
	rc = mq_check_rpc(mq, ok, "basic.consume");
	if (rc == MQ_OK)
		mq->nconsumers++;
	return rc;
}

void mq_delivery_free(struct mq_delivery *d)
{
	if (d == NULL)
		return;
	free(d->exchange);
	free(d->routing_key);
	free(d->content_type);
	free(d->message_id);
	free(d->reply_to);
	free(d->correlation_id);
	free(d->body);
	for (size_t i = 0; i < d->nheaders; i++) {
		free((char *)d->headers[i].key);
		free((char *)d->headers[i].value);
	}
	free(d->headers);
	memset(d, 0, sizeof(*d));
	d->delivery_count = -1;
}

const char *mq_delivery_header(const struct mq_delivery *d, const char *key)
{
	for (size_t i = 0; i < d->nheaders; i++) {
		if (strcmp(d->headers[i].key, key) == 0)
			return d->headers[i].value;
	}
	return NULL;
}

/* A header value as text: strings as they are, integers in decimal; NULL for other kinds. */
static char *mq_field_text(const amqp_field_value_t *v, bool *is_int, long long *ival)
{
	char buf[32];

	*is_int = true;
	switch (v->kind) {
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		*is_int = false;
		return mq_strdup_bytes(v->value.bytes);
	case AMQP_FIELD_KIND_I8: *ival = v->value.i8; break;
	case AMQP_FIELD_KIND_U8: *ival = v->value.u8; break;
	case AMQP_FIELD_KIND_I16: *ival = v->value.i16; break;
	case AMQP_FIELD_KIND_U16: *ival = v->value.u16; break;
	case AMQP_FIELD_KIND_I32: *ival = v->value.i32; break;
	case AMQP_FIELD_KIND_U32: *ival = v->value.u32; break;
	case AMQP_FIELD_KIND_I64: *ival = v->value.i64; break;
	case AMQP_FIELD_KIND_U64:
		*ival = v->value.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (long long)v->value.u64;
		break;
	default:
		*is_int = false;
		return NULL;
	}
	snprintf(buf, sizeof(buf), "%lld", *ival);
	return strdup(buf);
}

/* Copies the message's properties and headers into d, and takes its body: librabbitmq
 * mallocs a message body of its own (amqp_read_message) and frees it with the message, so
 * the body is handed over instead of copied, once per delivery. Returns 0 or -1 (no memory). */
static int mq_fill_message(struct mq_delivery *d, amqp_message_t *m)
{
	const amqp_basic_properties_t *p = &m->properties;
	const struct {
		amqp_flags_t flag;
		const amqp_bytes_t *src;
		char **dst;
	} strs[] = {
		{ AMQP_BASIC_CONTENT_TYPE_FLAG, &p->content_type, &d->content_type },
		{ AMQP_BASIC_MESSAGE_ID_FLAG, &p->message_id, &d->message_id },
		{ AMQP_BASIC_REPLY_TO_FLAG, &p->reply_to, &d->reply_to },
		{ AMQP_BASIC_CORRELATION_ID_FLAG, &p->correlation_id, &d->correlation_id },
	};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if ((p->_flags & strs[i].flag) && (*strs[i].dst = mq_strdup_bytes(*strs[i].src)) == NULL)
			return -1;
	}
	/* An empty body has no buffer; callers get a valid pointer all the same. */
	d->body = m->body.bytes != NULL ? m->body.bytes : malloc(1);
	if (d->body == NULL)
		return -1;
	d->len = m->body.len;
	m->body = amqp_empty_bytes;

	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG) || p->headers.num_entries <= 0)
		return 0;
	d->headers = calloc(p->headers.num_entries < MQ_HEADERS_MAX ?
			    (size_t)p->headers.num_entries : MQ_HEADERS_MAX, sizeof(*d->headers));
	if (d->headers == NULL)
		return -1;
	for (int i = 0; i < p->headers.num_entries && d->nheaders < MQ_HEADERS_MAX; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];
		struct mq_header *h = &d->headers[d->nheaders];
		long long ival = 0;
		bool is_int;
		char *value = mq_field_text(&e->value, &is_int, &ival);

		if (value == NULL)
			continue;   /* tables, arrays (x-death), floats...: not needed */
		h->value = value;
		h->key = mq_strdup_bytes(e->key);
		d->nheaders++;
		if (h->key == NULL)
			return -1;
		if (is_int && strcmp(h->key, "x-delivery-count") == 0)
			d->delivery_count = (long)ival;
	}
	return 0;
}

static int mq_fill_envelope(struct mq_delivery *d, uint64_t tag, bool redelivered,
			    amqp_bytes_t exchange, amqp_bytes_t routing_key)
{
	d->tag = tag;
	d->redelivered = redelivered;
	d->exchange = mq_strdup_bytes(exchange);
	d->routing_key = mq_strdup_bytes(routing_key);
	return d->exchange != NULL && d->routing_key != NULL ? 0 : -1;
}

/*
 * The message arrived but cannot be copied: giving up the connection makes the broker requeue
 * it, which is better than holding an unacked delivery nobody knows about.
 */
static int mq_out_of_memory(mq_conn *mq, struct mq_delivery *out)
{
	mq_delivery_free(out);
	return mq_lost(mq, "copying a delivery", "out of memory");
}

/* A frame other than basic.deliver arrived while consuming. Returns MQ_OK to go on waiting. */
static int mq_consumer_frame(mq_conn *mq, int64_t deadline)
{
	amqp_frame_t f;
	int rc = mq_wait_method(mq, deadline, &f, "reading a frame");

	if (rc == MQ_TIMEOUT || rc == MQ_EMPTY)
		return MQ_OK;
	if (rc != MQ_OK)
		return rc;
	switch (f.payload.method.id) {
	case AMQP_CHANNEL_CLOSE_METHOD:
		rc = mq_on_channel_close(mq, f.payload.method.decoded, "consuming");
		return rc == MQ_CONN_LOST ? rc : mq_lost(mq, "consuming", "channel closed");
	case AMQP_CONNECTION_CLOSE_METHOD:
		return mq_on_connection_close(mq, f.payload.method.decoded, "consuming");
	case AMQP_BASIC_CANCEL_METHOD:
		/* The queue was deleted: nothing will arrive until the topology is rebuilt. */
		return mq_lost(mq, "consuming", "the broker cancelled the consumer");
	default:
		return MQ_OK;
	}
}

int mq_next(mq_conn *mq, struct mq_delivery *out, int timeout_ms)
{
	int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	memset(out, 0, sizeof(*out));
	out->delivery_count = -1;
	if (mq->dead)
		return MQ_CONN_LOST;
	for (;;) {
		struct timeval tv = mq_timeval(deadline - util_now_ms());
		amqp_envelope_t env;
		amqp_rpc_reply_t r;
		char why[256];
		int rc;

		amqp_maybe_release_buffers(mq->conn);
		memset(&env, 0, sizeof(env));
		r = amqp_consume_message(mq->conn, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_NORMAL) {
			rc = mq_fill_envelope(out, env.delivery_tag, env.redelivered, env.exchange,
					      env.routing_key);
			if (rc == 0)
				rc = mq_fill_message(out, &env.message);
			amqp_destroy_envelope(&env);
			return rc == 0 ? MQ_OK : mq_out_of_memory(mq, out);
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_TIMEOUT)
			return MQ_TIMEOUT;
		if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
		    r.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
			mq_reply_text(r, why, sizeof(why));
			return mq_lost(mq, "consuming", why);
		}
		rc = mq_consumer_frame(mq, deadline);
		if (rc != MQ_OK)
			return rc;
		if (util_now_ms() >= deadline)
			return MQ_TIMEOUT;
	}
}

int mq_get(mq_conn *mq, const char *queue, bool auto_ack, struct mq_delivery *out)
{
	const amqp_basic_get_ok_t *ok;
	amqp_rpc_reply_t r;
	amqp_message_t msg;
	char why[256];
	int rc;

	memset(out, 0, sizeof(*out));
	out->delivery_count = -1;
	if (mq->dead)
		return MQ_CONN_LOST;
	if (queue == NULL)
		return MQ_INVALID;
	amqp_maybe_release_buffers(mq->conn);
	r = amqp_basic_get(mq->conn, MQ_CHANNEL, mq_bytes(queue), auto_ack);
	rc = mq_check_reply(mq, r, "basic.get");
	if (rc != MQ_OK)
		return rc;
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return MQ_EMPTY;
	ok = r.reply.decoded;
	if (mq_fill_envelope(out, ok->delivery_tag, ok->redelivered, ok->exchange,
			     ok->routing_key) != 0)
		return mq_out_of_memory(mq, out);
	r = amqp_read_message(mq->conn, MQ_CHANNEL, &msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		mq_delivery_free(out);
		mq_reply_text(r, why, sizeof(why));
		return mq_lost(mq, "reading a message", why);
	}
	rc = mq_fill_message(out, &msg);
	amqp_destroy_message(&msg);
	return rc == 0 ? MQ_OK : mq_out_of_memory(mq, out);
}

int mq_ack(mq_conn *mq, uint64_t tag, bool multiple)
{
	int rc;

	if (mq->dead)
		return MQ_CONN_LOST;
	rc = amqp_basic_ack(mq->conn, MQ_CHANNEL, tag, multiple);
	return rc == AMQP_STATUS_OK ? MQ_OK : mq_lost_status(mq, "basic.ack", rc);
}

int mq_reject(mq_conn *mq, uint64_t tag, bool requeue)
{
	int rc;

	if (mq->dead)
		return MQ_CONN_LOST;
	rc = amqp_basic_reject(mq->conn, MQ_CHANNEL, tag, requeue);
	return rc == AMQP_STATUS_OK ? MQ_OK : mq_lost_status(mq, "basic.reject", rc);
}
