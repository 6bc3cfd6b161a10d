/*
 * fuzz_http_route.c - libFuzzer harness for what the shim does with a request before a
 * handler runs: libmicrohttpd's parse of the request line and headers (the path unescaped,
 * the query split into arguments), the routing table (server_route_find), the query's UTF-8
 * check and its readers (req_query, req_query_bool), the microversion header
 * (version_negotiate) and the Host header (req_base_url).
 *
 * The input is four lines: method, request target (path and query), the value of
 * OpenStack-API-Version and the value of Host. They make one HTTP/1.1 request, written into
 * a socketpair whose other end is handed to an in-process libmicrohttpd daemon without a
 * listening socket or threads; the harness runs the daemon until it has answered and closed.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "api-shim/request.h"
#include "api-shim/server.h"
#include "api-shim/shim.h"
#include "api-shim/version.h"
#include "core/quota.h"
#include "tests/fuzz/fuzz.h"

/* The request head stays under libmicrohttpd's default 32 KiB connection memory. */
#define FUZZ_FIELD_MAX 4096
#define FUZZ_HEAD_MAX (4 * FUZZ_FIELD_MAX + 256)
/* A request the daemon has not answered after this many rounds of MHD_run is abandoned (the
 * input left the head unterminated); closing the client's end then lets the daemon drop it. */
#define FUZZ_MAX_ROUNDS 64

/* The shim's main.c, which this harness replaces, defines its quota defaults. */
struct quota_defaults shim_quota_defaults;

static struct MHD_Daemon *daemon_handle;

/* Checks what routing promises (server.h): captures that point into the segment buffer, or
 * NULL for a project id the URL left out; none when nothing matched. */
static void check_route(const struct shim_request *r, const struct server_route *rt)
{
	FUZZ_CHECK(r->ncaptures >= 0 && r->ncaptures <= REQ_MAX_CAPTURES);
	FUZZ_CHECK(rt != NULL || r->ncaptures == 0);
	for (int i = 0; i < r->ncaptures; i++) {
		const char *c = r->captures[i];

		FUZZ_CHECK(c == NULL ? i == 0 && !r->project_in_url :
			   c >= r->segbuf && c < r->segbuf + sizeof(r->segbuf) && c[0] != '\0');
	}
}

static void exercise(struct shim_request *r)
{
	const struct server_route *rt = server_route_find(r);
	char base[512];
	bool flag;

	check_route(r, rt);
	if (version_negotiate(r) == 0)
		FUZZ_CHECK(r->ver.major == SHIM_MAX_MAJOR && r->ver.minor >= SHIM_MIN_MINOR &&
			   r->ver.minor <= SHIM_MAX_MINOR);
	else
		FUZZ_CHECK(r->replied && (r->status == 400 || r->status == 406));
	if (!server_query_invalid(r)) {
		(void)req_query(r, "sort");
		(void)req_query(r, "limit");
		(void)req_query_bool(r, "all_tenants", false, &flag);
	}
	req_base_url(r, base, sizeof(base));
	FUZZ_CHECK(strncmp(base, "http://", 7) == 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct shim_request *r = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (r == NULL) {
		r = malloc(sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		req_init(r, conn, method, url);
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	exercise(r);
	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, r->replied ? r->status : MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct shim_request *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	req_free(r);
	free(r);
	*con_cls = NULL;
}

/* Starts the daemon on the first input. */
static void setup(void)
{
	/* What [api] gives req_base_url when the Host header is refused. */
	api_cfg.listen = strdup("127.0.0.1");
	api_cfg.port = 8776;
	daemon_handle = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, on_request,
					 NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
					 MHD_OPTION_END);
	FUZZ_CHECK(api_cfg.listen != NULL && daemon_handle != NULL);
}

/* Moves the next line of *data (up to '\n' or the end, at most FUZZ_FIELD_MAX - 1 bytes, NULs
 * dropped) into out. */
static void take_line(const uint8_t **data, size_t *size, char *out)
{
	size_t n = 0;

	while (*size > 0 && **data != '\n') {
		if (**data != '\0' && n < FUZZ_FIELD_MAX - 1)
			out[n++] = (char)**data;
		(*data)++;
		(*size)--;
	}
	if (*size > 0) {
		(*data)++;
		(*size)--;
	}
	out[n] = '\0';
}

/* Hands one request to the daemon and runs it until the reply is read to its end. */
static void serve(const char *head, size_t len)
{
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000),
				    .sin_addr = { htonl(INADDR_LOOPBACK) } };
	char buf[4096];
	int sv[2];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_CHECK(write(sv[0], head, len) == (ssize_t)len);
	/* The daemon owns sv[1] from here, and closes it. */
	FUZZ_CHECK(MHD_add_connection(daemon_handle, sv[1], (const struct sockaddr *)&peer,
				      sizeof(peer)) == MHD_YES);
	for (int round = 0; round < FUZZ_MAX_ROUNDS; round++) {
		ssize_t n;

		FUZZ_CHECK(MHD_run(daemon_handle) == MHD_YES);
		do
			n = read(sv[0], buf, sizeof(buf));
		while (n > 0);
		if (n == 0)
			break;
	}
	close(sv[0]);
	/* A connection still open sees the client gone on the next run and is dropped. */
	FUZZ_CHECK(MHD_run(daemon_handle) == MHD_YES);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char method[FUZZ_FIELD_MAX], target[FUZZ_FIELD_MAX], ver[FUZZ_FIELD_MAX],
		host[FUZZ_FIELD_MAX], head[FUZZ_HEAD_MAX];
	int len;

	if (daemon_handle == NULL)
		setup();
	take_line(&data, &size, method);
	take_line(&data, &size, target);
	take_line(&data, &size, ver);
	take_line(&data, &size, host);
	len = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n" VERSION_HEADER
		       ": %s\r\nConnection: close\r\n\r\n", method, target, host, ver);
	FUZZ_CHECK(len > 0 && (size_t)len < sizeof(head));
	serve(head, (size_t)len);
	return 0;
}
