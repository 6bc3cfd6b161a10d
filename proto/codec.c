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
#include "proto/wire.h"

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

int proto_msgpack_decode_tree(const void *body, size_t len, const struct proto_limits *lim,
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
		a->cap = nodes * PROTO_NODE_COST + len + PROTO_ARENA_SLACK;
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
	return proto_msgpack_decode_tree(body, len, lim, arena, false, out, detail, detlen);
}

int proto_msgpack_decode(const void *body, size_t len, const struct proto_limits *lim,
			 struct proto_msg *m, char *detail, size_t detlen)
{
	return proto_decode(PROTO_FMT_MSGPACK, body, len, lim, m, detail, detlen);
}

/* --- encoding ---------------------------------------------------------------------------- */

/* Every helper returns 0 or -1, OR'ed into one sticky error. */
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

int proto_msgpack_encode_value(const struct pv *v, char **out, size_t *outlen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (pack_pv(&pk, v) != 0) {
		msgpack_sbuffer_destroy(&sb);
		return PROTO_ENOMEM;
	}
	*outlen = sb.size;
	*out = msgpack_sbuffer_release(&sb);
	return PROTO_OK;
}

int proto_msgpack_encode(const struct proto_msg *m, char **out, size_t *outlen)
{
	return proto_encode(PROTO_FMT_MSGPACK, m, out, outlen);
}

/* --- replies ------------------------------------------------------------------------------ */

int proto_msgpack_encode_reply(const struct proto_reply *r, char **out, size_t *outlen)
{
	return proto_encode_reply(PROTO_FMT_MSGPACK, r, out, outlen);
}

int proto_msgpack_decode_reply(const void *body, size_t len, const struct proto_limits *lim,
			       struct pv_arena *arena, struct proto_reply *r,
			       char *detail, size_t detlen)
{
	return proto_decode_reply(PROTO_FMT_MSGPACK, body, len, lim, arena, r, detail, detlen);
}
