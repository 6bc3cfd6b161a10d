/*
 * health.c - health check results rendered as oslo.middleware's healthcheck (health.h).
 */
#include "common/health.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void health_add(struct health_report *h, const char *name, bool ok, const char *details,
		const char *why_fmt, ...)
{
	va_list ap;

	if (h->n >= HEALTH_CHECKS_MAX)
		return;
	struct health_check *c = &h->check[h->n++];

	c->name = name;
	c->ok = ok;
	if (ok) {
		util_strlcpy(c->reason, "OK", sizeof(c->reason));
	} else {
		va_start(ap, why_fmt);
		vsnprintf(c->reason, sizeof(c->reason), why_fmt, ap);
		va_end(ap);
	}
	util_strlcpy(c->details, details != NULL ? details : "", sizeof(c->details));
}

bool health_ok(const struct health_report *h)
{
	for (int i = 0; i < h->n; i++)
		if (!h->check[i].ok)
			return false;
	return true;
}

int health_status(const struct health_report *h, bool head)
{
	if (!health_ok(h))
		return 503;
	return head ? 204 : 200;
}

enum health_format health_format_of(const char *accept)
{
	/* oslo.middleware offers text/plain first, so only an Accept that names JSON and not
	 * plain text gets JSON. */
	if (accept != NULL && strstr(accept, "application/json") != NULL &&
	    strstr(accept, "text/plain") == NULL)
		return HEALTH_JSON;
	return HEALTH_TEXT;
}

/* The reasons of the plain and non-detailed forms: "OK" when healthy, else each failure's. */
static void health_reasons(const struct health_report *h, void (*add)(void *, const char *),
			   void *arg)
{
	if (health_ok(h)) {
		add(arg, "OK");
		return;
	}
	for (int i = 0; i < h->n; i++)
		if (!h->check[i].ok)
			add(arg, h->check[i].reason);
}

static void health_add_line(void *arg, const char *reason)
{
	FILE *f = arg;

	fprintf(f, "%s%s", ftell(f) > 0 ? "\n" : "", reason);
}

static void health_add_json(void *arg, const char *reason)
{
	json_array_append_new(arg, json_string(reason));
}

static char *health_render_text(const struct health_report *h)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	health_reasons(h, health_add_line, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *health_render_json(const struct health_report *h, bool detailed)
{
	json_t *body = json_object(), *reasons = json_array();
	char now[32];
	char *out = NULL;

	if (body == NULL || reasons == NULL)
		goto out;
	json_object_set_new(body, "detailed", json_boolean(detailed));
	if (!detailed) {
		health_reasons(h, health_add_json, reasons);
	} else {
		util_now_iso(now);
		json_object_set_new(body, "now", json_string(now));
		for (int i = 0; i < h->n; i++)
			json_array_append_new(reasons, json_pack("{s:s, s:s, s:s}",
				"reason", h->check[i].reason, "details", h->check[i].details,
				"class", h->check[i].name));
	}
	json_object_set(body, "reasons", reasons);
	out = json_dumps(body, JSON_INDENT(4) | JSON_SORT_KEYS);
out:
	json_decref(reasons);
	json_decref(body);
	return out;
}

char *health_render(const struct health_report *h, enum health_format fmt, bool detailed,
		    const char **content_type)
{
	if (fmt == HEALTH_JSON) {
		*content_type = "application/json";
		return health_render_json(h, detailed);
	}
	*content_type = "text/plain; charset=UTF-8";
	return health_render_text(h);
}
