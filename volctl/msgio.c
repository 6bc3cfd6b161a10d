/*
 * msgio.c - capture records, body summaries, fresh ids and confirmed publishes (msgio.h).
 */
#include "volctl/msgio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "proto/codec.h"
#include "proto/scrub.h"
#include "proto/wire.h"

/* Room for decoding a body generically: far above what a volume cast needs. */
#define MSGIO_ARENA_CAP (8 * 1024 * 1024)
#define MSGIO_READ_CHUNK 65536

int msgio_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	bool is_stdin = path == NULL || strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	size_t cap = 0;
	int rc = -1;

	*buf = NULL;
	*len = 0;
	if (f == NULL)
		return -1;
	for (;;) {
		if (cap - *len < MSGIO_READ_CHUNK) {
			char *p = *len + MSGIO_READ_CHUNK > max + 1 ? NULL
				: realloc(*buf, cap + MSGIO_READ_CHUNK);
			if (p == NULL)
				break;      /* too large or out of memory */
			*buf = p;
			cap += MSGIO_READ_CHUNK;
		}
		size_t n = fread(*buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0) {
			rc = ferror(f) || *len > max ? -1 : 0;
			break;
		}
	}
	if (!is_stdin)
		fclose(f);
	if (rc != 0) {
		free(*buf);
		*buf = NULL;
		*len = 0;
	}
	return rc;
}

void msgio_summary(const void *body, size_t len, char method[64], char unique_id[33])
{
	struct pv_arena arena;
	struct pv *v = NULL;
	char detail[64];

	method[0] = unique_id[0] = '\0';
	pv_arena_init(&arena, MSGIO_ARENA_CAP);
	if (proto_msgpack_decode_value(body, len, NULL, &arena, &v, detail, sizeof(detail)) ==
	    PROTO_OK) {
		const char *m = pv_str(pv_get(v, "method"));
		const char *u = pv_str(pv_get(v, "_unique_id"));

		util_strlcpy(method, m != NULL ? m : "", 64);
		util_strlcpy(unique_id, u != NULL ? u : "", 33);
	}
	pv_arena_destroy(&arena);
}

/* Sets key to a string, or leaves it out for NULL. */
static void msgio_set_str(json_t *obj, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(obj, key, json_string(value));
}

json_t *msgio_record(const struct mq_delivery *d)
{
	json_t *rec = json_object(), *props = json_object(), *hdrs = json_object();
	char *clean = NULL, *b64 = NULL;
	size_t clean_len = 0;
	int scrub = proto_scrub_secrets(d->content_type, d->body, d->len, &clean, &clean_len);
	const void *body = scrub == PROTO_REWRITTEN ? clean : d->body;
	size_t len = scrub == PROTO_REWRITTEN ? clean_len : d->len;
	char ts[32], method[64], uid[33];

	b64 = malloc(UTIL_BASE64_LEN(len));
	/* A body that holds a token and could not be cleaned is not recorded at all. */
	if (rec == NULL || props == NULL || hdrs == NULL || b64 == NULL ||
	    scrub == PROTO_REWRITE_FAILED)
		goto fail;
	util_now_iso(ts);
	msgio_summary(body, len, method, uid);
	util_base64_encode(body, len, b64);
	msgio_set_str(props, "content_type", d->content_type);
	msgio_set_str(props, "message_id", d->message_id);
	msgio_set_str(props, "correlation_id", d->correlation_id);
	msgio_set_str(props, "reply_to", d->reply_to);
	for (size_t i = 0; i < d->nheaders; i++)
		json_object_set_new(hdrs, d->headers[i].key, json_string(d->headers[i].value));
	json_object_set_new(rec, "ts", json_string(ts));
	msgio_set_str(rec, "exchange", d->exchange);
	msgio_set_str(rec, "routing_key", d->routing_key);
	json_object_set_new(rec, "redelivered", json_boolean(d->redelivered));
	json_object_set_new(rec, "properties", props);
	json_object_set_new(rec, "headers", hdrs);
	if (method[0] != '\0')
		json_object_set_new(rec, "method", json_string(method));
	if (uid[0] != '\0')
		json_object_set_new(rec, "unique_id", json_string(uid));
	json_object_set_new(rec, "body", json_string(b64));
	free(b64);
	free(clean);
	return rec;
fail:
	json_decref(rec);
	json_decref(props);
	json_decref(hdrs);
	free(b64);
	free(clean);
	return NULL;
}

static const char *msgio_get_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int msgio_parse(const json_t *record, struct msgio_msg *m, char *err, size_t errlen)
{
	const json_t *props = json_object_get(record, "properties");
	const json_t *hdrs = json_object_get(record, "headers");
	const char *b64 = msgio_get_str(record, "body");
	const char *key;
	json_t *v;

	memset(m, 0, sizeof(*m));
	m->exchange = msgio_get_str(record, "exchange");
	m->routing_key = msgio_get_str(record, "routing_key");
	if (!json_is_object(record) || m->exchange == NULL || m->routing_key == NULL ||
	    b64 == NULL) {
		snprintf(err, errlen, "not a capture record (exchange, routing_key and body needed)");
		return -1;
	}
	m->body = malloc(strlen(b64) / 4 * 3 + 1);
	if (m->body == NULL || util_base64_decode(b64, m->body, &m->len) != 0) {
		snprintf(err, errlen, "body is not base64");
		msgio_msg_free(m);
		return -1;
	}
	m->props.content_type = msgio_get_str(props, "content_type");
	m->props.message_id = msgio_get_str(props, "message_id");
	m->props.correlation_id = msgio_get_str(props, "correlation_id");
	m->props.reply_to = msgio_get_str(props, "reply_to");
	m->props.persistent = true;
	m->props.headers = m->headers;
	json_object_foreach((json_t *)hdrs, key, v) {
		/* Broker-set stream and dead-letter bookkeeping does not travel back. */
		if (!json_is_string(v) || m->props.nheaders == MSGIO_MAX_HEADERS ||
		    strncmp(key, "x-stream-", 9) == 0 || strcmp(key, "x-delivery-count") == 0)
			continue;
		m->headers[m->props.nheaders].key = key;
		m->headers[m->props.nheaders++].value = json_string_value(v);
	}
	return 0;
}

void msgio_msg_free(struct msgio_msg *m)
{
	free(m->body);
	m->body = NULL;
	m->len = 0;
}

static bool msgio_set_unique_id(struct pv *map, void *arg)
{
	char *unique_id = arg;
	bool found = false;

	for (uint32_t i = 0; i < map->n; i++) {
		struct pv_pair *p = &map->u.pairs[i];

		if (strcmp(p->key.u.s, "_unique_id") != 0 || p->val.type != PV_STR)
			continue;
		util_hex_id(unique_id);
		p->val.u.s = unique_id;
		p->val.n = 32;
		found = true;
	}
	return found;
}

int msgio_new_id(struct msgio_msg *m, char unique_id[33])
{
	char *out = NULL;
	size_t outlen = 0;

	if (proto_msgpack_rewrite(m->body, m->len, msgio_set_unique_id, unique_id, &out,
				  &outlen) != PROTO_REWRITTEN)
		return -1;
	free(m->body);
	m->body = out;
	m->len = outlen;
	m->props.message_id = unique_id;
	return 0;
}

int msgio_publish(mq_conn *pub, const struct msgio_msg *m, const char *exchange)
{
	return mq_publish(pub, exchange != NULL ? exchange : m->exchange, m->routing_key, m->body,
			  m->len, &m->props, true, MSGIO_PUBLISH_TIMEOUT_MS);
}
