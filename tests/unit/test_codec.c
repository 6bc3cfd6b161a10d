/*
 * test_codec.c - msgpack codec: round trips, envelope validation, hostile bodies; plus the
 * value arena and the jansson bridge the tests lean on.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "proto/codec.h"
#include "proto/json.h"
#include "proto/schema.h"
#include "msg_fixture.h"

TestSuite(codec, .init = msg_fixture_setup, .fini = msg_fixture_teardown, .timeout = 20.);

static const struct proto_context full_ctx = {
	.user_id = "u1", .project_id = "p1", .project_name = "proj",
	.request_id = "req-6a1f2c3d-0000-4000-8000-000000000001", .auth_token = "tok",
	.remote_address = "127.0.0.1", .timestamp = "2024-02-23T20:16:31.123456",
	.is_admin = true, .is_admin_project = true, .roles = { "member", "reader" }, .nroles = 2,
};

/* Encodes an outgoing extend_volume_completion cast (or call) into *buf. */
static size_t encode_cast(bool call, char **buf)
{
	struct proto_msg o;
	size_t len;

	proto_msg_init(&o, 1 << 16);
	cr_assert(eq(int, proto_msg_prepare_cast(&o, "extend_volume_completion", "3.19", &full_ctx,
						 3), 0));
	cr_assert(eq(int, pv_map_put_int(&o.arena, o.args, "new_size", 2), 0));
	cr_assert(eq(int, pv_map_put_bool(&o.arena, o.args, "error", false), 0));
	cr_assert(eq(int, pv_map_put_str(&o.arena, o.args, "note", "h\xc3\xa9llo"), 0));
	if (call) {
		o.is_call = true;
		o.msg_id = MSGID;
		o.reply_q = REPLY_Q;
		o.timeout = 30.5;
		o.namespace_ = "ns";
	}
	cr_assert(eq(int, proto_msgpack_encode(&o, buf, &len), PROTO_OK));
	proto_msg_destroy(&o);
	return len;
}

static int decode(const void *b, size_t n, const struct proto_limits *lim)
{
	detail[0] = '\0';
	return proto_msgpack_decode(b, n, lim, &m, detail, sizeof(detail));
}

/* The tree of an encoded cast, for mutation. */
static struct pv *good_tree(void)
{
	struct pv *root;
	char *buf;
	size_t len = encode_cast(false, &buf);

	cr_assert(eq(int, proto_msgpack_decode_value(buf, len, NULL, &ta, &root, detail,
						     sizeof(detail)), PROTO_OK));
	free(buf);
	return root;
}

/* A copy of map with key set to val, or removed when val is NULL. */
static struct pv *with(const struct pv *map, const char *key, const struct pv *val)
{
	struct pv *c = pv_new_map(&ta, map->n + 1);
	bool done = false;

	for (uint32_t i = 0; i < map->n; i++) {
		const struct pv_pair *p = &map->u.pairs[i];

		if (strcmp(p->key.u.s, key) != 0)
			pv_map_put(&ta, c, p->key.u.s, &p->val);
		else if (val)
			pv_map_put(&ta, c, key, val);
		done |= strcmp(p->key.u.s, key) == 0;
	}
	if (!done && val)
		pv_map_put(&ta, c, key, val);
	cr_assert(not(ta.failed));
	return c;
}

static int decode_value_tree(const struct pv *root)
{
	char *buf;
	size_t len;
	int rc;

	cr_assert(eq(int, proto_msgpack_encode_value(root, &buf, &len), PROTO_OK));
	rc = decode(buf, len, NULL);
	free(buf);
	return rc;
}

/* --- round trips ---------------------------------------------------------------------------- */

