/*
 * codec.c - msgpack decoding (hostile input) and encoding of RPC messages and replies.
 */
#include "proto/codec.h"

#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <string.h>

#include "common/utf8.h"
#include "proto/internal.h"

/*
 * The most arena bytes one decoded object can take besides its string bytes: its 16-byte
 * slot in the parent, plus for a container a node and a capacity header, plus for a string
 * up to 16 bytes of NUL and alignment. A message's arena cap is this times the object count
 * the pre-scan found, plus the body length (string bytes), plus slack for the envelope.
 */
#define NODE_COST 64
#define ARENA_SLACK 4096
#define MAX_NAME 255

const struct proto_limits proto_default_limits = {
	.max_bytes = 1048576,
	.max_depth = 16,
	.max_nodes = 65536,
	.max_string = 65536,
};

const char *proto_strerror(int status)
{
	static const char *const text[] = {
		"ok", "body too large", "not msgpack or truncated", "trailing bytes",
		"nesting too deep", "too many objects or a count beyond the body",
		"bad string or map key", "top level is not a map", "bad envelope",
		"unknown method", "unsupported version", "bad arguments", "out of memory",
		"integer out of range",
	};

	return status <= 0 && -status < (int)(sizeof(text) / sizeof(text[0])) ?
	       text[-status] : "unknown status";
}

static int conv_str(const msgpack_object_str *s, struct pv_arena *a, struct pv *out,
		    char *detail, size_t detlen)
{
	if (!utf8_valid_n(s->ptr, s->size))
		return proto_detail(PROTO_ESTRING, detail, detlen,
				    "string is not UTF-8 or contains NUL");
	*out = (struct pv){ .type = PV_STR, .n = s->size };
	out->u.s = pv_arena_strndup(a, s->ptr, s->size);
	return out->u.s ? PROTO_OK : proto_detail(PROTO_ENOMEM, detail, detlen, "arena exhausted");
}

/*
 * As an error unwinds out of a map value or an array item, prefixes detail with the key or
 * index, building a path like "args.volume.versioned_object.data.id: string is not UTF-8"
 * (the innermost reasons below contain no ": ").
 */
static int at(int rc, const char *name, char *detail, size_t detlen)
{
	char tmp[256];

	if (detail && detlen > 0) {
		snprintf(tmp, sizeof(tmp), "%s%s%s", name, strstr(detail, ": ") ? "." : ": ",
			 detail);
		snprintf(detail, detlen, "%s", tmp);
	}
	return rc;
}

/* Copies o into out; recursion is bounded by the pre-scan's depth check. */
static int conv(const msgpack_object *o, struct pv_arena *a, struct pv *out,
		char *detail, size_t detlen)
{
	struct pv *c;
	int rc;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		*out = (struct pv){ .type = PV_NULL };
		return PROTO_OK;
	case MSGPACK_OBJECT_BOOLEAN:
		*out = (struct pv){ .type = PV_BOOL, .u.b = o->via.boolean };
		return PROTO_OK;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return proto_detail(PROTO_ERANGE, detail, detlen, "integer %llu out of range",
					    (unsigned long long)o->via.u64);
		*out = (struct pv){ .type = PV_INT, .u.i = (int64_t)o->via.u64 };
		return PROTO_OK;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (struct pv){ .type = PV_INT, .u.i = o->via.i64 };
		return PROTO_OK;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return proto_detail(PROTO_ERANGE, detail, detlen, "float is not finite");
		*out = (struct pv){ .type = PV_FLOAT, .u.f = o->via.f64 };
		return PROTO_OK;
	case MSGPACK_OBJECT_STR:
		return conv_str(&o->via.str, a, out, detail, detlen);
	case MSGPACK_OBJECT_ARRAY:
		if (!(c = pv_new_array(a, o->via.array.size)))
			break;
		for (; c->n < o->via.array.size; c->n++) {
			char idx[16];

			if ((rc = conv(&o->via.array.ptr[c->n], a, &c->u.items[c->n], detail,
				       detlen))) {
				snprintf(idx, sizeof(idx), "%u", c->n);
				return at(rc, idx, detail, detlen);
			}
		}
		*out = *c;
		return PROTO_OK;
	case MSGPACK_OBJECT_MAP:
		if (!(c = pv_new_map(a, o->via.map.size)))
			break;
		for (; c->n < o->via.map.size; c->n++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[c->n];
			struct pv_pair *p = &c->u.pairs[c->n];

			if (kv->key.type != MSGPACK_OBJECT_STR)
				return proto_detail(PROTO_ESTRING, detail, detlen,
						    "map key is not a string");
			if ((rc = conv_str(&kv->key.via.str, a, &p->key, detail, detlen)))
				return rc;
			if ((rc = conv(&kv->val, a, &p->val, detail, detlen)))
				return at(rc, p->key.u.s, detail, detlen);
		}
		*out = *c;
		return PROTO_OK;
	default:
		return proto_detail(PROTO_EPARSE, detail, detlen, "msgpack type %d not allowed",
				    (int)o->type);
	}
	return proto_detail(PROTO_ENOMEM, detail, detlen, "arena exhausted");
}

