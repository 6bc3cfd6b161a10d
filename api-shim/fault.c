/*
 * fault.c - Cinder's fault bodies (see fault.h).
 */
#include "api-shim/fault.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"
#include "common/utf8.h"

#define FAULT_TEXT_MAX 2048

struct fault_name {
	unsigned code;
	const char *name;
};

/* cinder.api.openstack.wsgi Fault._fault_names */
static const struct fault_name fault_names[] = {
	{ 400, "badRequest" },
	{ 401, "unauthorized" },
	{ 403, "forbidden" },
	{ 404, "itemNotFound" },
	{ 405, "badMethod" },
	{ 409, "conflictingRequest" },
	{ 413, "overLimit" },
	{ 415, "badMediaType" },
	{ 501, "notImplemented" },
	{ 503, "serviceUnavailable" },
};

const char *fault_name(unsigned code)
{
	for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
		if (fault_names[i].code == code)
			return fault_names[i].name;
	return "computeFault";
}

static void fault_set(struct shim_request *r, unsigned code, const char *text, bool retry)
{
	json_t *inner = json_pack("{s:I, s:s}", "code", (json_int_t)code, "message", text);
	json_t *body = NULL;

	if (inner != NULL && retry && json_object_set_new(inner, "retryAfter", json_string("0")))
		inner = NULL;
	if (inner != NULL)
		body = json_pack("{s:o}", fault_name(code), inner);
	req_reply(r, code, body);
	r->retry_after = retry;
}

static void fault_vset(struct shim_request *r, unsigned code, const char *prefix, bool retry,
		       const char *fmt, va_list ap)
{
	char text[FAULT_TEXT_MAX];
	int off = 0;

	if (prefix != NULL)
		off = snprintf(text, sizeof(text), "%s: ", prefix);
	if (off < 0 || (size_t)off >= sizeof(text))
		off = 0;
	vsnprintf(text + off, sizeof(text) - (size_t)off, fmt, ap);
	/* The text may echo a client's bytes (a path segment, a header). */
	utf8_fix(text);
	fault_set(r, code, text, retry);
}

void fault_reply(struct shim_request *r, unsigned code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fault_vset(r, code, NULL, false, fmt, ap);
	va_end(ap);
}

void fault_quota(struct shim_request *r, const char *exc_class, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fault_vset(r, 413, exc_class, true, fmt, ap);
	va_end(ap);
}

void fault_volume_not_found(struct shim_request *r, const char *volume_id)
{
	fault_reply(r, 404, "Volume %s could not be found.", volume_id);
}

void fault_unavailable(struct shim_request *r, const char *reason)
{
	/* The reason names internals (the broker's host and vhost, a routing key, the compute
	 * endpoint's URL): it is for the operator, in the log where credentials are masked. The
	 * client gets the request id that finds that line. */
	log_warning("503 for request %s: %s", r->request_id, reason);
	fault_reply(r, 503, "Service temporarily unavailable. Request %s.", r->request_id);
}
