/*
 * test_wire.c - oslo's JSON encoding: round trips, equivalence with msgpack of the decoded
 * model, hostile bodies under the same limits, replies, and the content-type choice.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/wire.h"
#include "msg_fixture.h"

TestSuite(wire, .init = msg_fixture_setup, .fini = msg_fixture_teardown, .timeout = 20.);

static const struct proto_context ctx = {
	.user_id = "u1", .project_id = "p1", .request_id = "req-1", .timestamp = "2024-02-23T20:16:31",
	.is_admin = true, .is_admin_project = true, .roles = { "member" }, .nroles = 1,
};

/* Encodes an extend_volume call with non-ASCII text in fmt into *buf. */
static size_t encode_msg(enum proto_format fmt, char **buf)
{
	struct proto_msg o;
	size_t len;

	proto_msg_init(&o, 1 << 16);
	cr_assert(eq(int, proto_msg_prepare_cast(&o, "extend_volume", "3.0", &ctx, 4), 0));
	cr_assert(eq(int, pv_map_put_int(&o.arena, o.args, "new_size", 2), 0));
	cr_assert(eq(int, pv_map_put_str(&o.arena, o.args, "note", "h\xc3\xa9llo \xe2\x82\xac"), 0));
	cr_assert(eq(int, pv_map_put(&o.arena, o.args, "nested",
				     pv_fixture(&o.arena, "{\"a\": [1, 2.5, null, true]}")), 0));
	o.is_call = true;
	o.msg_id = MSGID;
	o.reply_q = REPLY_Q;
	o.timeout = 60;
	cr_assert(eq(int, proto_encode(fmt, &o, buf, &len), PROTO_OK));
	proto_msg_destroy(&o);
	return len;
}

static int decode_json(const char *body)
{
	proto_msg_destroy(&m);
	detail[0] = '\0';
	return proto_decode(PROTO_FMT_JSON, body, strlen(body), NULL, &m, detail, sizeof(detail));
}

