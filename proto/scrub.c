/*
 * scrub.c - body rewriting and secret scrubbing (see scrub.h).
 */
#include "proto/scrub.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/wire.h"

/* Room for decoding a body generically: far above what a volume cast needs. */
#define SCRUB_ARENA_CAP (8 * 1024 * 1024)

/* Keys of a message whose values are secrets: the caller's token, which oslo.messaging
 * flattens into the message with the rest of the request context. */
static const char *const secret_keys[] = { "_context_auth_token" };
#define NSECRET_KEYS (sizeof(secret_keys) / sizeof(secret_keys[0]))

static bool is_secret_key(const char *key)
{
	for (size_t i = 0; i < NSECRET_KEYS; i++)
		if (strcmp(key, secret_keys[i]) == 0)
			return true;
	return false;
}


int proto_msgpack_rewrite(const void *body, size_t len, bool (*edit)(struct pv *map, void *arg),
			  void *arg, char **out, size_t *outlen)
{
	struct pv_arena arena;
	struct pv *v = NULL;
	char detail[64];
	int rc = PROTO_UNREADABLE;

	pv_arena_init(&arena, SCRUB_ARENA_CAP);
	if (proto_msgpack_decode_value(body, len, NULL, &arena, &v, detail, sizeof(detail)) !=
	    PROTO_OK || v->type != PV_MAP)
		goto out;
	rc = PROTO_UNCHANGED;
	if (edit(v, arg))
		rc = proto_msgpack_encode_value(v, out, outlen) == PROTO_OK ? PROTO_REWRITTEN
			: PROTO_REWRITE_FAILED;
out:
	pv_arena_destroy(&arena);
	return rc;
}

static bool null_secrets_pv(struct pv *map, void *arg)
{
	bool changed = false;

	(void)arg;
	for (uint32_t i = 0; i < map->n; i++) {
		struct pv_pair *p = &map->u.pairs[i];

		if (is_secret_key(p->key.u.s) && p->val.type != PV_NULL) {
			memset(&p->val, 0, sizeof(p->val));
			p->val.type = PV_NULL;
			changed = true;
		}
	}
	return changed;
}

static bool null_secrets_json(json_t *obj)
{
	bool changed = false;

	for (size_t i = 0; i < NSECRET_KEYS; i++) {
		json_t *v = json_object_get(obj, secret_keys[i]);

		if (v != NULL && !json_is_null(v)) {
			json_object_set_new(obj, secret_keys[i], json_null());
			changed = true;
		}
	}
	return changed;
}

/* The JSON counterpart of proto_msgpack_rewrite for null_secrets: the message is the
 * text inside oslo.messaging's envelope ("oslo.message"), or the body itself without one. */
static int scrub_json(const void *body, size_t len, char **out, size_t *outlen)
{
	json_error_t je;
	json_t *outer = json_loadb(body, len, 0, &je), *inner = NULL;
	const char *text = json_string_value(json_object_get(outer, "oslo.message"));
	char *inner_text = NULL;
	int rc = PROTO_UNREADABLE;

	if (!json_is_object(outer))
		goto out;
	inner = text != NULL ? json_loads(text, 0, &je) : json_incref(outer);
	if (!json_is_object(inner))
		goto out;
	rc = PROTO_UNCHANGED;
	if (!null_secrets_json(inner))
		goto out;
	rc = PROTO_REWRITE_FAILED;
	if (inner != outer) {
		inner_text = json_dumps(inner, JSON_COMPACT);
		if (inner_text == NULL || json_object_set_new(outer, "oslo.message",
							      json_string(inner_text)) != 0)
			goto out;
	}
	*out = json_dumps(outer, JSON_COMPACT);
	if (*out != NULL) {
		*outlen = strlen(*out);
		rc = PROTO_REWRITTEN;
	}
out:
	free(inner_text);
	json_decref(inner);
	json_decref(outer);
	return rc;
}

bool proto_may_hold_secrets(const void *body, size_t len)
{
	for (size_t i = 0; i < NSECRET_KEYS; i++)
		if (memmem(body, len, secret_keys[i], strlen(secret_keys[i])) != NULL)
			return true;
	return false;
}

int proto_scrub_secrets(const char *content_type, const void *body, size_t len, char **out,
			size_t *outlen)
{
	enum proto_format fmt;

	if (proto_format_of(content_type, &fmt) != 0)
		return PROTO_UNREADABLE;
	if (fmt == PROTO_FMT_JSON)
		return scrub_json(body, len, out, outlen);
	return proto_msgpack_rewrite(body, len, null_secrets_pv, NULL, out, outlen);
}
