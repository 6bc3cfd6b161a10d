/*
 * envelope.c - oslo's inner message as a value tree, whatever the encoding: validation of a
 * decoded tree into struct proto_msg, and the tree of an outgoing message or reply.
 */
#include <stdio.h>
#include <string.h>

#include "proto/internal.h"

#define MAX_NAME 255

#define CTX_PREFIX "_context_"

enum env_kind {
	EK_METHOD, EK_VERSION, EK_ARGS, EK_NAMESPACE, EK_UNIQUE_ID, EK_MSG_ID, EK_REPLY_Q,
	EK_TIMEOUT, EK_IS_ADMIN, EK_IS_ADMIN_PROJECT, EK_ROLES,
	EK_CTX_STR /* first of PROTO_CTX_NSTRS entries, one per proto_ctx_strs[] row */
};

#define REPLY_Q_PREFIX "reply_"
#define REPLY_Q_LEN (sizeof(REPLY_Q_PREFIX) - 1 + 32)

static const struct env_key {
	const char *name;
	bool required;
} env_keys[EK_CTX_STR] = {
	[EK_METHOD] = { "method", true },
	[EK_VERSION] = { "version", true },
	[EK_ARGS] = { "args", true },
	[EK_NAMESPACE] = { "namespace", false },
	[EK_UNIQUE_ID] = { "_unique_id", true },
	[EK_MSG_ID] = { "_msg_id", false },
	[EK_REPLY_Q] = { "_reply_q", false },
	[EK_TIMEOUT] = { "_timeout", false },
	[EK_IS_ADMIN] = { CTX_PREFIX "is_admin", false },
	[EK_IS_ADMIN_PROJECT] = { CTX_PREFIX "is_admin_project", false },
	[EK_ROLES] = { CTX_PREFIX "roles", false },
};

/* The env_kind (or EK_CTX_STR + row) of a top-level key, or -1 for keys volmgr ignores. */
static int env_lookup(const char *key)
{
	for (int i = 0; i < EK_CTX_STR; i++)
		if (strcmp(key, env_keys[i].name) == 0)
			return i;
	if (strncmp(key, CTX_PREFIX, strlen(CTX_PREFIX)) == 0)
		for (int i = 0; i < PROTO_CTX_NSTRS; i++)
			if (strcmp(key + strlen(CTX_PREFIX), proto_ctx_strs[i].key) == 0)
				return EK_CTX_STR + i;
	return -1;
}

static bool is_hex32(const struct pv *v)
{
	return v->type == PV_STR && v->n == 32 &&
	       strspn(v->u.s, "0123456789abcdefABCDEF") == 32;
}

static const char **ctx_str_field(struct proto_msg *m, int row)
{
	return (const char **)((char *)&m->ctx + proto_ctx_strs[row].off);
}

/* Applies top-level value v of kind k to m; returns NULL or what v should have been. */
static const char *env_apply(struct proto_msg *m, int k, struct pv *v)
{
	bool null = v->type == PV_NULL;

	switch (k) {
	case EK_METHOD:
		if (v->type != PV_STR || v->n == 0 || v->n > MAX_NAME)
			return "expected a string of 1 to 255 bytes";
		m->method = v->u.s;
		return NULL;
	case EK_REPLY_Q:
		/* oslo.messaging's reply queues are "reply_" and a uuid's 32 hex digits: a reply
		 * goes through the default exchange, so any other name could route it into a
		 * queue the caller does not own. */
		if (v->type != PV_STR || v->n != REPLY_Q_LEN ||
		    strncmp(v->u.s, REPLY_Q_PREFIX, strlen(REPLY_Q_PREFIX)) != 0 ||
		    strspn(v->u.s + strlen(REPLY_Q_PREFIX), "0123456789abcdef") != 32)
			return "expected \"" REPLY_Q_PREFIX "\" and 32 lower-case hex digits";
		m->reply_q = v->u.s;
		return NULL;
	case EK_VERSION: {
		unsigned major, minor;

		if (v->type != PV_STR || proto_version_parse(v->u.s, &major, &minor) < 0)
			return "expected a version string \"X.Y\"";
		m->version = v->u.s;
		return NULL;
	}
	case EK_ARGS:
		if (v->type != PV_MAP)
			return "expected a map";
		m->args = v;
		return NULL;
	case EK_NAMESPACE:
		if (!null && v->type != PV_STR)
			return "expected a string or null";
		m->namespace_ = pv_str(v);
		return NULL;
	case EK_UNIQUE_ID:
		if (!is_hex32(v))
			return "expected 32 hex digits";
		for (int i = 0; i < 32; i++)
			m->unique_id[i] = (char)(v->u.s[i] | 0x20); /* hex digits: ASCII lowercase */
		m->unique_id[32] = '\0';
		return NULL;
	case EK_MSG_ID:
		if (!is_hex32(v))
			return "expected 32 hex digits";
		m->msg_id = v->u.s; /* kept as sent: the caller matches its reply on it */
		return NULL;
	case EK_TIMEOUT:
		if (!null && !(v->type == PV_INT && v->u.i >= 0) &&
		    !(v->type == PV_FLOAT && v->u.f >= 0))
			return "expected a number >= 0 or null";
		m->timeout = v->type == PV_INT ? (double)v->u.i : v->type == PV_FLOAT ? v->u.f : 0;
		return NULL;
	case EK_IS_ADMIN:
	case EK_IS_ADMIN_PROJECT:
		if (!null && v->type != PV_BOOL)
			return "expected a boolean or null";
		if (!null)
			*(k == EK_IS_ADMIN ? &m->ctx.is_admin : &m->ctx.is_admin_project) = v->u.b;
		return NULL;
	case EK_ROLES:
		if (null)
			return NULL;
		if (v->type != PV_ARRAY || v->n > PROTO_MAX_ROLES)
			return "expected an array of at most 32 strings";
		for (uint32_t i = 0; i < v->n; i++) {
			if (!(m->ctx.roles[i] = pv_str(&v->u.items[i])))
				return "expected an array of at most 32 strings";
		}
		m->ctx.nroles = v->n;
		return NULL;
	default:
		if (!null && v->type != PV_STR)
			return "expected a string or null";
		*ctx_str_field(m, k - EK_CTX_STR) = pv_str(v);
		return NULL;
	}
}