/* The oslo envelope around inner (a JSON text), as oslo's serialize_msg writes it. */
static char *envelope_of(const char *inner)
{
	json_t *o = json_pack("{s:s, s:s}", "oslo.version", "2.0", "oslo.message", inner);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static int decode_inner(const char *inner)
{
	char *body = envelope_of(inner);
	int rc = decode_json(body);

	free(body);
	return rc;
}

/* A minimal valid inner message with extra top-level text spliced in before the closing. */
#define INNER_MIN "{\"method\": \"create_volume\", \"version\": \"3.0\", \"args\": {}, " \
	"\"_unique_id\": \"" UID "\""
#define INNER(extra) INNER_MIN extra "}"

Test(wire, json_body_is_the_oslo_envelope)
{
	char *buf;
	size_t len = encode_msg(PROTO_FMT_JSON, &buf);
	json_error_t err;
	json_t *outer = json_loadb(buf, len, 0, &err), *inner;

	cr_assert(outer != NULL, "%s", err.text);
	cr_expect(eq(sz, json_object_size(outer), 2));
	cr_expect(eq(str, (char *)json_string_value(json_object_get(outer, "oslo.version")), "2.0"));
	inner = json_loads(json_string_value(json_object_get(outer, "oslo.message")), 0, &err);
	cr_assert(inner != NULL, "%s", err.text);
	cr_expect(eq(str, (char *)json_string_value(json_object_get(inner, "method")),
		     "extend_volume"));
	cr_expect(eq(str, (char *)json_string_value(json_object_get(inner, "_reply_q")),
		     REPLY_Q));
	bool roles_array = json_is_array(json_object_get(inner, "_context_roles"));

	cr_expect(roles_array);
	json_decref(inner);
	json_decref(outer);
	free(buf);
}

Test(wire, json_round_trip)
{
	char *buf;
	size_t len = encode_msg(PROTO_FMT_JSON, &buf);

	cr_assert(eq(int, proto_decode(PROTO_FMT_JSON, buf, len, NULL, &m, detail, sizeof(detail)), PROTO_OK),
		  "%s", detail);
	free(buf);
	cr_expect(eq(str, (char *)m.method, "extend_volume"));
	cr_expect(eq(str, (char *)m.version, "3.0"));
	cr_expect(m.is_call);
	cr_expect(eq(str, (char *)m.msg_id, MSGID));
	cr_expect(eq(dbl, m.timeout, 60));
	cr_expect(eq(str, (char *)m.ctx.user_id, "u1"));
	cr_expect(eq(u32, m.ctx.nroles, 2));
	cr_expect(eq(str, (char *)pv_str(pv_get(m.args, "note")), "h\xc3\xa9llo \xe2\x82\xac"));
}

/* The same message decodes to the same model whichever encoding carried it. */
Test(wire, json_and_msgpack_decode_to_the_same_model)
{
	struct proto_msg mp;
	char *bj, *bm;
	size_t lj = encode_msg(PROTO_FMT_JSON, &bj), lm = encode_msg(PROTO_FMT_MSGPACK, &bm);

	cr_assert(eq(int, proto_decode(PROTO_FMT_JSON, bj, lj, NULL, &m, detail, sizeof(detail)),
		     PROTO_OK), "%s", detail);
	cr_assert(eq(int, proto_decode(PROTO_FMT_MSGPACK, bm, lm, NULL, &mp, detail,
				       sizeof(detail)), PROTO_OK), "%s", detail);
	json_t *aj = proto_pv_to_json(m.args), *am = proto_pv_to_json(mp.args);

	bool same_args = json_equal(aj, am);

	cr_expect(same_args);
	cr_expect(eq(str, (char *)m.method, (char *)mp.method));
	cr_expect(eq(str, (char *)m.ctx.request_id, (char *)mp.ctx.request_id));
	cr_expect(eq(str, (char *)m.ctx.read_deleted, (char *)mp.ctx.read_deleted));
	cr_expect(eq(int, m.ctx.is_admin, mp.ctx.is_admin));
	cr_expect(eq(u32, m.ctx.nroles, mp.ctx.nroles));
	cr_expect(eq(str, (char *)m.reply_q, (char *)mp.reply_q));
	cr_expect(eq(dbl, m.timeout, mp.timeout));
	json_decref(aj);
	json_decref(am);
	free(bj);
	free(bm);
	proto_msg_destroy(&mp);
}

/* A message as Cinder's client sends it: every context key, nulls, _timeout null. */
Test(wire, cinder_shaped_message)
{
	cr_assert(eq(int, decode_inner(INNER(", \"_context_user\": \"u\", \"_context_user_id\": "
		"\"u\", \"_context_project_id\": \"p\", \"_context_is_admin\": false, "
		"\"_context_roles\": [\"member\", \"reader\"], \"_context_domain\": null, "
		"\"_context_service_catalog\": [{\"type\": \"compute\"}], \"_context_read_deleted\": "
		"\"no\", \"_context_timestamp\": \"2024-02-23T20:16:31.123456\", "
		"\"_msg_id\": \"" MSGID "\", \"_reply_q\": \"" REPLY_Q "\", \"_timeout\": null")),
		PROTO_OK), "%s", detail);
	cr_expect(m.is_call);
	cr_expect(eq(dbl, m.timeout, 0));
	cr_expect(eq(str, (char *)m.ctx.project_id, "p"));
	cr_expect(not(m.ctx.is_admin));
	cr_expect(m.ctx.is_admin_project);
}

/* --- hostile bodies ----------------------------------------------------------------------- */

static int decode_with(const char *body, const struct proto_limits *lim)
{
	proto_msg_destroy(&m);
	return proto_decode(PROTO_FMT_JSON, body, strlen(body), lim, &m, detail, sizeof(detail));
}

Test(wire, outer_envelope_rules)
{
	cr_expect(eq(int, decode_json("not json"), PROTO_EPARSE));
	cr_expect(eq(int, decode_json("[]"), PROTO_EENVELOPE));
	cr_expect(eq(int, decode_json("{\"oslo.version\": \"2.0\"}"), PROTO_EENVELOPE));
	cr_expect(eq(int, decode_json("{\"oslo.version\": \"2.0\", \"oslo.message\": {}}"),
		     PROTO_EDEPTH));
	cr_expect(eq(int, decode_json("{\"oslo.version\": \"2.0\", \"oslo.message\": 1}"),
		     PROTO_EENVELOPE));
	cr_expect(eq(int, decode_json("{\"oslo.version\": \"1.0\", \"oslo.message\": \"{}\"}"),
		     PROTO_EENVELOPE));
	cr_expect(eq(int, decode_json("{\"oslo.version\": \"2.0\", \"oslo.message\": \"{}\", "
				      "\"x\": \"y\"}"), PROTO_ECOUNT));
	cr_expect(eq(int, decode_json("{\"oslo.version\": \"2.0\", \"oslo.version\": \"2.0\", "
				      "\"oslo.message\": \"{}\"}"), PROTO_ECOUNT));
	cr_expect(eq(int, decode_json("{\"oslo.version\": \"2.0\", \"oslo.message\": \"{}\"} x"),
		     PROTO_ETRAILING));
}

Test(wire, inner_rules_match_msgpack)
{
	cr_expect(eq(int, decode_inner("[1]"), PROTO_ENOTMAP));
	cr_expect(eq(int, decode_inner("{\"method\": \"x\"} extra"), PROTO_ETRAILING));
	cr_expect(eq(int, decode_inner(INNER_MIN ", \"method\": \"y\"}"), PROTO_EENVELOPE));
	cr_expect(eq(int, decode_inner("{\"method\": \"create_volume\", \"args\": {}}"),
		     PROTO_EENVELOPE));
	cr_expect(strstr(detail, "required key missing") != NULL, "%s", detail);
	cr_expect(eq(int, decode_inner(INNER(", \"_msg_id\": \"xyz\", \"_reply_q\": \"r\"")),
		     PROTO_EENVELOPE));
	cr_expect(eq(int, decode_inner(INNER(", \"_msg_id\": \"" MSGID "\"")), PROTO_EENVELOPE));
	cr_expect(eq(int, decode_inner(INNER(", \"x\": 99999999999999999999999")), PROTO_ERANGE));
	cr_expect(eq(int, decode_inner(INNER(", \"x\": 1e999")), PROTO_ERANGE));
	cr_expect(eq(int, decode_inner(INNER(", \"x\": \"a\\u0000b\"")), PROTO_ESTRING));
	cr_expect(eq(int, decode_inner(INNER(", \"x\": \"\\ud800\"")), PROTO_EPARSE));
	cr_expect(eq(int, decode_inner(INNER(", \"_timeout\": -1, \"_msg_id\": \"" MSGID
					     "\", \"_reply_q\": \"r\"")), PROTO_EENVELOPE));
	cr_expect(eq(int, decode_inner(INNER("")), PROTO_OK), "%s", detail);
}

/* Raw bytes that are not UTF-8 inside the inner text (the outer string carries them). */
Test(wire, invalid_utf8_is_refused)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"oslo.version\": \"2.0\", \"oslo.message\": "
		 "\"{\\\"method\\\": \\\"\xff\\\"}\"}");
	cr_expect(eq(int, decode_json(body), PROTO_ESTRING), "%s", detail);
}

