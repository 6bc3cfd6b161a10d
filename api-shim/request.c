/*
 * request.c - the per-request context (see request.h).
 */
#include "api-shim/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <microhttpd.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/json.h"
#include "api-shim/fault.h"
#include "api-shim/shim.h"

#define HOST_MAX 256

void req_init(struct shim_request *r, struct MHD_Connection *conn, const char *method,
	      const char *url)
{
	char uuid[37];

	memset(r, 0, sizeof(*r));
	r->conn = conn;
	r->method = method;
	util_strlcpy(r->path, url, sizeof(r->path));
	r->start_ms = util_now_ms();
	util_uuid4(uuid);
	snprintf(r->request_id, sizeof(r->request_id), "req-%s", uuid);
	r->ver.major = SHIM_MIN_MAJOR;
	r->ver.minor = SHIM_MIN_MINOR;
	r->status = 500;
}

void req_free(struct shim_request *r)
{
	if (r->state_free != NULL)
		r->state_free(r->state);
	r->state = NULL;
	r->state_free = NULL;
	free(r->body);
	free(r->reply_body);
	r->body = NULL;
	r->reply_body = NULL;
}

void req_suspend(struct shim_request *r, req_resume_fn resume)
{
	r->resume = resume;
	MHD_suspend_connection(r->conn);
}

void req_wake(struct shim_request *r)
{
	MHD_resume_connection(r->conn);
}

int64_t req_wait_deadline(const struct shim_request *r, int wait_s)
{
	int64_t own = util_now_ms() + (int64_t)wait_s * 1000;
	int64_t all = r->start_ms + (int64_t)api_cfg.request_timeout * 1000;

	return own < all ? own : all;
}

int req_append_body(struct shim_request *r, const char *data, size_t len)
{
	if (len > SHIM_MAX_BODY - r->body_len) {
		free(r->body);
		r->body = NULL;
		r->body_len = r->body_cap = 0;
		return -1;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap != 0 ? r->body_cap : 4096;
		char *nb;

		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (cap > SHIM_MAX_BODY + 1)
			cap = SHIM_MAX_BODY + 1;
		nb = realloc(r->body, cap);
		if (nb == NULL)
			return -1;
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

const char *req_header(const struct shim_request *r, const char *name)
{
	if (r->conn == NULL)
		return NULL;
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_query(const struct shim_request *r, const char *key)
{
	const char *v;

	if (r->conn == NULL)
		return NULL;
	v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
	if (v == NULL && MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key,
						       strlen(key), NULL, NULL) == MHD_YES)
		return "";
	return v;
}

struct query_keys {
	void (*fn)(const char *key, void *arg);
	void *arg;
};

static enum MHD_Result query_key(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	const struct query_keys *q = cls;

	(void)kind;
	(void)value;
	q->fn(key, q->arg);
	return MHD_YES;
}

void req_query_keys(const struct shim_request *r, void (*fn)(const char *key, void *arg),
		    void *arg)
{
	struct query_keys q = { fn, arg };

	if (r->conn != NULL)
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_key, &q);
}

int req_query_bool(struct shim_request *r, const char *key, bool def, bool *out)
{
	static const char *const yes[] = { "1", "t", "true", "on", "y", "yes" };
	static const char *const no[] = { "0", "f", "false", "off", "n", "no" };
	const char *v = req_query(r, key);

	*out = def;
	if (v == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*out = strcasecmp(v, yes[i]) == 0;
			return 0;
		}
	}
	fault_reply(r, 400, "Value '%s' for '%s' is not a boolean.", v, key);
	return -1;
}

bool req_ver_ge(const struct shim_request *r, int major, int minor)
{
	return r->ver.major > major || (r->ver.major == major && r->ver.minor >= minor);
}

void req_reply(struct shim_request *r, unsigned status, json_t *body)
{
	char *text = NULL;

	if (body != NULL) {
		text = json_dumps(body, 0);
		json_decref(body);
		if (text == NULL) {
			static const char internal[] =
				"{\"computeFault\": {\"code\": 500, \"message\": \""
				FAULT_MSG_INTERNAL "\"}}";

			status = 500;
			text = strdup(internal);
		}
	}
	req_reply_text(r, status, text, NULL);
}

void req_reply_text(struct shim_request *r, unsigned status, char *body, const char *type)
{
	free(r->reply_body);
	r->reply_body = body;
	r->reply_type = type;
	r->status = status;
	r->retry_after = false;
	r->replied = true;
}

/* What a request body may hold: far more than any request of the API (a create with a few
 * hundred metadata keys), far less than what would cost jansson megabytes to build. */
static const struct proto_limits body_limits = {
	.max_bytes = SHIM_MAX_BODY, .max_depth = 16, .max_nodes = 4096, .max_string = 65536,
};

json_t *req_json_body(struct shim_request *r)
{
	char detail[128];
	json_t *v = NULL;
	int rc = PROTO_EPARSE;

	if (r->body != NULL && r->body_len > 0)
		rc = proto_json_parse(r->body, r->body_len, &body_limits, 0, &v, NULL, detail,
				      sizeof(detail));
	if (rc == PROTO_OK)
		return v;
	/* A string too long is answered as malformed, as are the strings jansson refuses. */
	if (rc == PROTO_ETOOBIG || rc == PROTO_EDEPTH || rc == PROTO_ECOUNT) {
		log_warning("request body refused: %s", detail);
		fault_reply(r, 413, "Request is too large.");
	} else {
		fault_reply(r, 400, FAULT_MSG_MALFORMED_BODY);
	}
	return NULL;
}

static bool host_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n >= HOST_MAX)
		return false;
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == n;
}

void req_base_url(const struct shim_request *r, char *out, size_t outlen)
{
	const char *host = req_header(r, "Host");

	if (host != NULL && host_ok(host))
		snprintf(out, outlen, "http://%s", host);
	else if (strchr(api_cfg.listen, ':') != NULL)
		snprintf(out, outlen, "http://[%s]:%d", api_cfg.listen, api_cfg.port);
	else
		snprintf(out, outlen, "http://%s:%d", api_cfg.listen, api_cfg.port);
}
