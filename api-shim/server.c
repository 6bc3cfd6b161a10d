/*
 * server.c - libmicrohttpd server, routing, authentication and access log (see server.h).
 */
#include "api-shim/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>

#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "api-shim/auth.h"
#include "api-shim/clients.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/ksauth.h"
#include "api-shim/offload.h"
#include "api-shim/request.h"
#include "api-shim/shim.h"
#include "api-shim/smetrics.h"
#include "api-shim/version.h"

#define SERVER_CONNECTION_TIMEOUT_S 30
#define ROUTE_MAX_SEGMENTS 8
#define ROUTE_PROJECT "{project_id}"

enum route_flags {
	ROUTE_PUBLIC = 1,   /* no authentication (version discovery) */
	/* Open to everyone (a load balancer's probe), and authenticated when the caller sends
	 * a token, so that a handler can give an admin more (the health check's details). */
	ROUTE_AUTH_OPTIONAL = 2,
};

struct server_route {
	const char *method;
	/* "{name}" matches any one segment and is captured; "{project_id}" is the project id,
	 * which a URL may leave out (microversion 3.67 made it optional; Cinder accepts both
	 * forms). */
	const char *pattern;
	void (*fn)(struct shim_request *r);
	unsigned flags;
	struct apiver min_ver;   /* older microversions get 404, as Cinder's versioned methods */
};

/* Literal segments are tried in table order, so "volumes/detail" comes before
 * "volumes/{volume_id}". */
