/*
 * wire.c - oslo's JSON encoding, and the choice of encoding by content type (see wire.h).
 */
#include "proto/wire.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto/internal.h"
#include "proto/json.h"

#define OSLO_VERSION_KEY "oslo.version"
#define OSLO_MESSAGE_KEY "oslo.message"
/* The outer envelope: one object, two keys, two strings. */
#define OSLO_ENVELOPE_NODES 5

static const struct {
	const char *name;
	const char *content_type;
} formats[] = {
	[PROTO_FMT_MSGPACK] = { "msgpack", PROTO_CONTENT_TYPE_MSGPACK },
	[PROTO_FMT_JSON] = { "json", PROTO_CONTENT_TYPE_JSON },
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

int proto_format_of(const char *content_type, enum proto_format *fmt)
{
	if (content_type == NULL) {
		*fmt = PROTO_FMT_MSGPACK;
		return 0;
	}
	for (size_t i = 0; i < NFORMATS; i++)
		if (strcmp(content_type, formats[i].content_type) == 0) {
			*fmt = (enum proto_format)i;
			return 0;
		}
	return -1;
}

const char *proto_format_content_type(enum proto_format fmt)
{
	return formats[fmt].content_type;
}

const char *proto_format_name(enum proto_format fmt)
{
	return formats[fmt].name;
}

int proto_format_parse(const char *name, enum proto_format *fmt)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (strcmp(name, formats[i].name) == 0) {
			*fmt = (enum proto_format)i;
			return 0;
		}
	return -1;
}

/*
 * Unwraps the oslo envelope of body and parses its inner text into a tree in a (whose cap is
 * set from the inner text when size_arena). The envelope's bounds are fixed: its one string
 * may be as long as the body, nothing else is allowed.
 */
int proto_json_decode_tree(const void *body, size_t len, const struct proto_limits *lim,
			   struct pv_arena *a, bool size_arena, struct pv **out,
			   char *detail, size_t detlen)
{
	const struct proto_limits *l = lim ? lim : &proto_default_limits;
	const struct proto_limits outer_lim = {
		.max_bytes = l->max_bytes, .max_depth = 1, .max_nodes = OSLO_ENVELOPE_NODES,
		.max_string = len > UINT32_MAX ? UINT32_MAX : (unsigned)len,
	};
	json_t *outer = NULL, *inner = NULL;
	const char *version, *text;
	size_t nodes;
	int rc;

	rc = proto_json_parse(body, len, &outer_lim, JSON_REJECT_DUPLICATES, &outer, &nodes, detail,
			      detlen);
	if (rc != PROTO_OK)
		return rc;
	version = json_string_value(json_object_get(outer, OSLO_VERSION_KEY));
	text = json_string_value(json_object_get(outer, OSLO_MESSAGE_KEY));
	if (!json_is_object(outer) || json_object_size(outer) != 2 || !version || !text) {
		rc = proto_detail(PROTO_EENVELOPE, detail, detlen, "not an oslo envelope {\""
				  OSLO_VERSION_KEY "\": string, \"" OSLO_MESSAGE_KEY "\": string}");
		goto out;
	}
	if (strcmp(version, PROTO_OSLO_ENVELOPE_VERSION) != 0) {
		rc = proto_detail(PROTO_EENVELOPE, detail, detlen, OSLO_VERSION_KEY
				  ": %.32s is not " PROTO_OSLO_ENVELOPE_VERSION, version);
		goto out;
	}
	size_t tlen = json_string_length(json_object_get(outer, OSLO_MESSAGE_KEY));

	rc = proto_json_parse(text, tlen, l, JSON_REJECT_DUPLICATES, &inner, &nodes, detail,
			      detlen);
	if (rc != PROTO_OK)
		goto out;
	if (size_arena)
		a->cap = nodes * PROTO_NODE_COST + tlen + PROTO_ARENA_SLACK;
	/* Depth is bounded by the pre-scan, so the recursive copy is too. */
	if (!(*out = proto_pv_from_json(a, inner)))
		rc = proto_detail(a->failed ? PROTO_ENOMEM : PROTO_ESTRING, detail, detlen,
				  a->failed ? "arena exhausted" : "string is not UTF-8 or contains NUL");
out:
	json_decref(inner);
	json_decref(outer);
	return rc;
}

/* Wraps inner (NULL: out of memory) in the oslo envelope; *out is malloc'd. */
static int json_envelope(const json_t *inner, char **out, size_t *outlen)
{
	char *text = inner != NULL ? json_dumps(inner, JSON_COMPACT) : NULL;
	json_t *outer = text != NULL ? json_pack("{s:s, s:s}", OSLO_VERSION_KEY,
						 PROTO_OSLO_ENVELOPE_VERSION, OSLO_MESSAGE_KEY,
						 text) : NULL;

	*out = outer != NULL ? json_dumps(outer, JSON_COMPACT) : NULL;
	*outlen = *out != NULL ? strlen(*out) : 0;
	json_decref(outer);
	free(text);
	return *out != NULL ? PROTO_OK : PROTO_ENOMEM;
}