/* The hostile-body pipeline shared by every decoder. size_arena: set a->cap from the body. */
static int decode_tree(const void *body, size_t len, const struct proto_limits *lim,
		       struct pv_arena *a, bool size_arena, struct pv **out,
		       char *detail, size_t detlen)
{
	const struct proto_limits *l = lim ? lim : &proto_default_limits;
	msgpack_unpacked u;
	size_t end, nodes, off = 0;
	int rc;

	if (len > l->max_bytes)
		return proto_detail(PROTO_ETOOBIG, detail, detlen, "body of %zu bytes exceeds %zu",
				    len, l->max_bytes);
	rc = proto_prescan(body, len, l, &end, &nodes, detail, detlen);
	if (rc)
		return rc;
	/* Checked before msgpack-c runs, so garbage after the object costs no allocation. */
	if (end != len)
		return proto_detail(PROTO_ETRAILING, detail, detlen,
				    "%zu trailing bytes after the object", len - end);
	if (size_arena)
		a->cap = nodes * NODE_COST + len + ARENA_SLACK;
	if (!(*out = pv_arena_alloc(a, sizeof(**out))))
		return proto_detail(PROTO_ENOMEM, detail, detlen, "arena exhausted");
	msgpack_unpacked_init(&u);
	switch (msgpack_unpack_next(&u, body, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		/* The pre-scan's guarantees hold only if msgpack-c ends the object where it did. */
		rc = off == len ? conv(&u.data, a, *out, detail, detlen) :
		     proto_detail(PROTO_ETRAILING, detail, detlen, "trailing bytes at %zu", off);
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		rc = proto_detail(PROTO_ENOMEM, detail, detlen, "msgpack-c out of memory");
		break;
	default:
		rc = proto_detail(PROTO_EPARSE, detail, detlen, "msgpack-c rejected the body");
		break;
	}
	msgpack_unpacked_destroy(&u);
	return rc;
}

int proto_msgpack_decode_value(const void *body, size_t len, const struct proto_limits *lim,
			       struct pv_arena *arena, struct pv **out, char *detail, size_t detlen)
{
	return decode_tree(body, len, lim, arena, false, out, detail, detlen);
}

/* --- envelope ---------------------------------------------------------------------------- */

#define CTX_PREFIX "_context_"

enum env_kind {
	EK_METHOD, EK_VERSION, EK_ARGS, EK_NAMESPACE, EK_UNIQUE_ID, EK_MSG_ID, EK_REPLY_Q,
	EK_TIMEOUT, EK_IS_ADMIN, EK_IS_ADMIN_PROJECT, EK_ROLES,
	EK_CTX_STR /* first of PROTO_CTX_NSTRS entries, one per proto_ctx_strs[] row */
};

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
	case EK_REPLY_Q:
		if (v->type != PV_STR || v->n == 0 || v->n > MAX_NAME)
			return "expected a string of 1 to 255 bytes";
		*(k == EK_METHOD ? &m->method : &m->reply_q) = v->u.s;
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

static int envelope(struct proto_msg *m, struct pv *root, char *detail, size_t detlen)
{
	uint32_t seen = 0;

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

int proto_msgpack_decode(const void *body, size_t len, const struct proto_limits *lim,
			 struct proto_msg *m, char *detail, size_t detlen)
{
	struct pv *root;
	int rc;

	proto_msg_init(m, 0);
	rc = decode_tree(body, len, lim, &m->arena, true, &root, detail, detlen);
	if (rc)
		return rc;
	if (root->type != PV_MAP)
		return proto_detail(PROTO_ENOTMAP, detail, detlen, "top level is a %s, not a map",
				    pv_type_name(root->type));
	return envelope(m, root, detail, detlen);
}

/* --- encoding: every helper returns 0 or -1, OR'ed into one sticky error ------------------ */

static int pack_str(msgpack_packer *pk, const char *s)
{
	return s ? msgpack_pack_str_with_body(pk, s, strlen(s)) : msgpack_pack_nil(pk);
}

/* A string written as the concatenation of n parts, without a temporary buffer. */
static int pack_strv(msgpack_packer *pk, const char *const *parts, int n)
{
	size_t total = 0;
	int e;

	for (int i = 0; i < n; i++)
		total += strlen(parts[i]);
	e = msgpack_pack_str(pk, total);
	for (int i = 0; i < n; i++)
		e |= msgpack_pack_str_body(pk, parts[i], strlen(parts[i]));
	return e;
}

static int pack_ctx_key(msgpack_packer *pk, const char *name)
{
	return pack_strv(pk, (const char *const[]){ CTX_PREFIX, name }, 2);
}

static int pack_pv(msgpack_packer *pk, const struct pv *v)
{
	int e = 0;

	switch (v->type) {
	case PV_NULL:
		return msgpack_pack_nil(pk);
	case PV_BOOL:
		return v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case PV_INT:
		return msgpack_pack_int64(pk, v->u.i);
	case PV_FLOAT:
		return msgpack_pack_double(pk, v->u.f);
	case PV_STR:
		return msgpack_pack_str_with_body(pk, v->u.s, v->n);
	case PV_ARRAY:
		e = msgpack_pack_array(pk, v->n);
		for (uint32_t i = 0; i < v->n; i++)
			e |= pack_pv(pk, &v->u.items[i]);
		return e;
	case PV_MAP:
		e = msgpack_pack_map(pk, v->n);
		for (uint32_t i = 0; i < v->n; i++)
			e |= pack_pv(pk, &v->u.pairs[i].key) | pack_pv(pk, &v->u.pairs[i].val);
		return e;
	}
	return -1;
}

/* _context_ keys cinder always sends that volmgr has no value for. */
static const char *const ctx_nulls[] = {
	"system_scope", "domain", "domain_id", "user_domain", "project_domain", "resource_uuid",
	"message_resource_id", "message_resource_type", "message_action",
};
#define NCTX_NULLS (sizeof(ctx_nulls) / sizeof(ctx_nulls[0]))
/* The strings, the nulls, user, project, 4 booleans, roles, user_identity, service_catalog. */
#define NCTX_KEYS (PROTO_CTX_NSTRS + NCTX_NULLS + 2 + 4 + 3)

static bool has_role(const struct proto_context *c, const char *role)
{
	for (uint32_t i = 0; i < c->nroles; i++)
		if (strcmp(c->roles[i], role) == 0)
			return true;
	return false;
}

/* Writes the NCTX_KEYS context entries of RequestContext.to_dict() (cinder-behaviour §6.2). */
static int pack_context(msgpack_packer *pk, const struct proto_context *c)
{
	/* Cinder appends "admin" to an admin context's roles. */
	bool add_admin = c->is_admin && !has_role(c, "admin") && c->nroles < PROTO_MAX_ROLES;
	const char *identity[] = {
		c->user_id ? c->user_id : "-", " ", c->project_id ? c->project_id : "-", " - - -",
	};
	int e = 0;

	for (int i = 0; i < PROTO_CTX_NSTRS; i++) {
		const char *s = *(const char *const *)((const char *)c + proto_ctx_strs[i].off);

		e |= pack_ctx_key(pk, proto_ctx_strs[i].key) |
		     pack_str(pk, s ? s : proto_ctx_strs[i].dflt);
	}
	for (size_t i = 0; i < NCTX_NULLS; i++)
		e |= pack_ctx_key(pk, ctx_nulls[i]) | msgpack_pack_nil(pk);
	e |= pack_ctx_key(pk, "user") | pack_str(pk, c->user_id);
	e |= pack_ctx_key(pk, "project") | pack_str(pk, c->project_id);
	e |= pack_ctx_key(pk, "is_admin") |
	     (c->is_admin ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
	e |= pack_ctx_key(pk, "is_admin_project") |
	     (c->is_admin_project ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
	e |= pack_ctx_key(pk, "read_only") | msgpack_pack_false(pk);
	e |= pack_ctx_key(pk, "show_deleted") | msgpack_pack_false(pk);
	e |= pack_ctx_key(pk, "roles") | msgpack_pack_array(pk, c->nroles + add_admin);
	for (uint32_t i = 0; i < c->nroles; i++)
		e |= pack_str(pk, c->roles[i]);
	if (add_admin)
		e |= pack_str(pk, "admin");
	e |= pack_ctx_key(pk, "user_identity") | pack_strv(pk, identity, 4);
	e |= pack_ctx_key(pk, "service_catalog") | msgpack_pack_array(pk, 0);
	return e;
}

/* Hands the buffer to the caller on success, frees it on failure. */
static int finish(msgpack_sbuffer *sb, int e, char **out, size_t *outlen)
{
	if (e) {
		msgpack_sbuffer_destroy(sb);
		return PROTO_ENOMEM;
	}
	*outlen = sb->size;
	*out = msgpack_sbuffer_release(sb);
	return PROTO_OK;
}

int proto_msgpack_encode(const struct proto_msg *m, char **out, size_t *outlen)
{
	static const struct pv empty_map = { .type = PV_MAP };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int e;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	e = msgpack_pack_map(&pk, 4 + NCTX_KEYS + (m->namespace_ != NULL) + 3 * m->is_call);
	e |= pack_str(&pk, "method") | pack_str(&pk, m->method);
	e |= pack_str(&pk, "args") | pack_pv(&pk, m->args ? m->args : &empty_map);
	e |= pack_str(&pk, "version") | pack_str(&pk, m->version);
	if (m->namespace_)
		e |= pack_str(&pk, "namespace") | pack_str(&pk, m->namespace_);
	e |= pack_str(&pk, "_unique_id") | pack_str(&pk, m->unique_id);
	e |= pack_context(&pk, &m->ctx);
	if (m->is_call) {
		e |= pack_str(&pk, "_msg_id") | pack_str(&pk, m->msg_id);
		e |= pack_str(&pk, "_reply_q") | pack_str(&pk, m->reply_q);
		e |= pack_str(&pk, "_timeout") |
		     (m->timeout > 0 ? msgpack_pack_double(&pk, m->timeout) : msgpack_pack_nil(&pk));
	}
	return finish(&sb, e, out, outlen);
}

int proto_msgpack_encode_value(const struct pv *v, char **out, size_t *outlen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	return finish(&sb, pack_pv(&pk, v), out, outlen);
}

/* --- replies ------------------------------------------------------------------------------ */

int proto_msgpack_encode_reply(const struct proto_reply *r, char **out, size_t *outlen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int e;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	e = msgpack_pack_map(&pk, 4);
	e |= pack_str(&pk, "result") | (r->result ? pack_pv(&pk, r->result) : msgpack_pack_nil(&pk));
	e |= pack_str(&pk, "failure") | pack_str(&pk, r->failure);
	e |= pack_str(&pk, "ending") | (r->ending ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
	e |= pack_str(&pk, "_msg_id") | pack_str(&pk, r->msg_id);
	return finish(&sb, e, out, outlen);
}

int proto_msgpack_decode_reply(const void *body, size_t len, const struct proto_limits *lim,
			       struct pv_arena *arena, struct proto_reply *r,
			       char *detail, size_t detlen)
{
	const struct pv *failure, *ending;
	struct pv *root;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = decode_tree(body, len, lim, arena, false, &root, detail, detlen);
	if (rc)
		return rc;
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