Test(wire, limits)
{
	struct proto_limits lim = proto_default_limits;
	char *deep = malloc(4096), *inner;
	size_t n = 0;

	n += (size_t)sprintf(deep + n, INNER_MIN ", \"x\": ");
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	strcpy(deep + n, "}");
	cr_expect(eq(int, decode_inner(deep), PROTO_EDEPTH), "%s", detail);
	free(deep);

	lim.max_nodes = 20;
	inner = envelope_of(INNER(", \"x\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]"));
	cr_expect(eq(int, decode_with(inner, &lim), PROTO_ECOUNT), "%s", detail);
	lim = proto_default_limits;
	lim.max_string = 8;
	cr_expect(eq(int, decode_with(inner, &lim), PROTO_ESTRING), "%s", detail);
	lim = proto_default_limits;
	lim.max_bytes = strlen(inner) - 1;
	cr_expect(eq(int, decode_with(inner, &lim), PROTO_ETOOBIG), "%s", detail);
	free(inner);
}

/* --- replies and content types ------------------------------------------------------------ */

Test(wire, reply_round_trip_both_formats)
{
	enum proto_format fmts[] = { PROTO_FMT_MSGPACK, PROTO_FMT_JSON };
	struct pv *result = pv_fixture(&ta, "{\"driver_volume_type\": \"local\", \"data\": {}}");

	for (size_t i = 0; i < 2; i++) {
		struct proto_reply r = { .result = result, .failure = "{\"class\": \"X\"}",
					 .ending = true, .msg_id = MSGID }, back;
		struct pv_arena a;
		char *body;
		size_t len;

		pv_arena_init(&a, 1 << 20);
		cr_assert(eq(int, proto_encode_reply(fmts[i], &r, &body, &len), PROTO_OK));
		cr_assert(eq(int, proto_decode_reply(fmts[i], body, len, NULL, &a, &back, detail,
						     sizeof(detail)), PROTO_OK), "%s", detail);
		cr_expect(eq(str, (char *)back.msg_id, MSGID));
		cr_expect(eq(str, (char *)back.failure, "{\"class\": \"X\"}"));
		cr_expect(back.ending);
		cr_expect(eq(str, (char *)pv_str(pv_get(back.result, "driver_volume_type")), "local"));
		free(body);
		pv_arena_destroy(&a);
	}
}

