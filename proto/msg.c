/*
 * msg.c - message lifetime, outgoing-cast preparation and the shared context-key table.
 */
#include "proto/msg.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "common/util.h"
#include "proto/internal.h"

#define CTX_STR(member, dflt) { #member, offsetof(struct proto_context, member), dflt }

const struct proto_ctx_str proto_ctx_strs[PROTO_CTX_NSTRS] = {
	CTX_STR(user_id, NULL),
	CTX_STR(project_id, NULL),
	CTX_STR(project_name, NULL),
	CTX_STR(request_id, NULL),
	CTX_STR(global_request_id, NULL),
	CTX_STR(auth_token, NULL),
	CTX_STR(remote_address, NULL),
	CTX_STR(timestamp, NULL),
	CTX_STR(read_deleted, "no"),
	CTX_STR(quota_class, NULL),
};

void proto_msg_init(struct proto_msg *m, size_t arena_cap)
{
	memset(m, 0, sizeof(*m));
	pv_arena_init(&m->arena, arena_cap);
}

void proto_msg_destroy(struct proto_msg *m)
{
	pv_arena_destroy(&m->arena);
}

/* An arena copy of s, NULL for NULL; a failed copy shows up as m->arena.failed. */
static const char *arena_dup(struct pv_arena *a, const char *s)
{
	return s ? pv_arena_strndup(a, s, strlen(s)) : NULL;
}

int proto_msg_prepare_cast(struct proto_msg *m, const char *method, const char *version,
			   const struct proto_context *ctx, uint32_t nargs)
{
	struct pv_arena *a = &m->arena;

	if (ctx->nroles > PROTO_MAX_ROLES)
		return -1;
	m->method = arena_dup(a, method);
	m->version = arena_dup(a, version);
	util_hex_id(m->unique_id);
	m->ctx = *ctx;
	for (unsigned i = 0; i < PROTO_CTX_NSTRS; i++) {
		const char **f = (const char **)((char *)&m->ctx + proto_ctx_strs[i].off);
		*f = arena_dup(a, *f);
	}
	for (uint32_t i = 0; i < ctx->nroles; i++)
		m->ctx.roles[i] = arena_dup(a, ctx->roles[i]);
	m->args = pv_new_map(a, nargs);
	return a->failed || !m->method || !m->version ? -1 : 0;
}

int proto_version_parse(const char *s, unsigned *major, unsigned *minor)
{
	unsigned *part[2] = { major, minor };

	if (!s)
		return -1;
	for (int i = 0; i < 2; i++) {
		unsigned v = 0, digits = 0;

		for (; *s >= '0' && *s <= '9' && digits < 6; s++, digits++)
			v = v * 10 + (unsigned)(*s - '0');
		if (digits == 0 || digits > 5 || *s != (i == 0 ? '.' : '\0'))
			return -1;
		*part[i] = v;
		s++;
	}
	return 0;
}

int proto_detail(int rc, char *detail, size_t detlen, const char *fmt, ...)
{
	if (detail && detlen > 0) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(detail, detlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

char *proto_failure_format(const char *module, const char *cls, const char *message)
{
	json_t *f = json_pack("{s:s, s:s, s:s, s:[], s:[s], s:{}}", "class", cls, "module",
			      module, "message", message, "tb", "args", message, "kwargs");
	char *text = f != NULL ? json_dumps(f, JSON_COMPACT) : NULL;

	json_decref(f);
	return text;
}

int proto_failure_parse(const char *failure, char cls[PROTO_FAILURE_CLASS_MAX],
			char message[PROTO_FAILURE_MESSAGE_MAX])
{
	json_error_t err;
	json_t *f = failure != NULL ? json_loads(failure, 0, &err) : NULL;
	const char *c = json_string_value(json_object_get(f, "class"));
	const char *m = json_string_value(json_object_get(f, "message"));
	int rc = -1;

	if (c != NULL) {
		util_strlcpy(cls, c, PROTO_FAILURE_CLASS_MAX);
		util_strlcpy(message, m != NULL ? m : "", PROTO_FAILURE_MESSAGE_MAX);
		rc = 0;
	}
	json_decref(f);
	return rc;
}
