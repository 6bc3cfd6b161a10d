/*
 * glance.c - the image service client (see glance.h).
 */
#include "core/glance.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/log.h"

#define GLANCE_PATH_MAX 256
#define GLANCE_URL_MAX 2048
#define GLANCE_TOKEN_HDR_MAX 1100

struct glance_config glance_cfg;

/* VOLMGR_GLANCE_URL lets scripts/run.sh and the tests point both daemons at theirs. */
const struct cfg_key glance_keys[] = {
	{ "glance", "api_servers", CFG_STR, &glance_cfg.api_servers, NULL, 0, 0,
	  "VOLMGR_GLANCE_URL" },
	{ "glance", "glance_request_timeout", CFG_INT, &glance_cfg.request_timeout, "30", 1, 600,
	  NULL },
	{ "glance", "image_transfer_timeout", CFG_INT, &glance_cfg.transfer_timeout, "600", 1,
	  86400, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};

/* One exchange with one server: the URL is built from base (len bytes) and path. */
typedef int (*glance_exchange_fn)(const char *url, const char *const *headers, void *arg,
				  long *status, char *err, size_t errlen);

/*
 * Runs exchange against each server of [glance] api_servers in turn until one answers.
 * Returns GLANCE_OK for a 2xx (or ok_status), GLANCE_NOT_FOUND for a 404, GLANCE_REFUSED for
 * another 4xx, GLANCE_FAILED otherwise, with err set for all but GLANCE_OK.
 */
static int glance_each_server(const char *method, const char *path, const char *token,
			      glance_exchange_fn exchange, void *arg, char *err, size_t errlen)
{
	const char *list = glance_cfg.api_servers != NULL ? glance_cfg.api_servers : "";
	char url[GLANCE_URL_MAX], auth[GLANCE_TOKEN_HDR_MAX];
	const char *headers[2] = { NULL, NULL };
	bool tried = false;
	long status = 0;

	snprintf(err, errlen, "no image service configured ([glance] api_servers)");
	if (token != NULL && token[0] != '\0') {
		int n = snprintf(auth, sizeof(auth), "X-Auth-Token: %s", token);

		if (n < 0 || (size_t)n >= sizeof(auth)) {
			snprintf(err, errlen, "token is too long");
			return GLANCE_FAILED;
		}
		headers[0] = auth;
	}
	while (*list != '\0') {
		size_t len = strcspn(list, ","), start = strspn(list, " \t"), end = len;
		const char *next = list[len] == ',' ? list + len + 1 : list + len;

		while (end > start && (list[end - 1] == ' ' || list[end - 1] == '\t' ||
				       list[end - 1] == '/'))
			end--;
		if (end > start) {
			int n = snprintf(url, sizeof(url), "%.*s%s", (int)(end - start),
					 list + start, path);

			tried = true;
			if (n < 0 || (size_t)n >= sizeof(url))
				snprintf(err, errlen, "image service URL is too long");
			else if (exchange(url, headers, arg, &status, err, errlen) == 0)
				break;
			log_warning("glance: %s %s: %s", method, url, err);
		}
		list = next;
	}
	if (!tried || status == 0)
		return GLANCE_FAILED;
	if (status >= 200 && status <= 299)
		return GLANCE_OK;
	snprintf(err, errlen, "the image service answered %s %s with HTTP %ld", method, path,
		 status);
	if (status == 404)
		return GLANCE_NOT_FOUND;
	return status >= 400 && status <= 499 ? GLANCE_REFUSED : GLANCE_FAILED;
}

/* A metadata request: method, body (JSON text or NULL) and, on a 2xx, the JSON answer. */
struct glance_call {
	const char *method;
	const char *body;
	const char *content_type;
	json_t *answer;
};

static int glance_call_one(const char *url, const char *const *headers, void *arg,
			   long *status, char *err, size_t errlen)
{
	struct glance_call *c = arg;
	const char *hdrs[3] = { headers[0], c->content_type, NULL };
	struct http_response resp = { 0 };
	json_error_t jerr;

	if (hdrs[0] == NULL) {
		hdrs[0] = c->content_type;
		hdrs[1] = NULL;
	}
	if (http_request(c->method, url, hdrs, c->body, glance_cfg.request_timeout, &resp, err,
			 errlen) != 0)
		return -1;
	*status = resp.status;
	json_decref(c->answer);
	c->answer = NULL;
	if (resp.status >= 200 && resp.status <= 299 && resp.len > 0)
		c->answer = json_loadb(resp.body, resp.len, 0, &jerr);
	http_response_free(&resp);
	return 0;
}

/* A metadata request whose 2xx answer must be a JSON object when image is not NULL. */
static int glance_call(const char *method, const char *path, const char *token,
		       const json_t *body, json_t **image, char *err, size_t errlen)
{
	struct glance_call c = { method, NULL, NULL, NULL };
	int rc;

	if (body != NULL) {
		c.body = json_dumps(body, JSON_COMPACT);
		c.content_type = "Content-Type: application/json";
		if (c.body == NULL) {
			snprintf(err, errlen, "out of memory");
			return GLANCE_FAILED;
		}
	}
	rc = glance_each_server(method, path, token, glance_call_one, &c, err, errlen);
	free((char *)c.body);
	if (rc == GLANCE_OK && image != NULL && !json_is_object(c.answer)) {
		snprintf(err, errlen, "the image service answered %s %s without an image", method,
			 path);
		rc = GLANCE_FAILED;
	}
	if (rc == GLANCE_OK && image != NULL) {
		*image = c.answer;
		c.answer = NULL;
	}
	json_decref(c.answer);
	return rc;
}

/* "/v2/images/<id><suffix>"; false when id is not a plausible image id. */
static bool image_path(char *out, size_t outlen, const char *id, const char *suffix)
{
	int n;

	if (id == NULL || id[0] == '\0' || strlen(id) > 64 || strpbrk(id, "/?#% ") != NULL)
		return false;
	n = snprintf(out, outlen, "/v2/images/%s%s", id, suffix);
	return n > 0 && (size_t)n < outlen;
}

int glance_image_show(const char *token, const char *id, json_t **image, char *err,
		      size_t errlen)
{
	char path[GLANCE_PATH_MAX];

	if (!image_path(path, sizeof(path), id, "")) {
		snprintf(err, errlen, "not an image id");
		return GLANCE_NOT_FOUND;
	}
	return glance_call("GET", path, token, NULL, image, err, errlen);
}

int glance_image_create(const char *token, const json_t *body, json_t **image, char *err,
			size_t errlen)
{
	return glance_call("POST", "/v2/images", token, body, image, err, errlen);
}

int glance_image_delete(const char *token, const char *id, char *err, size_t errlen)
{
	char path[GLANCE_PATH_MAX];
	int rc;

	if (!image_path(path, sizeof(path), id, ""))
		return GLANCE_OK;
	rc = glance_call("DELETE", path, token, NULL, NULL, err, errlen);
	return rc == GLANCE_NOT_FOUND ? GLANCE_OK : rc;
}

/* A byte transfer: fd, and len >= 0 to send or max to receive. */
struct glance_flow {
	int fd;
	long long len;
	long long max;
	long long moved;
};

static int glance_flow_one(const char *url, const char *const *headers, void *arg,
			   long *status, char *err, size_t errlen)
{
	struct glance_flow *f = arg;

	return http_stream(f->len >= 0 ? "PUT" : "GET", url, headers, f->fd, f->len, f->max,
			   glance_cfg.transfer_timeout, status, &f->moved, err, errlen);
}

int glance_image_upload(const char *token, const char *id, int fd, long long len, char *err,
			size_t errlen)
{
	struct glance_flow f = { fd, len, 0, 0 };
	char path[GLANCE_PATH_MAX];

	if (!image_path(path, sizeof(path), id, "/file")) {
		snprintf(err, errlen, "not an image id");
		return GLANCE_NOT_FOUND;
	}
	return glance_each_server("PUT", path, token, glance_flow_one, &f, err, errlen);
}

int glance_image_download(const char *token, const char *id, int fd, long long max,
			  long long *got, char *err, size_t errlen)
{
	struct glance_flow f = { fd, -1, max, 0 };
	char path[GLANCE_PATH_MAX];
	int rc;

	*got = 0;
	if (!image_path(path, sizeof(path), id, "/file")) {
		snprintf(err, errlen, "not an image id");
		return GLANCE_NOT_FOUND;
	}
	rc = glance_each_server("GET", path, token, glance_flow_one, &f, err, errlen);
	*got = f.moved;
	return rc;
}

const char *glance_str(const json_t *image, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(image, key));

	return s != NULL ? s : def;
}

long long glance_int(const json_t *image, const char *key, long long def)
{
	const json_t *v = json_object_get(image, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}
