/*
 * journal.c - journal batches (see journal.h).
 */
#include "proto/journal.h"

#include <stdlib.h>
#include <string.h>

#define JOURNAL_FIELDS 5

void proto_journal_init(struct proto_journal_batch *b)
{
	msgpack_sbuffer_init(&b->buf);
	msgpack_packer_init(&b->pk, &b->buf, msgpack_sbuffer_write);
	b->n = 0;
}

void proto_journal_destroy(struct proto_journal_batch *b)
{
	msgpack_sbuffer_destroy(&b->buf);
	b->n = 0;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t n;

	if (s == NULL)
		return msgpack_pack_nil(pk);
	n = strlen(s);
	return msgpack_pack_str(pk, n) != 0 ? -1 : msgpack_pack_str_body(pk, s, n);
}

int proto_journal_add(struct proto_journal_batch *b, const struct proto_journal_rec *r)
{
	size_t mark = b->buf.size;
	int rc = msgpack_pack_array(&b->pk, JOURNAL_FIELDS);

	rc = rc != 0 ? rc : pack_str(&b->pk, r->exchange != NULL ? r->exchange : "");
	rc = rc != 0 ? rc : pack_str(&b->pk, r->routing_key != NULL ? r->routing_key : "");
	rc = rc != 0 ? rc : pack_str(&b->pk, r->content_type);
	rc = rc != 0 ? rc : pack_str(&b->pk, r->message_id);
	rc = rc != 0 ? rc : msgpack_pack_bin(&b->pk, r->len);
	rc = rc != 0 ? rc : msgpack_pack_bin_body(&b->pk, r->body, r->len);
	if (rc != 0) {
		/* A record written in part would make the rest of the batch unreadable. */
		b->buf.size = mark;
		return -1;
	}
	b->n++;
	return 0;
}

bool proto_journal_full(const struct proto_journal_batch *b)
{
	return b->n >= PROTO_JOURNAL_BATCH_MAX || b->buf.size >= PROTO_JOURNAL_BATCH_BYTES;
}

void proto_journal_clear(struct proto_journal_batch *b)
{
	b->buf.size = 0;
	b->n = 0;
}

/* A string field of a record into out (malloc'd; NULL for nil). Returns 0 or -1. */
static int field_str(const msgpack_object *o, char **out)
{
	*out = NULL;
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_STR)
		return -1;
	*out = strndup(o->via.str.ptr, o->via.str.size);
	return *out != NULL ? 0 : -1;
}

/* Gives one record to each. Returns as each, or -1 when o is not a record. */
static int read_one(const msgpack_object *o,
		    int (*each)(const struct proto_journal_rec *rec, void *arg), void *arg)
{
	const msgpack_object *f = o->via.array.ptr;
	char *s[4] = { NULL, NULL, NULL, NULL };
	struct proto_journal_rec rec;
	int rc = -1;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != JOURNAL_FIELDS ||
	    f[4].type != MSGPACK_OBJECT_BIN)
		return -1;
	for (int i = 0; i < 4; i++)
		if (field_str(&f[i], &s[i]) != 0)
			goto out;
	if (s[0] == NULL || s[1] == NULL)
		goto out;
	rec = (struct proto_journal_rec){
		.exchange = s[0], .routing_key = s[1], .content_type = s[2], .message_id = s[3],
		.body = f[4].via.bin.ptr, .len = f[4].via.bin.size,
	};
	rc = each(&rec, arg);
out:
	for (int i = 0; i < 4; i++)
		free(s[i]);
	return rc;
}

int proto_journal_read(const void *body, size_t len,
		       int (*each)(const struct proto_journal_rec *rec, void *arg), void *arg)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc = 0;

	msgpack_unpacked_init(&u);
	while (rc == 0 && off < len) {
		if (msgpack_unpack_next(&u, body, len, &off) != MSGPACK_UNPACK_SUCCESS)
			rc = -1;
		else
			rc = read_one(&u.data, each, arg);
	}
	msgpack_unpacked_destroy(&u);
	return rc;
}