int proto_envelope_apply(struct proto_msg *m, struct pv *root, char *detail, size_t detlen)
{
	uint32_t seen = 0;

	if (root->type != PV_MAP)
		return proto_detail(PROTO_ENOTMAP, detail, detlen, "top level is a %s, not a map",
				    pv_type_name(root->type));

	m->ctx.is_admin_project = true;
	for (uint32_t i = 0; i < root->n; i++) {
		const char *key = root->u.pairs[i].key.u.s, *why;
		int k = env_lookup(key);

		if (k < 0)
			continue;
		if (seen & (1u << k))
			return proto_detail(PROTO_EENVELOPE, detail, detlen, "%s: duplicate key", key);
		seen |= 1u << k;
		if ((why = env_apply(m, k, &root->u.pairs[i].val)))
			return proto_detail(PROTO_EENVELOPE, detail, detlen, "%s: %s", key, why);
	}
	for (int k = 0; k < EK_CTX_STR; k++)
		if (env_keys[k].required && !(seen & (1u << k)))
			return proto_detail(PROTO_EENVELOPE, detail, detlen,
					    "%s: required key missing", env_keys[k].name);
	for (int i = 0; i < PROTO_CTX_NSTRS; i++)
		if (!*ctx_str_field(m, i))
			*ctx_str_field(m, i) = proto_ctx_strs[i].dflt;
	if (!m->msg_id != !m->reply_q)
		return proto_detail(PROTO_EENVELOPE, detail, detlen, "%s: required with %s",
				    m->msg_id ? "_reply_q" : "_msg_id",
				    m->msg_id ? "_msg_id" : "_reply_q");
	m->is_call = m->msg_id != NULL;
	return PROTO_OK;
}

/* --- outgoing trees ----------------------------------------------------------------------- */

/* _context_ keys cinder always sends that volmgr has no value for. */
static const char *const ctx_nulls[] = {
	"system_scope", "domain", "domain_id", "resource_uuid",
	"message_resource_id", "message_resource_type", "message_action",
};
#define NCTX_NULLS (sizeof(ctx_nulls) / sizeof(ctx_nulls[0]))
/* The strings, the nulls, user, project, the 2 domains, 4 booleans, roles, user_identity,
 * service_catalog. */
#define NCTX_KEYS (PROTO_CTX_NSTRS + NCTX_NULLS + 2 + 2 + 4 + 3)
/* method, args, version, namespace, _unique_id, the context, _msg_id, _reply_q, _timeout. */
#define NMSG_KEYS (5 + NCTX_KEYS + 3)

static bool has_role(const struct proto_context *c, const char *role)
{
	for (uint32_t i = 0; i < c->nroles; i++)
		if (strcmp(c->roles[i], role) == 0)
			return true;
	return false;
}

/* Puts "_context_<name>" => v; failures show in a->failed. */
static void put_ctx(struct pv_arena *a, struct pv *map, const char *name, const struct pv *v)
{
	char key[64];

	snprintf(key, sizeof(key), CTX_PREFIX "%s", name);
	pv_map_put(a, map, key, v);
}