Test(codec, cast_round_trip)
{
	char *buf;
	size_t len = encode_cast(false, &buf);

	cr_assert(eq(int, decode(buf, len, NULL), PROTO_OK), "%s", detail);
	free(buf);
	cr_expect(eq(str, (char *)m.method, "extend_volume_completion"));
	cr_expect(eq(str, (char *)m.version, "3.19"));
	cr_expect(eq(ptr, (void *)m.namespace_, NULL));
	cr_expect(eq(sz, strlen(m.unique_id), 32));
	cr_expect(not(m.is_call));
	cr_expect(eq(str, (char *)m.ctx.user_id, "u1"));
	cr_expect(eq(str, (char *)m.ctx.project_id, "p1"));
	cr_expect(eq(str, (char *)m.ctx.project_name, "proj"));
	cr_expect(eq(str, (char *)m.ctx.request_id, (char *)full_ctx.request_id));
	cr_expect(eq(ptr, (void *)m.ctx.global_request_id, NULL));
	cr_expect(eq(str, (char *)m.ctx.auth_token, "tok"));
	cr_expect(eq(str, (char *)m.ctx.remote_address, "127.0.0.1"));
	cr_expect(eq(str, (char *)m.ctx.timestamp, (char *)full_ctx.timestamp));
	cr_expect(eq(str, (char *)m.ctx.read_deleted, "no"));
	cr_expect(eq(ptr, (void *)m.ctx.quota_class, NULL));
	cr_expect(m.ctx.is_admin && m.ctx.is_admin_project);
	cr_assert(eq(u32, m.ctx.nroles, 3));
	cr_expect(eq(str, (char *)m.ctx.roles[0], "member"));
	cr_expect(eq(str, (char *)m.ctx.roles[2], "admin"));
	cr_assert(eq(u32, m.args->n, 3));
	cr_expect(eq(i64, pv_get(m.args, "new_size")->u.i, 2));
	cr_expect(eq(int, pv_get(m.args, "error")->type, PV_BOOL));
	cr_expect(eq(str, (char *)pv_str(pv_get(m.args, "note")), "h\xc3\xa9llo"));
}

Test(codec, call_round_trip)
{
	char *buf;
	size_t len = encode_cast(true, &buf);

	cr_assert(eq(int, decode(buf, len, NULL), PROTO_OK), "%s", detail);
	free(buf);
	cr_expect(m.is_call);
	cr_expect(eq(str, (char *)m.msg_id, MSGID));
	cr_expect(eq(str, (char *)m.reply_q, REPLY_Q));
	cr_expect(eq(dbl, m.timeout, 30.5));
	cr_expect(eq(str, (char *)m.namespace_, "ns"));
}

/* Every key of RequestContext.to_dict() is on the wire, with cinder's derived values. */
Test(codec, encoder_writes_every_context_key)
{
	static const char *const keys[] = {
		"user", "user_id", "project_id", "project", "system_scope", "domain", "domain_id",
		"user_domain", "project_domain", "is_admin", "read_only", "show_deleted",
		"auth_token", "request_id", "global_request_id", "resource_uuid", "roles",
		"user_identity", "is_admin_project", "project_name", "read_deleted",
		"remote_address", "timestamp", "quota_class", "service_catalog",
		"message_resource_id", "message_resource_type", "message_action",
	};
	struct pv *root = good_tree();
	char key[64];
	uint32_t nctx = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(key, sizeof(key), "_context_%s", keys[i]);
		cr_expect(pv_get(root, key) != NULL, "missing %s", key);
	}
	for (uint32_t i = 0; i < root->n; i++)
		nctx += strncmp(root->u.pairs[i].key.u.s, "_context_", 9) == 0;
	cr_expect(eq(u32, nctx, 28));
	cr_expect(eq(u32, root->n, 28 + 4));
	cr_expect(eq(str, (char *)pv_str(pv_get(root, "_context_user")), "u1"));
	cr_expect(eq(str, (char *)pv_str(pv_get(root, "_context_project")), "p1"));
	cr_expect(eq(str, (char *)pv_str(pv_get(root, "_context_user_identity")), "u1 p1 - - -"));
	cr_expect(eq(str, (char *)pv_str(pv_get(root, "_context_read_deleted")), "no"));
	cr_expect(eq(int, pv_get(root, "_context_domain")->type, PV_NULL));
	cr_expect(eq(int, pv_get(root, "_context_service_catalog")->type, PV_ARRAY));
	cr_expect(eq(int, pv_get(root, "_context_read_only")->type, PV_BOOL));
	cr_expect(eq(ptr, (void *)pv_get(root, "namespace"), NULL));
	cr_expect(eq(ptr, (void *)pv_get(root, "_msg_id"), NULL));
}

