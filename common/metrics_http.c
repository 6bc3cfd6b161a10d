/*
 * metrics_http.c - the listener of /metrics and /healthcheck (metrics_http.h).
 */
#include "common/metrics_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/metrics.h"
#include "common/util.h"

/* A scraper or a probe needs no more; more would only be someone else's load. */
#define METRICS_HTTP_CONNECTIONS 16
#define METRICS_HTTP_TIMEOUT_S 10
/* metrics_http_wait looks at its wake flag at least this often. */
#define METRICS_HTTP_SLICE_MS 100

static struct MHD_Daemon *mh_daemon;
/* In METRICS_HTTP_CALLER mode, the epoll descriptor that metrics_http_wait polls; else -1. */
static int mh_caller_fd = -1;
static metrics_http_health_fn mh_health;
static void *mh_health_arg;

/* The sockets of the open connections (-1: a free slot), written where the listener runs and
 * read by metrics_http_detach in a forked child, which must close its copies: a socket the
 * listener closed stays open while a child holds it, and the scraper would never see its
 * keep-alive connection closed. A slot is freed before MHD closes its socket, so a child
 * never closes a number that is no longer a connection. A process that forks serves the
 * listener on its own thread (METRICS_HTTP_CALLER), so accepts, notifications and forks
 * never overlap and the table is exact at every fork. */
static atomic_int mh_conn_fds[METRICS_HTTP_CONNECTIONS];

static void metrics_http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
				enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		atomic_int *slot = *socket_context;

		if (slot != NULL)
			atomic_store(slot, -1);
		return;
	}
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	*socket_context = NULL;
	for (size_t i = 0; info != NULL && i < METRICS_HTTP_CONNECTIONS; i++) {
		int free_slot = -1;

		if (atomic_compare_exchange_strong(&mh_conn_fds[i], &free_slot,
						   (int)info->connect_fd)) {
			*socket_context = &mh_conn_fds[i];
			return;
		}
	}
}

/* Queues a reply whose body (malloc'ed, may be NULL for an empty one) the response frees. */
static enum MHD_Result metrics_http_reply(struct MHD_Connection *conn, unsigned status,
					  char *body, size_t len, const char *content_type)
{
	struct MHD_Response *resp = body != NULL
		? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
		: MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", content_type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result metrics_http_health(struct MHD_Connection *conn, bool head)
{
	struct health_report h = { .n = 0 };
	const char *type;

	mh_health(&h, mh_health_arg);
	char *body = health_render(&h, health_format_of(MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, "Accept")), false, &type);
	if (body == NULL)
		return MHD_NO;
	size_t len = strlen(body);

	if (head) {
		free(body);
		body = NULL;
		len = 0;
	}
	return metrics_http_reply(conn, (unsigned)health_status(&h, head), body, len, type);
}

static enum MHD_Result metrics_http_request(void *cls, struct MHD_Connection *conn,
					    const char *url, const char *method,
					    const char *version, const char *upload_data,
					    size_t *upload_data_size, void **con_cls)
{
	bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;

	(void)cls;
	(void)version;
	(void)upload_data;
	/* Neither path takes a body: answer at the head, and the rest is dropped. */
	*upload_data_size = 0;
	*con_cls = NULL;
	if (strcmp(url, "/metrics") == 0 && get) {
		size_t len = 0;
		char *body = metrics_render(&len);

		if (body == NULL)
			return MHD_NO;
		return metrics_http_reply(conn, 200, body, len, METRICS_CONTENT_TYPE);
	}
	if (strcmp(url, "/healthcheck") == 0 && (get || head) && mh_health != NULL)
		return metrics_http_health(conn, head);
	return metrics_http_reply(conn, 404, strdup("Not Found"), strlen("Not Found"),
				  "text/plain; charset=UTF-8");
}

int metrics_http_start(const char *listen, enum metrics_http_mode mode,
		       metrics_http_health_fn health, void *arg, char *err, size_t errlen)
{
	/* Without a thread, epoll gives metrics_http_wait one descriptor to wait on. */
	unsigned flags = mode == METRICS_HTTP_THREAD
		? MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO : MHD_USE_EPOLL;
	struct sockaddr_storage ss;
	char host[64];
	int port;

	if (util_host_port(listen, host, sizeof(host), &port) != 0 ||
	    util_sockaddr(host, port, &ss) != 0) {
		snprintf(err, errlen, "'%s' is not a numeric address and a port (host:port)",
			 listen);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	mh_health = health;
	mh_health_arg = arg;
	for (size_t i = 0; i < METRICS_HTTP_CONNECTIONS; i++)
		atomic_store(&mh_conn_fds[i], -1);
	mh_daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, metrics_http_request,
				     NULL, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_LIMIT,
				     (unsigned)METRICS_HTTP_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)METRICS_HTTP_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION,
				     metrics_http_notify, NULL, MHD_OPTION_END);
	if (mh_daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s", listen);
		return -1;
	}
	if (mode == METRICS_HTTP_CALLER) {
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(mh_daemon, MHD_DAEMON_INFO_EPOLL_FD);

		if (info == NULL || info->epoll_fd < 0) {
			metrics_http_stop();
			snprintf(err, errlen, "no epoll descriptor to serve %s from", listen);
			return -1;
		}
		mh_caller_fd = info->epoll_fd;
	}
	return 0;
}

void metrics_http_wait(int ms, volatile sig_atomic_t *wake)
{
	if (mh_caller_fd < 0) {
		util_sleep_ms(ms, wake);
		return;
	}
	int64_t deadline = util_now_ms() + (ms > 0 ? ms : 0);

	for (;;) {
		int64_t left = deadline - util_now_ms();
		struct pollfd pfd = { .fd = mh_caller_fd, .events = POLLIN };

		if (left <= 0 || (wake != NULL && *wake))
			return;
		int slice = (int)(left < METRICS_HTTP_SLICE_MS ? left : METRICS_HTTP_SLICE_MS);

		/* A signal ends the poll early (EINTR) or, arriving just before it, within a
		 * slice: either way the flag is looked at again. Any other failure would make
		 * this loop spin: the slice is slept instead. */
		if (poll(&pfd, 1, slice) < 0 && errno != EINTR)
			util_sleep_ms(slice, wake);
		/* After a timeout too: this is where idle connections are closed. MHD_run does
		 * not block in this mode; it answers what is ready. */
		(void)MHD_run(mh_daemon);
	}
}

void metrics_http_stop(void)
{
	if (mh_daemon != NULL)
		MHD_stop_daemon(mh_daemon);
	mh_daemon = NULL;
	mh_caller_fd = -1;
}

void metrics_http_detach(void)
{
	const union MHD_DaemonInfo *info;

	if (mh_daemon == NULL)
		return;
	info = MHD_get_daemon_info(mh_daemon, MHD_DAEMON_INFO_LISTEN_FD);
	if (info != NULL)
		close(info->listen_fd);
	/* The epoll instance keeps no connection open, but it is the parent's, not ours. */
	info = MHD_get_daemon_info(mh_daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (info != NULL && info->epoll_fd >= 0)
		close(info->epoll_fd);
	for (size_t i = 0; i < METRICS_HTTP_CONNECTIONS; i++) {
		int fd = atomic_exchange(&mh_conn_fds[i], -1);

		if (fd >= 0)
			close(fd);
	}
	mh_daemon = NULL;
	mh_caller_fd = -1;
}