/* Wraps tree in the oslo envelope. */
static int json_encode_value(const struct pv *tree, char **out, size_t *outlen)
{
	json_t *inner = proto_pv_to_json(tree);
	int rc = json_envelope(inner, out, outlen);

	json_decref(inner);
	return rc;
}

int proto_encode_notification(const struct proto_notification *n, char **out, size_t *outlen)
{
	char unique_id[33];
	size_t k = 0;

	/* oslo's _unique_id is a uuid4's hex; the message_id's, so that both stay the same
	 * when the relay publishes the row again. */
	for (const char *p = n->message_id; *p != '\0' && k < sizeof(unique_id) - 1; p++)
		if (*p != '-')
			unique_id[k++] = *p;
	unique_id[k] = '\0';
	json_error_t jerr;
	json_t *payload = json_loads(n->payload, JSON_REJECT_DUPLICATES, &jerr);
	if (payload == NULL) {
		*out = NULL;
		*outlen = 0;
		return PROTO_EPARSE;
	}
	/* The keys of oslo's Notifier._notify, then what its AMQP driver adds: _unique_id and
	 * the context, flattened into "_context_<key>" (pack_context). */
	json_t *inner = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s?}",
				  "message_id", n->message_id, "publisher_id", n->publisher_id,
				  "event_type", n->event_type, "priority", n->priority,
				  "payload", payload, "timestamp", n->timestamp,
				  "_unique_id", unique_id, "_context_request_id", n->request_id);
	int rc = json_envelope(inner, out, outlen);

	json_decref(inner);
	return rc;
}

/* One row per format: its tree decoder and its tree encoder. */
static const struct {
	int (*decode_tree)(const void *body, size_t len, const struct proto_limits *lim,
			   struct pv_arena *a, bool size_arena, struct pv **out, char *detail,
			   size_t detlen);
	int (*encode_value)(const struct pv *tree, char **out, size_t *outlen);
} codecs[] = {
	[PROTO_FMT_MSGPACK] = { proto_msgpack_decode_tree, proto_msgpack_encode_value },
	[PROTO_FMT_JSON] = { proto_json_decode_tree, json_encode_value },
};

int proto_decode(enum proto_format fmt, const void *body, size_t len,
		 const struct proto_limits *lim, struct proto_msg *m, char *detail, size_t detlen)
{
	struct pv *root;
	int rc;

	proto_msg_init(m, 0);
	rc = codecs[fmt].decode_tree(body, len, lim, &m->arena, true, &root, detail, detlen);
	return rc ? rc : proto_envelope_apply(m, root, detail, detlen);
}

int proto_decode_reply(enum proto_format fmt, const void *body, size_t len,
		       const struct proto_limits *lim, struct pv_arena *arena,
		       struct proto_reply *r, char *detail, size_t detlen)
{
	struct pv *root;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = codecs[fmt].decode_tree(body, len, lim, arena, false, &root, detail, detlen);
	return rc ? rc : proto_reply_apply(root, r, detail, detlen);
}

/* Encodes in fmt the tree that the builder makes of m or of r (the other NULL), in a scratch
 * arena. */
static int encode(enum proto_format fmt, const struct proto_msg *m, const struct proto_reply *r,
		  char **out, size_t *outlen)
{
	struct pv_arena a;
	struct pv *tree;
	int rc;

	pv_arena_init(&a, PROTO_TREE_ARENA_CAP);
	tree = m != NULL ? proto_msg_tree(m, &a) : proto_reply_tree(r, &a);
	rc = tree != NULL ? codecs[fmt].encode_value(tree, out, outlen) : PROTO_ENOMEM;
	pv_arena_destroy(&a);
	return rc;
}

int proto_encode(enum proto_format fmt, const struct proto_msg *m, char **out, size_t *outlen)
{
	return encode(fmt, m, NULL, out, outlen);
}

/* Room for the arguments of any method: a schema lists at most seven. */
#define VOLUME_MSG_NARGS 8

int proto_encode_volume_msg(struct proto_msg *m, const struct proto_method *pm,
			    const struct proto_context *ctx, const union proto_args *args,
			    const struct proto_volume_fields *vol, const struct proto_call *call,
			    enum proto_format fmt, char **out, size_t *outlen)
{
	if (proto_msg_prepare_cast(m, pm->name, pm->send_version, ctx, VOLUME_MSG_NARGS) != 0)
		return PROTO_ENOMEM;
	if (call != NULL) {
		m->is_call = true;
		m->msg_id = pv_arena_strndup(&m->arena, call->msg_id, strlen(call->msg_id));
		m->reply_q = pv_arena_strndup(&m->arena, call->reply_q, strlen(call->reply_q));
		m->timeout = call->timeout_s;
		if (m->msg_id == NULL || m->reply_q == NULL)
			return PROTO_ENOMEM;
	}
	if (proto_args_build(pm, args, vol, &m->arena, m->args) != PROTO_OK)
		return PROTO_EARGS;
	return proto_encode(fmt, m, out, outlen);
}

int proto_encode_reply(enum proto_format fmt, const struct proto_reply *r, char **out,
		       size_t *outlen)
{
	return encode(fmt, NULL, r, out, outlen);
}