Test(codec, reply_round_trip)
{
	struct proto_reply r = { .result = J("{\"id\": \"v1\", \"n\": [1, 2.5]}"), .ending = true,
				 .msg_id = MSGID }, back;
	char *buf;
	size_t len;

	cr_assert(eq(int, proto_msgpack_encode_reply(&r, &buf, &len), PROTO_OK));
	cr_assert(eq(int, proto_msgpack_decode_reply(buf, len, NULL, &ta, &back, detail,
						     sizeof(detail)), PROTO_OK), "%s", detail);
	free(buf);
	cr_expect(back.ending);
	cr_expect(eq(ptr, (void *)back.failure, NULL));
	cr_expect(eq(str, (char *)back.msg_id, MSGID));
	cr_expect(eq(str, (char *)pv_str(pv_get(back.result, "id")), "v1"));
	cr_expect(eq(dbl, pv_get(back.result, "n")->u.items[1].u.f, 2.5));

	r = (struct proto_reply){ .failure = "{\"class\": \"VolumeNotFound\"}", .msg_id = MSGID };
	cr_assert(eq(int, proto_msgpack_encode_reply(&r, &buf, &len), PROTO_OK));
	cr_assert(eq(int, proto_msgpack_decode_reply(buf, len, NULL, &ta, &back, detail,
						     sizeof(detail)), PROTO_OK));
	free(buf);
	cr_expect(eq(str, (char *)back.failure, (char *)r.failure));
	cr_expect(eq(int, back.result->type, PV_NULL));
	cr_expect(not(back.ending));
}

Test(codec, bad_reply)
{
	char *buf;
	size_t len;

	cr_assert(eq(int, proto_msgpack_encode_value(J("{\"result\": 1, \"failure\": 3, "
						       "\"_msg_id\": \"x\"}"), &buf, &len), 0));
	cr_expect(eq(int, proto_msgpack_decode_reply(buf, len, NULL, &ta, &(struct proto_reply){ 0 },
						     detail, sizeof(detail)), PROTO_EENVELOPE));
	cr_expect(strstr(detail, "failure") != NULL);
	free(buf);
}

Test(codec, unique_id_is_stored_lowercase)
{
	cr_assert(eq(int, decode_value_tree(with(good_tree(), "_unique_id",
						 J("\"0123456789ABCDEF0123456789ABCDEF\""))),
		     PROTO_OK), "%s", detail);
	cr_expect(eq(str, m.unique_id, UID));
}

Test(codec, context_defaults_and_ignored_keys)
{
	struct pv *t = with(good_tree(), "_context_read_deleted", NULL);

	t = with(t, "_context_is_admin_project", NULL);
	t = with(t, "_context_roles", J("null"));
	t = with(t, "_context_something_new", J("[1, {\"a\": 2}]"));
	t = with(t, "oslo_future_key", J("3"));
	cr_assert(eq(int, decode_value_tree(t), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)m.ctx.read_deleted, "no"));
	cr_expect(m.ctx.is_admin_project);
	cr_expect(eq(u32, m.ctx.nroles, 0));
}

/* The arena cap derived from the body fits the densest legal body: all-empty containers. */
Test(codec, densest_body_fits_the_arena)
{
	struct pv *t = good_tree();
	struct pv *arr = pv_new_array(&ta, 65000);

	for (int i = 0; i < 65000; i++)
		pv_array_push(&ta, arr, i % 2 ? pv_new_map(&ta, 0) : pv_new_array(&ta, 0));
	t = with(t, "args", with(J("{}"), "x", arr));
	cr_assert(eq(int, decode_value_tree(t), PROTO_OK), "%s", detail);
	cr_expect(eq(u32, pv_get(m.args, "x")->n, 65000));
}