Test(wire, content_types)
{
	enum proto_format f;

	cr_expect(eq(int, proto_format_of(NULL, &f), 0));
	cr_expect(eq(int, f, PROTO_FMT_MSGPACK));
	cr_expect(eq(int, proto_format_of("application/json", &f), 0));
	cr_expect(eq(int, f, PROTO_FMT_JSON));
	cr_expect(eq(int, proto_format_of("text/plain", &f), -1));
	cr_expect(eq(int, proto_format_parse("json", &f), 0));
	cr_expect(eq(int, proto_format_parse("xml", &f), -1));
	cr_expect(eq(str, (char *)proto_format_content_type(PROTO_FMT_MSGPACK), "application/msgpack"));
}

/* A notification is oslo's Notifier message in the 2.0 envelope, its payload an object. */
Test(wire, notification_envelope)
{
	const struct proto_notification n = {
		.message_id = "0b8b1f7c-5f3e-4c53-9d2e-3b9f0e7a1c2d", .publisher_id = "volume.h@b",
		.event_type = "volume.create.end", .priority = "INFO",
		.payload = "{\"volume_id\": \"v1\", \"size\": 1}",
		.timestamp = "2026-01-31 12:00:00.000001", .request_id = "req-1",
	};
	char *body = NULL;
	size_t len = 0;

	cr_assert(eq(int, proto_encode_notification(&n, &body, &len), PROTO_OK));
	json_t *outer = json_loadb(body, len, 0, NULL);
	cr_assert_not_null(outer);
	cr_assert_str_eq(json_string_value(json_object_get(outer, "oslo.version")), "2.0");
	json_t *inner = json_loads(json_string_value(json_object_get(outer, "oslo.message")), 0,
				   NULL);
	cr_assert_not_null(inner);
	cr_assert_str_eq(json_string_value(json_object_get(inner, "message_id")), n.message_id);
	cr_assert_str_eq(json_string_value(json_object_get(inner, "_unique_id")),
			 "0b8b1f7c5f3e4c539d2e3b9f0e7a1c2d");
	cr_assert_str_eq(json_string_value(json_object_get(inner, "event_type")), n.event_type);
	cr_assert_str_eq(json_string_value(json_object_get(inner, "priority")), "INFO");
	cr_assert_str_eq(json_string_value(json_object_get(inner, "timestamp")), n.timestamp);
	cr_assert_str_eq(json_string_value(json_object_get(inner, "_context_request_id")),
			 "req-1");
	json_t *payload = json_object_get(inner, "payload");
	cr_assert_not_null(payload);
	cr_assert_eq(json_typeof(payload), JSON_OBJECT);
	cr_assert_eq(json_integer_value(json_object_get(payload, "size")), 1);
	json_decref(inner);
	json_decref(outer);
	free(body);

	const struct proto_notification bad = { .message_id = n.message_id,
		.publisher_id = "p", .event_type = "e", .priority = "INFO", .payload = "{not json",
		.timestamp = n.timestamp };
	cr_assert(eq(int, proto_encode_notification(&bad, &body, &len), PROTO_EPARSE));
	cr_assert_null(body);
}