static const struct server_route routes[] = {
	{ "GET", "/", version_root, ROUTE_PUBLIC, { 3, 0 } },
	{ "GET", "/v3", version_v3, ROUTE_PUBLIC, { 3, 0 } },
	{ "GET", "/healthcheck", healthcheck_show, ROUTE_AUTH_OPTIONAL, { 3, 0 } },
	{ "HEAD", "/healthcheck", healthcheck_show, ROUTE_AUTH_OPTIONAL, { 3, 0 } },
	{ "POST", "/v3/{project_id}/volumes", volumes_create, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/volumes", volumes_list, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/volumes/detail", volumes_list_detail, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/volumes/summary", volumes_summary, 0, { 3, 12 } },
	{ "GET", "/v3/{project_id}/volumes/{volume_id}", volumes_show, 0, { 3, 0 } },
	{ "DELETE", "/v3/{project_id}/volumes/{volume_id}", volumes_delete, 0, { 3, 0 } },
	{ "PUT", "/v3/{project_id}/volumes/{volume_id}", volumes_update, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/volumes/{volume_id}/metadata", volume_metadata_index, 0,
	  { 3, 0 } },
	{ "POST", "/v3/{project_id}/volumes/{volume_id}/metadata", volume_metadata_create, 0,
	  { 3, 0 } },
	{ "PUT", "/v3/{project_id}/volumes/{volume_id}/metadata", volume_metadata_update_all, 0,
	  { 3, 0 } },
	{ "GET", "/v3/{project_id}/volumes/{volume_id}/metadata/{key}", volume_metadata_show, 0,
	  { 3, 0 } },
	{ "PUT", "/v3/{project_id}/volumes/{volume_id}/metadata/{key}", volume_metadata_update, 0,
	  { 3, 0 } },
	{ "DELETE", "/v3/{project_id}/volumes/{volume_id}/metadata/{key}", volume_metadata_delete,
	  0, { 3, 0 } },
	{ "POST", "/v3/{project_id}/volumes/{volume_id}/action", actions_dispatch, 0, { 3, 0 } },
	{ "POST", "/v3/{project_id}/os-volume-manage", volumes_manage, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/os-volume-manage", manageable_list, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/os-volume-manage/detail", manageable_list_detail, 0, { 3, 0 } },
	{ "POST", "/v3/{project_id}/manageable_volumes", volumes_manage, 0, { 3, 8 } },
	{ "GET", "/v3/{project_id}/manageable_volumes", manageable_list, 0, { 3, 8 } },
	{ "GET", "/v3/{project_id}/manageable_volumes/detail", manageable_list_detail, 0,
	  { 3, 8 } },
	{ "POST", "/v3/{project_id}/snapshots", snapshots_create, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/snapshots", snapshots_list, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/snapshots/detail", snapshots_list_detail, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/snapshots/{snapshot_id}", snapshots_show, 0, { 3, 0 } },
	{ "PUT", "/v3/{project_id}/snapshots/{snapshot_id}", snapshots_update, 0, { 3, 0 } },
	{ "DELETE", "/v3/{project_id}/snapshots/{snapshot_id}", snapshots_delete, 0, { 3, 0 } },
	{ "POST", "/v3/{project_id}/snapshots/{snapshot_id}/action", snapshots_action, 0,
	  { 3, 0 } },
	{ "GET", "/v3/{project_id}/snapshots/{snapshot_id}/metadata", snapshots_metadata_list, 0,
	  { 3, 0 } },
	{ "POST", "/v3/{project_id}/snapshots/{snapshot_id}/metadata", snapshots_metadata_create,
	  0, { 3, 0 } },
	{ "PUT", "/v3/{project_id}/snapshots/{snapshot_id}/metadata",
	  snapshots_metadata_update_all, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}",
	  snapshots_metadata_show, 0, { 3, 0 } },
	{ "PUT", "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}",
	  snapshots_metadata_update, 0, { 3, 0 } },
	{ "DELETE", "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}",
	  snapshots_metadata_delete, 0, { 3, 0 } },
	{ "POST", "/v3/{project_id}/attachments", attachments_create, 0, { 3, 27 } },
	{ "GET", "/v3/{project_id}/attachments", attachments_list, 0, { 3, 27 } },
	{ "GET", "/v3/{project_id}/attachments/detail", attachments_list_detail, 0, { 3, 27 } },
	{ "GET", "/v3/{project_id}/attachments/{attachment_id}", attachments_show, 0, { 3, 27 } },
	{ "PUT", "/v3/{project_id}/attachments/{attachment_id}", attachments_update, 0, { 3, 27 } },
	{ "DELETE", "/v3/{project_id}/attachments/{attachment_id}", attachments_delete, 0,
	  { 3, 27 } },
	{ "POST", "/v3/{project_id}/attachments/{attachment_id}/action", attachments_action, 0,
	  { 3, 27 } },
	{ "GET", "/v3/{project_id}/messages", messages_list, 0, { 3, 3 } },
	{ "GET", "/v3/{project_id}/os-quota-sets/{target_project_id}", quotas_show, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/limits", limits_show, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/types", types_list, 0, { 3, 0 } },
	{ "POST", "/v3/{project_id}/types", types_create, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/types/{type_id}", types_show, 0, { 3, 0 } },
	{ "PUT", "/v3/{project_id}/types/{type_id}", types_update, 0, { 3, 0 } },
	{ "DELETE", "/v3/{project_id}/types/{type_id}", types_delete, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/types/{type_id}/extra_specs", type_specs_index, 0, { 3, 0 } },
	{ "POST", "/v3/{project_id}/types/{type_id}/extra_specs", type_specs_create, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/types/{type_id}/extra_specs/{key}", type_specs_show, 0,
	  { 3, 0 } },
	{ "PUT", "/v3/{project_id}/types/{type_id}/extra_specs/{key}", type_specs_update, 0,
	  { 3, 0 } },
	{ "DELETE", "/v3/{project_id}/types/{type_id}/extra_specs/{key}", type_specs_delete, 0,
	  { 3, 0 } },
	{ "GET", "/v3/{project_id}/types/{type_id}/os-volume-type-access", type_access_list, 0,
	  { 3, 0 } },
	{ "POST", "/v3/{project_id}/types/{type_id}/action", types_action, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/os-availability-zone", availability_zones_list, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/os-services", services_list, 0, { 3, 0 } },
	{ "PUT", "/v3/{project_id}/os-services/{action}", services_update, 0, { 3, 0 } },
	{ "GET", "/v3/{project_id}/scheduler-stats/get_pools", pools_list, 0, { 3, 0 } },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

size_t server_route_count(void)
{
	return NROUTES;
}

void server_route_label(size_t i, const char **method, const char **pattern)
{
	*method = routes[i].method;
	*pattern = routes[i].pattern;
}

void server_print_routes(void)
{
	for (size_t i = 0; i < NROUTES; i++) {
		const struct server_route *rt = &routes[i];

		printf("route %s %s %d.%d-\n", rt->method, rt->pattern, rt->min_ver.major,
		       rt->min_ver.minor);
	}
}

static struct MHD_Daemon *daemon_handle;
/* 'Keystone uri="<www_authenticate_uri>"', where a client gets a token (server_start). */
static char keystone_challenge[1100];
static MHD_socket quiesced_socket = MHD_INVALID_SOCKET;
static atomic_int inflight;

/* Splits path into segments in buf (a copy). A trailing slash is ignored; an empty inner
 * segment ("a//b") makes the path unroutable. Returns the count, or -1. */
static int split_path(const char *path, char *buf, size_t buflen, const char **seg, int max)
{
	int n = 0;
	char *p;

	if (path[0] != '/' || util_strlcpy(buf, path + 1, buflen) >= buflen)
		return -1;
	p = buf;
	if (*p == '\0')
		return 0;
	for (;;) {
		char *slash = strchr(p, '/');

		if (slash != NULL)
			*slash = '\0';
		if (*p == '\0')
			return slash == NULL ? n : -1;
		if (n == max)
			return -1;
		seg[n++] = p;
		if (slash == NULL)
			return n;
		p = slash + 1;
		if (*p == '\0')
			return n;
	}
}

/* Matches the path's segments against pattern, filling the captures. A "{project_id}" segment is
 * captured when present; when the path has one segment less, it is taken as left out and
 * captures[0] stays NULL until authentication fills in the caller's project. */
static bool route_match(struct shim_request *r, const char *pattern, const char **seg, int nseg)
{
	char pbuf[128];
	const char *pseg[ROUTE_MAX_SEGMENTS];
	int np = split_path(pattern, pbuf, sizeof(pbuf), pseg, ROUTE_MAX_SEGMENTS);
	bool skip_project = false;

	if (np == nseg + 1 && np > 1 && strcmp(pseg[1], ROUTE_PROJECT) == 0)
		skip_project = true;
	else if (np != nseg)
		return false;
	r->ncaptures = 0;
	r->project_in_url = !skip_project;
	for (int i = 0, j = 0; i < np; i++) {
		bool project = strcmp(pseg[i], ROUTE_PROJECT) == 0;

		if (project && skip_project) {
			r->captures[r->ncaptures++] = NULL;
			continue;
		}
		if (project || pseg[i][0] == '{') {
			if (r->ncaptures == REQ_MAX_CAPTURES)
				return false;
			r->captures[r->ncaptures++] = seg[j++];
		} else if (strcmp(pseg[i], seg[j++]) != 0) {
			return false;
		}
	}
	return true;
}

const struct server_route *server_route_find(struct shim_request *r)
{
	const char *seg[ROUTE_MAX_SEGMENTS];
	int nseg = split_path(r->path, r->segbuf, sizeof(r->segbuf), seg, ROUTE_MAX_SEGMENTS);

	if (nseg < 0)
		return NULL;
	for (size_t i = 0; i < NROUTES; i++)
		if (strcmp(routes[i].method, r->method) == 0 &&
		    route_match(r, routes[i].pattern, seg, nseg))
			return &routes[i];
	r->ncaptures = 0;
	return NULL;
}

/* The tokens of a request under the keystone strategy, and what is known of them. */
struct server_tokens {
	const char *service_token;       /* X-Service-Token or NULL */
	int user_rc, service_rc;         /* enum auth_status; AUTH_PENDING: Keystone is asked */
	struct auth_ctx user, service;
};

/* A request and what the server decided from its head. */
struct server_req {
	struct shim_request r;           /* first: handlers see only this */
	const struct server_route *rt;          /* NULL: no route */
	struct server_tokens tokens;
	bool head_wait;                  /* suspended before its body: Keystone is asked */
};

/*
 * The keystone strategy's verdict once both tokens are known or one is pending, as
 * keystonemiddleware's: a missing or invalid user token, or an invalid service token, is 401;
 * a service token without a service role is 401 when service_token_roles_required, and
 * otherwise only not a service's. Returns 0 (authenticated), 1 (Keystone must be asked) or
 * -1 with a reply set.
 */
static int keystone_verdict(struct server_req *s)
{
	struct shim_request *r = &s->r;
	struct server_tokens *t = &s->tokens;
	bool service;

	if (t->user_rc == AUTH_UNAVAILABLE || t->service_rc == AUTH_UNAVAILABLE) {
		fault_unavailable(r, "Keystone cannot validate the request's tokens");
		return -1;
	}
	if (t->user_rc == AUTH_MISSING || t->user_rc == AUTH_INVALID ||
	    t->service_rc == AUTH_INVALID) {
		fault_reply(r, 401, FAULT_MSG_UNAUTHORIZED);
		return -1;
	}
	if (t->user_rc == AUTH_PENDING || t->service_rc == AUTH_PENDING)
		return 1;
	service = t->service_rc == AUTH_OK &&
		  auth_is_service(&t->service, keystone_cfg.service_token_roles);
	if (t->service_rc == AUTH_OK && !service && keystone_cfg.service_token_roles_required) {
		fault_reply(r, 401, FAULT_MSG_UNAUTHORIZED);
		return -1;
	}
	r->auth = t->user;
	r->auth.is_service = service;
	r->authenticated = true;
	return 0;
}

/* On an offload thread: asks Keystone about the tokens the cache did not know. */
static void keystone_ask(void *arg, bool cancelled)
{
	struct server_req *s = arg;
	struct server_tokens *t = &s->tokens;

	if (t->user_rc == AUTH_PENDING)
		t->user_rc = cancelled ? AUTH_UNAVAILABLE : ksauth_validate(s->r.auth_token, &t->user);
	if (t->service_rc == AUTH_PENDING)
		t->service_rc = cancelled ? AUTH_UNAVAILABLE :
				ksauth_validate(t->service_token, &t->service);
}

/* Back on a server thread after keystone_ask, before the body is read: the verdict sets the
 * request's caller, or its 401 / 503. */
static void keystone_answered(struct shim_request *r)
{
	(void)keystone_verdict((struct server_req *)r);
}

/* Under keystone, client-sent role headers (X-Roles, X-Service-Roles) mean nothing: the
 * roles are Keystone's. Returns as keystone_verdict. */
static int authenticate_keystone(struct server_req *s)
{
	struct server_tokens *t = &s->tokens;

	s->r.auth_token = req_header(&s->r, "X-Auth-Token");
	t->service_token = req_header(&s->r, "X-Service-Token");
	t->user_rc = ksauth_lookup(s->r.auth_token, &t->user);
	/* No service token (AUTH_MISSING) is an ordinary user's request. */
	t->service_rc = ksauth_lookup(t->service_token, &t->service);
	return keystone_verdict(s);
}

/* Authenticates s. Returns 0, 1 when Keystone must be asked (before the body is read), or -1
 * with a 401 (503) set. */
static int authenticate(struct server_req *s)
{
	struct shim_request *r = &s->r;

	if (auth_keystone())
		return authenticate_keystone(s);
	r->auth_token = req_header(r, "X-Auth-Token");
	if (auth_resolve(r->auth_token, req_header(r, "X-Roles"), &r->auth) != AUTH_OK) {
		fault_reply(r, 401, FAULT_MSG_UNAUTHORIZED);
		return -1;
	}
	r->auth.is_service = auth_service_token(req_header(r, "X-Service-Token"),
						req_header(r, "X-Service-Roles"),
						api_cfg.service_roles);
	r->authenticated = true;
	return 0;
}

/* A /v3/{project_id} URL must name the caller's project; a URL without one means the
 * caller's. Under keystone this holds for admins too, as in Cinder (docs/cinder.md §15): an
 * admin token is scoped to one project, and the routes that act on another project name it
 * in a segment of their own. The other strategies let an admin name any project, since their
 * admin is one user name for every project. Returns 0, or -1 with a 400 set. */
static int check_project(struct shim_request *r)
{
	if (r->ncaptures == 0)
		return 0;
	if (r->captures[0] == NULL)
		r->captures[0] = r->auth.project_id;
	if ((!r->auth.is_admin || auth_keystone()) &&
	    strcmp(r->captures[0], r->auth.project_id) != 0) {
		fault_reply(r, 400, "Malformed request URL: URL's project_id '%s' doesn't match "
			    "Context's project_id '%s'", r->captures[0], r->auth.project_id);
		return -1;
	}
	return 0;
}

/* Keeps the caller's X-OpenStack-Request-ID as the global request id when it has the form
 * "req-<uuid>", as oslo's request-id middleware does. */
static void read_global_request_id(struct shim_request *r)
{
	const char *g = req_header(r, "X-OpenStack-Request-ID");

	if (g != NULL && strncmp(g, "req-", 4) == 0 && util_is_uuid(g + 4))
		util_strlcpy(r->global_request_id, g, sizeof(r->global_request_id));
}

static void read_remote_addr(struct shim_request *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  r->remote_addr, sizeof(r->remote_addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  r->remote_addr, sizeof(r->remote_addr));
}

/* A path segment that is not UTF-8 cannot name anything. */
static bool captures_valid(const struct shim_request *r)
{
	for (int i = 0; i < r->ncaptures; i++)
		if (r->captures[i] != NULL && !utf8_valid(r->captures[i]))
			return false;
	return true;
}

/* Iterator over the query arguments: stops (MHD_NO) at the first one that is not UTF-8. */
static enum MHD_Result query_arg_invalid(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	bool *bad = cls;

	(void)kind;
	if ((key != NULL && !utf8_valid(key)) || (value != NULL && !utf8_valid(value))) {
		*bad = true;
		return MHD_NO;
	}
	return MHD_YES;
}

bool server_query_invalid(struct shim_request *r)
{
	bool bad = false;

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg_invalid, &bad);
	return bad;
}

static bool content_length_too_big(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	long v;

	return cl != NULL && util_parse_long(cl, 0, SHIM_MAX_BODY, &v) != 0;
}

/*
 * What the head alone decides, before a byte of the body is read or buffered: the size the
 * client declares, the URI's length, the route and the caller. Returns 0 when the body may be
 * read, 1 when Keystone must be asked about the caller's tokens first, or -1 with a reply set.
 */
static int accept_head(struct server_req *s)
{
	struct shim_request *r = &s->r;

	read_remote_addr(r);
	read_global_request_id(r);
	if (content_length_too_big(r->conn)) {
		fault_reply(r, 413, "Request is too large.");
		return -1;
	}
	if (strlen(r->path) >= sizeof(r->path) - 1) {
		fault_reply(r, 414, "Request URI is too long.");
		return -1;
	}
	/* As in Cinder, authentication (a middleware in front of the whole /v3 API) comes before
	 * routing and microversions; version discovery is open to everyone. */
	s->rt = server_route_find(r);
	if (s->rt != NULL ? s->rt->flags & ROUTE_PUBLIC : strncmp(r->path, "/v3/", 4) != 0)
		return 0;
	if (s->rt != NULL && s->rt->flags & ROUTE_AUTH_OPTIONAL &&
	    req_header(r, "X-Auth-Token") == NULL)
		return 0;
	return authenticate(s);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct shim_request *r);

/* The first call for a request: its head. A caller whose tokens the cache does not know waits,
 * suspended, for Keystone's verdict before a byte of its body is read. */
static enum MHD_Result on_head(struct MHD_Connection *conn, struct server_req *s)
{
	int rc = accept_head(s);

	if (rc == 1) {
		/* Keystone's time is not the client's: its body deadline starts after the verdict. */
		clients_phase(conn, CLIENTS_WORKING);
		s->head_wait = true;
		if (offload_run(OFFLOAD_AUTH, &s->r, keystone_ask, s, keystone_answered) == 0)
			return MHD_YES;
		s->head_wait = false;
		fault_unavailable(&s->r, "too many requests wait for Keystone");
		rc = -1;
	}
	return rc == 0 ? MHD_YES : send_reply(conn, &s->r);
}

/* The rest, once the body is in. */
static void process(struct server_req *s)
{
	struct shim_request *r = &s->r;
	const struct server_route *rt = s->rt;

	if (version_negotiate(r) != 0)
		return;
	if (rt == NULL || !captures_valid(r)) {
		fault_reply(r, 404, FAULT_MSG_NOT_FOUND);
		return;
	}
	if (server_query_invalid(r)) {
		fault_reply(r, 400, "Invalid input received: the query string is not valid UTF-8.");
		return;
	}
	if (r->authenticated && check_project(r) != 0)
		return;
	if (!req_ver_ge(r, rt->min_ver.major, rt->min_ver.minor)) {
		fault_reply(r, 404, FAULT_MSG_NOT_FOUND);
		return;
	}
	rt->fn(r);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct shim_request *r)
{
	size_t len = r->reply_body != NULL ? strlen(r->reply_body) : 0;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char ver[32];

	resp = MHD_create_response_from_buffer(len, r->reply_body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	r->reply_body = NULL; /* owned by the response now */
	r->reply_len = len;
	if (len > 0 || r->reply_type != NULL)
		MHD_add_response_header(resp, "Content-Type", r->reply_type != NULL ?
					r->reply_type : "application/json");
	MHD_add_response_header(resp, "x-openstack-request-id", r->request_id);
	if (r->versioned) {
		snprintf(ver, sizeof(ver), "%s %d.%d", VERSION_SERVICE, r->ver.major,
			 r->ver.minor);
		MHD_add_response_header(resp, VERSION_HEADER, ver);
		MHD_add_response_header(resp, "Vary", VERSION_HEADER);
	}
	if (r->retry_after)
		MHD_add_response_header(resp, "Retry-After", "0");
	if (r->etag[0] != '\0')
		MHD_add_response_header(resp, "Etag", r->etag);
	if (r->status == 401 && auth_keystone())
		MHD_add_response_header(resp, "WWW-Authenticate", keystone_challenge);
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Sends r's reply, unless its handler suspended it to wait. */
static enum MHD_Result finish(struct MHD_Connection *conn, struct shim_request *r)
{
	if (r->resume != NULL)
		return MHD_YES;
	if (!r->replied) {
		log_error("a handler set no reply");
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
	}
	return send_reply(conn, r);
}

/*
 * libmicrohttpd calls this once with the head, then once per piece of the body, then once with
 * none left. A reply decided early (from the head, or a body past the limit) is queued at
 * once: the server then closes the connection instead of reading the rest.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct server_req *s = *con_cls;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return MHD_NO;
		req_init(&s->r, conn, method, url);
		*con_cls = s;
		atomic_fetch_add(&inflight, 1);
		clients_phase(conn, CLIENTS_BODY);
		log_set_request_id(s->r.request_id);
		ret = on_head(conn, s);
		log_set_request_id(NULL);
		return ret;
	}
	/* A wait ended (req_wake): the handler's next step, which may find its reply already
	 * set (a call that could not be sent wakes its request at once). */
	if (s->r.resume != NULL) {
		req_resume_fn next = s->r.resume;

		s->r.resume = NULL;
		log_set_request_id(s->r.request_id);
		next(&s->r);
		log_set_request_id(NULL);
		if (!s->head_wait)
			return finish(conn, &s->r);
		/* The head's verdict: refused at once, or the body is read as after any head
		 * (libmicrohttpd resumes a connection suspended at its head by repeating the head's
		 * call, so nothing of the body is in this one). */
		s->head_wait = false;
		if (s->r.replied)
			return send_reply(conn, &s->r);
		clients_phase(conn, CLIENTS_BODY);
		return MHD_YES;
	}
	if (s->r.replied) {
		*upload_data_size = 0;  /* an early reply is on its way: the rest is dropped */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req_append_body(&s->r, upload_data, n) == 0)
			return MHD_YES;
		fault_reply(&s->r, 413, "Request is too large.");
		return send_reply(conn, &s->r);
	}
	clients_phase(conn, CLIENTS_WORKING);
	log_set_request_id(s->r.request_id);
	process(s);
	log_set_request_id(NULL);
	return finish(conn, &s->r);
}

/* A copy of client text fit for one log line: control characters and bytes that are not
 * UTF-8 become '?', so that a URL cannot forge or break log lines. */
static void log_safe(const char *in, char *out, size_t outlen)
{
	util_strlcpy(out, in, outlen);
	utf8_fix(out);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server_req *s = *con_cls;
	struct shim_request *r = s != NULL ? &s->r : NULL;
	char method[16], path[REQ_PATH_MAX];

	(void)cls;
	clients_phase(conn, CLIENTS_HEAD);  /* the next request's head, on a kept connection */
	if (r == NULL)
		return;
	log_safe(r->method, method, sizeof(method));
	log_safe(r->path, path, sizeof(path));
	log_set_request_id(r->request_id);
	log_info("%s \"%s %s\" status: %u len: %zu microversion: %d.%d time: %.3f%s",
		 r->remote_addr[0] != '\0' ? r->remote_addr : "-", method, path,
		 r->replied ? r->status : 0, r->reply_len, r->ver.major, r->ver.minor,
		 (double)(util_now_ms() - r->start_ms) / 1000.0,
		 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
	log_set_request_id(NULL);
	smetrics_request(s->rt != NULL ? (size_t)(s->rt - routes) : NROUTES,
			 r->replied ? r->status : 0, util_now_ms() - r->start_ms);
	req_free(r);
	free(s);
	*con_cls = NULL;
	atomic_fetch_sub(&inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warning("http: %s", buf);
}

int server_start(const char *listen_addr, int port, int workers)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	struct sockaddr_storage ss;
	const struct sockaddr *sa = (const struct sockaddr *)&ss;

	snprintf(keystone_challenge, sizeof(keystone_challenge), "Keystone uri=\"%s\"",
		 auth_keystone() ? keystone_cfg.www_authenticate_uri : "");
	if (util_sockaddr(listen_addr, port, &ss) != 0) {
		log_error("[api] listen: '%s' is not an IPv4 or IPv6 address", listen_addr);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	daemon_handle = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL,
					 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					 MHD_OPTION_SOCK_ADDR, sa,
					 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)workers,
					 MHD_OPTION_CONNECTION_LIMIT, (unsigned)api_cfg.max_connections,
					 MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					 (unsigned)api_cfg.max_connections_per_address,
					 MHD_OPTION_NOTIFY_CONNECTION, clients_notify, NULL,
					 MHD_OPTION_CONNECTION_TIMEOUT,
					 (unsigned)SERVER_CONNECTION_TIMEOUT_S,
					 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
					 MHD_OPTION_END);
	if (daemon_handle == NULL) {
		log_error("cannot listen on %s port %d", listen_addr, port);
		return -1;
	}
	log_info("listening on %s port %d with %d workers", listen_addr, port, workers);
	return 0;
}

void server_quiesce(void)
{
	if (daemon_handle != NULL && quiesced_socket == MHD_INVALID_SOCKET)
		quiesced_socket = MHD_quiesce_daemon(daemon_handle);
}

int server_inflight(void)
{
	return atomic_load(&inflight);
}

void server_stop(void)
{
	if (daemon_handle != NULL)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
	/* A quiesced daemon leaves its listening socket to the caller. */
	if (quiesced_socket != MHD_INVALID_SOCKET)
		close(quiesced_socket);
	quiesced_socket = MHD_INVALID_SOCKET;
}