/* --- envelope errors ---------------------------------------------------------------------- */

/* Criterion copies parameters into a freshly exec'd worker, so they hold no pointers. */
struct env_case {
	char key[32];
	char json[48]; /* "": remove the key */
	int rc;
};

ParameterizedTestParameters(codec, envelope)
{
	static struct env_case cases[] = {
		{ "method", "", PROTO_EENVELOPE },
		{ "method", "1", PROTO_EENVELOPE },
		{ "method", "\"\"", PROTO_EENVELOPE },
		{ "version", "", PROTO_EENVELOPE },
		{ "version", "3.0", PROTO_EENVELOPE },
		{ "version", "\"3\"", PROTO_EENVELOPE },
		{ "version", "\"3.x\"", PROTO_EENVELOPE },
		{ "args", "", PROTO_EENVELOPE },
		{ "args", "[]", PROTO_EENVELOPE },
		{ "args", "null", PROTO_EENVELOPE },
		{ "namespace", "7", PROTO_EENVELOPE },
		{ "_unique_id", "", PROTO_EENVELOPE },
		{ "_unique_id", "\"0123456789abcdef0123456789abcde\"", PROTO_EENVELOPE },
		{ "_unique_id", "\"0123456789abcdef0123456789abcdeg\"", PROTO_EENVELOPE },
		{ "_unique_id", "5", PROTO_EENVELOPE },
		{ "_context_user_id", "5", PROTO_EENVELOPE },
		{ "_context_request_id", "[]", PROTO_EENVELOPE },
		{ "_context_is_admin", "\"yes\"", PROTO_EENVELOPE },
		{ "_context_is_admin_project", "1", PROTO_EENVELOPE },
		{ "_context_roles", "\"admin\"", PROTO_EENVELOPE },
		{ "_context_roles", "[\"a\", 1]", PROTO_EENVELOPE },
		{ "_msg_id", "\"" MSGID "\"", PROTO_EENVELOPE },    /* no _reply_q */
		{ "_reply_q", "\"" REPLY_Q "\"", PROTO_EENVELOPE }, /* no _msg_id */
		{ "_msg_id", "\"abc\"", PROTO_EENVELOPE },
		{ "_timeout", "\"soon\"", PROTO_EENVELOPE },
		{ "_timeout", "-1", PROTO_EENVELOPE },
		{ "namespace", "null", PROTO_OK },
		{ "namespace", "\"volume\"", PROTO_OK },
		{ "_context_user_id", "null", PROTO_OK },
		{ "_timeout", "null", PROTO_OK },
		{ "_context_unknown_key", "[1]", PROTO_OK },
	};
	return cr_make_param_array(struct env_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct env_case *c, codec, envelope)
{
	int rc = decode_value_tree(with(good_tree(), c->key, c->json[0] ? J(c->json) : NULL));

	cr_assert(eq(int, rc, c->rc), "%s=%s: %s", c->key, c->json, detail);
	/* The detail names the key, except for the _msg_id/_reply_q pairing rule. */
	if (rc != PROTO_OK)
		cr_expect(strstr(detail, c->key) || strstr(detail, "_msg_id") ? 1 : 0, "%s", detail);
}

Test(codec, too_many_roles)
{
	struct pv *roles = pv_new_array(&ta, PROTO_MAX_ROLES + 1);

	for (int i = 0; i <= PROTO_MAX_ROLES; i++)
		pv_array_push(&ta, roles, pv_new_str(&ta, "r"));
	cr_expect(eq(int, decode_value_tree(with(good_tree(), "_context_roles", roles)),
		     PROTO_EENVELOPE));
	cr_expect(strstr(detail, "_context_roles") != NULL);
}

Test(codec, duplicate_envelope_key)
{
	struct pv *t = good_tree(), *c = pv_new_map(&ta, t->n + 1);

	for (uint32_t i = 0; i < t->n; i++)
		pv_map_put(&ta, c, t->u.pairs[i].key.u.s, &t->u.pairs[i].val);
	pv_map_put_str(&ta, c, "method", "delete_volume");
	cr_expect(eq(int, decode_value_tree(c), PROTO_EENVELOPE));
	cr_expect(strstr(detail, "method: duplicate") != NULL);
}

/* --- hostile bytes ------------------------------------------------------------------------ */

struct bytes_case {
	char name[32];
	unsigned char b[24];
	size_t len;
	int rc;
};

ParameterizedTestParameters(codec, hostile)
{
	static struct bytes_case cases[] = {
		{ "empty body", { 0 }, 0, PROTO_EPARSE },
		{ "never-used byte", { 0xc1 }, 1, PROTO_EPARSE },
		{ "truncated uint16", { 0x81, 0xa1, 'a', 0xcd, 0x01 }, 5, PROTO_EPARSE },
		{ "truncated map", { 0x82, 0xa1, 'a', 0x01, 0xa1, 'b' }, 6, PROTO_EPARSE },
		{ "trailing byte", { 0x80, 0x00 }, 2, PROTO_ETRAILING },
		{ "top-level array", { 0x91, 0x01 }, 2, PROTO_ENOTMAP },
		{ "top-level string", { 0xa1, 'x' }, 2, PROTO_ENOTMAP },
		{ "array32 40e6 in 9 bytes", { 0xdd, 0x02, 0x62, 0x5a, 0x00, 1, 2, 3, 4 }, 9,
		  PROTO_ECOUNT },
		{ "array32 max", { 0xdd, 0xff, 0xff, 0xff, 0xff }, 5, PROTO_ECOUNT },
		{ "map32 huge", { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a', 0x01 }, 8, PROTO_ECOUNT },
		{ "map16 pairs need 2 bytes", { 0xde, 0x00, 0x02, 0xa1, 'a', 1 }, 6, PROTO_ECOUNT },
		{ "str32 beyond body", { 0x81, 0xa1, 'a', 0xdb, 0x00, 0x00, 0x10, 0x00, 'x' }, 9,
		  PROTO_ECOUNT },
		{ "str32 over max_string", { 0x81, 0xa1, 'a', 0xdb, 0x00, 0x10, 0x00, 0x00, 'x' }, 9,
		  PROTO_ESTRING },
		{ "fixstr beyond body", { 0x81, 0xa1, 'a', 0xa5, 'x' }, 5, PROTO_ECOUNT },
		{ "invalid UTF-8", { 0x81, 0xa1, 'a', 0xa2, 0xc3, 0x28 }, 6, PROTO_ESTRING },
		{ "overlong UTF-8", { 0x81, 0xa1, 'a', 0xa2, 0xc0, 0x80 }, 6, PROTO_ESTRING },
		{ "UTF-8 surrogate", { 0x81, 0xa1, 'a', 0xa3, 0xed, 0xa0, 0x80 }, 7, PROTO_ESTRING },
		{ "truncated UTF-8", { 0x81, 0xa1, 'a', 0xa2, 'x', 0xe2 }, 6, PROTO_ESTRING },
		{ "invalid UTF-8 key", { 0x81, 0xa1, 0xff, 0x01 }, 4, PROTO_ESTRING },
		{ "embedded NUL", { 0x81, 0xa1, 'a', 0xa3, 'a', 0x00, 'b' }, 7, PROTO_ESTRING },
		{ "integer key", { 0x81, 0x01, 0x01 }, 3, PROTO_ESTRING },
		{ "nil key", { 0x81, 0xc0, 0x01 }, 3, PROTO_ESTRING },
		{ "bin8", { 0x81, 0xa1, 'a', 0xc4, 0x01, 0x00 }, 6, PROTO_EPARSE },
		{ "bin32 huge", { 0x81, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff, 0xff }, 8, PROTO_EPARSE },
		{ "fixext1", { 0x81, 0xa1, 'a', 0xd4, 0x01, 0x00 }, 6, PROTO_EPARSE },
		{ "ext8", { 0x81, 0xa1, 'a', 0xc7, 0x01, 0x05, 0x00 }, 7, PROTO_EPARSE },
		{ "uint64 > INT64_MAX", { 0x81, 0xa1, 'a', 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 12,
		  PROTO_ERANGE },
		{ "NaN", { 0x81, 0xa1, 'a', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0 }, 12, PROTO_ERANGE },
		{ "map without envelope", { 0x81, 0xa1, 'a', 0x01 }, 4, PROTO_EENVELOPE },
	};
	return cr_make_param_array(struct bytes_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bytes_case *c, codec, hostile)
{
	cr_expect(eq(int, decode(c->b, c->len, NULL), c->rc), "%s: %s", c->name, detail);
}

Test(codec, conversion_error_names_the_path)
{
	static const unsigned char b[] = { 0x81, 0xa4, 'a', 'r', 'g', 's', 0x81, 0xa1, 'v', 0x92,
					   0xa2, 'o', 'k', 0xa1, 0xff };

	cr_expect(eq(int, decode(b, sizeof(b), NULL), PROTO_ESTRING));
	cr_expect(eq(str, detail, "args.v.1: string is not UTF-8 or contains NUL"));
}

/* The 9-byte array32(40,000,000) body would make msgpack-c reserve ~960 MB; with the address
 * space capped at 64 MiB above the current size the pre-scan must still answer ECOUNT. */
Test(codec, declared_count_is_rejected_before_allocation)
{
	static const unsigned char body[] = { 0xdd, 0x02, 0x62, 0x5a, 0x00, 1, 2, 3, 4 };
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	struct rlimit rl;

	cr_assert(f != NULL && fscanf(f, "%lu", &pages) == 1);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * 4096 + (64u << 20);
	cr_assert(eq(int, setrlimit(RLIMIT_AS, &rl), 0));
	cr_expect(eq(int, decode(body, sizeof(body), NULL), PROTO_ECOUNT), "%s", detail);
	cr_expect(strstr(detail, "array of 40000000") != NULL, "%s", detail);
}

static size_t nested(unsigned char *b, int depth)
{
	memset(b, 0x91, (size_t)depth); /* fixarray of one element */
	b[depth] = 0x01;
	return (size_t)depth + 1;
}

Test(codec, depth_limits)
{
	unsigned char b[64];
	struct proto_limits deep = proto_default_limits;
	struct pv *v;

	deep.max_depth = 100;
	cr_expect(eq(int, proto_msgpack_decode_value(b, nested(b, 16), NULL, &ta, &v, detail,
						     sizeof(detail)), PROTO_OK));
	cr_expect(eq(int, decode(b, nested(b, 17), NULL), PROTO_EDEPTH));
	/* msgpack-c's own stack holds 32 containers; deeper is refused even if allowed. */
	cr_expect(eq(int, proto_msgpack_decode_value(b, nested(b, 32), &deep, &ta, &v, detail,
						     sizeof(detail)), PROTO_OK), "%s", detail);
	cr_expect(eq(int, decode(b, nested(b, 33), &deep), PROTO_EDEPTH));
	cr_expect(eq(int, decode(b, nested(b, 60), &deep), PROTO_EDEPTH));
}

Test(codec, size_node_and_string_limits)
{
	struct proto_limits lim = proto_default_limits;
	static const unsigned char arr[] = { 0x93, 1, 2, 3 };
	static const unsigned char str[] = { 0x81, 0xa1, 'a', 0xa5, 'h', 'e', 'l', 'l', 'o' };
	char *big = calloc(1, proto_default_limits.max_bytes + 1);

	cr_expect(eq(int, decode(big, proto_default_limits.max_bytes + 1, NULL), PROTO_ETOOBIG));
	free(big);
	lim.max_bytes = 3;
	cr_expect(eq(int, decode(arr, sizeof(arr), &lim), PROTO_ETOOBIG));
	lim = proto_default_limits;
	lim.max_nodes = 3;
	cr_expect(eq(int, decode(arr, sizeof(arr), &lim), PROTO_ECOUNT));
	lim = proto_default_limits;
	lim.max_string = 4;
	cr_expect(eq(int, decode(str, sizeof(str), &lim), PROTO_ESTRING));
}

/* Every proper prefix of a good body is rejected, never accepted and never crashes. */
Test(codec, every_truncation_is_rejected)
{
	char *buf;
	size_t len = encode_cast(true, &buf);

	for (size_t n = 0; n < len; n++) {
		int rc = decode(buf, n, NULL);

		cr_assert(rc == PROTO_EPARSE || rc == PROTO_ECOUNT, "prefix %zu: %d %s", n, rc,
			  detail);
		proto_msg_destroy(&m);
	}
	free(buf);
}

Test(codec, random_bytes_are_rejected)
{
	unsigned char b[64];

	srand(1234);
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rand() % (int)sizeof(b));

		for (size_t j = 0; j < n; j++)
			b[j] = (unsigned char)rand();
		cr_assert(ne(int, decode(b, n, NULL), PROTO_OK));
		proto_msg_destroy(&m);
	}
}

/* --- value arena and the jansson bridge ------------------------------------------------- */

Test(codec, arena_cap_is_sticky)
{
	struct pv_arena a;
	struct pv *arr;

	pv_arena_init(&a, 256);
	arr = pv_new_array(&a, 2);
	cr_assert(arr != NULL);
	cr_expect(eq(int, pv_array_push(&a, arr, pv_new_int(&a, 1)), 0));
	cr_expect(eq(int, pv_array_push(&a, arr, pv_new_int(&a, 2)), 0));
	cr_expect(eq(int, pv_array_push(&a, arr, pv_new_int(&a, 3)), -1)); /* full */
	cr_expect(a.failed);
	cr_expect(eq(ptr, pv_new_null(&a), NULL));
	pv_arena_destroy(&a);

	pv_arena_init(&a, 64);
	cr_expect(eq(ptr, pv_arena_alloc(&a, 65), NULL));
	cr_expect(a.failed);
	pv_arena_destroy(&a);
}

Test(codec, invalid_utf8_string_fails_the_arena)
{
	struct pv_arena a;
	struct pv *map;

	/* "é" cut after its first byte: what a byte-counted cut of a name used to leave. */
	pv_arena_init(&a, 4096);
	cr_expect(pv_new_str(&a, "caf\xc3\xa9") != NULL);
	cr_expect(not(a.failed));
	cr_expect(eq(ptr, pv_new_str(&a, "caf\xc3"), NULL));
	cr_expect(a.failed);
	cr_expect(eq(ptr, pv_new_int(&a, 1), NULL)); /* sticky */
	pv_arena_destroy(&a);

	pv_arena_init(&a, 4096);
	map = pv_new_map(&a, 2);
	cr_expect(eq(int, pv_map_put_str(&a, map, "name", "\xed\xa0\x80"), -1)); /* surrogate */
	cr_expect(a.failed);
	pv_arena_destroy(&a);

	pv_arena_init(&a, 4096);
	map = pv_new_map(&a, 2);
	cr_expect(eq(int, pv_map_put_int(&a, map, "\xff", 1), -1));
	cr_expect(a.failed);
	pv_arena_destroy(&a);
}

Test(codec, json_round_trip)
{
	static const char text[] = "{\"a\": [1, -2, 2.5, true, null, \"x\"], \"b\": {}}";
	json_t *back = proto_pv_to_json(J(text));
	json_t *orig = json_loads(text, 0, NULL);

	cr_assert(back != NULL && orig != NULL);
	cr_expect(json_equal(back, orig));
	json_decref(back);
	json_decref(orig);
}