/* Puts the NCTX_KEYS context entries of RequestContext.to_dict() (docs/cinder.md §6.2). */
static void put_context(struct pv_arena *a, struct pv *map, const struct proto_context *c)
{
	/* Cinder appends "admin" to an admin context's roles. */
	bool add_admin = c->is_admin && !has_role(c, "admin") && c->nroles < PROTO_MAX_ROLES;
	struct pv *roles = pv_new_array(a, c->nroles + add_admin);
	char identity[4 * MAX_NAME + 16];

	for (int i = 0; i < PROTO_CTX_NSTRS; i++) {
		const char *s = *(const char *const *)((const char *)c + proto_ctx_strs[i].off);

		put_ctx(a, map, proto_ctx_strs[i].key, pv_new_str(a, s ? s : proto_ctx_strs[i].dflt));
	}
	for (size_t i = 0; i < NCTX_NULLS; i++)
		put_ctx(a, map, ctx_nulls[i], pv_new_null(a));
	put_ctx(a, map, "user", pv_new_str(a, c->user_id));
	put_ctx(a, map, "project", pv_new_str(a, c->project_id));
	put_ctx(a, map, "user_domain", c->user_domain != NULL ? pv_new_str(a, c->user_domain) :
		pv_new_null(a));
	put_ctx(a, map, "project_domain", c->project_domain != NULL ?
		pv_new_str(a, c->project_domain) : pv_new_null(a));
	put_ctx(a, map, "is_admin", pv_new_bool(a, c->is_admin));
	put_ctx(a, map, "is_admin_project", pv_new_bool(a, c->is_admin_project));
	put_ctx(a, map, "read_only", pv_new_bool(a, false));
	put_ctx(a, map, "show_deleted", pv_new_bool(a, false));
	for (uint32_t i = 0; i < c->nroles; i++)
		pv_array_push(a, roles, pv_new_str(a, c->roles[i]));
	if (add_admin)
		pv_array_push(a, roles, pv_new_str(a, "admin"));
	put_ctx(a, map, "roles", roles);
	/* RequestContext's "{user} {project} {domain} {user_domain} {project_domain}", "-" for
	 * what is unknown. */
	snprintf(identity, sizeof(identity), "%.255s %.255s - %.255s %.255s",
		 c->user_id ? c->user_id : "-", c->project_id ? c->project_id : "-",
		 c->user_domain ? c->user_domain : "-", c->project_domain ? c->project_domain : "-");
	put_ctx(a, map, "user_identity", pv_new_str(a, identity));
	put_ctx(a, map, "service_catalog", pv_new_array(a, 0));
}

struct pv *proto_msg_tree(const struct proto_msg *m, struct pv_arena *a)
{
	struct pv *map = pv_new_map(a, NMSG_KEYS);

	if (map == NULL)
		return NULL;
	pv_map_put_str(a, map, "method", m->method);
	pv_map_put(a, map, "args", m->args ? m->args : pv_new_map(a, 0));
	pv_map_put_str(a, map, "version", m->version);
	if (m->namespace_)
		pv_map_put_str(a, map, "namespace", m->namespace_);
	pv_map_put_str(a, map, "_unique_id", m->unique_id);
	put_context(a, map, &m->ctx);
	if (m->is_call) {
		struct pv *timeout = pv_new_null(a);

		if (timeout != NULL && m->timeout > 0)
			*timeout = (struct pv){ .type = PV_FLOAT, .u.f = m->timeout };
		pv_map_put_str(a, map, "_msg_id", m->msg_id);
		pv_map_put_str(a, map, "_reply_q", m->reply_q);
		pv_map_put(a, map, "_timeout", timeout);
	}
	return a->failed ? NULL : map;
}

struct pv *proto_reply_tree(const struct proto_reply *r, struct pv_arena *a)
{
	struct pv *map = pv_new_map(a, 4);

	if (map == NULL)
		return NULL;
	pv_map_put(a, map, "result", r->result ? r->result : pv_new_null(a));
	pv_map_put_str(a, map, "failure", r->failure);
	pv_map_put_bool(a, map, "ending", r->ending);
	pv_map_put_str(a, map, "_msg_id", r->msg_id);
	return a->failed ? NULL : map;
}

int proto_reply_apply(const struct pv *root, struct proto_reply *r, char *detail, size_t detlen)
{
	const struct pv *failure, *ending;

	memset(r, 0, sizeof(*r));
	if (root->type != PV_MAP)
		return proto_detail(PROTO_ENOTMAP, detail, detlen, "top level is a %s, not a map",
				    pv_type_name(root->type));
	failure = pv_get(root, "failure");
	ending = pv_get(root, "ending");
	if (failure && failure->type != PV_NULL && failure->type != PV_STR)
		return proto_detail(PROTO_EENVELOPE, detail, detlen,
				    "failure: expected a string or null");
	if (ending && ending->type != PV_NULL && ending->type != PV_BOOL)
		return proto_detail(PROTO_EENVELOPE, detail, detlen,
				    "ending: expected a boolean or null");
	if (!(r->msg_id = pv_str(pv_get(root, "_msg_id"))))
		return proto_detail(PROTO_EENVELOPE, detail, detlen, "_msg_id: expected a string");
	r->result = pv_get(root, "result");
	r->failure = pv_str(failure);
	r->ending = ending && ending->type == PV_BOOL && ending->u.b;
	return PROTO_OK;
}
