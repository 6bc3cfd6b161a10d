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

/* The most a string or bin of n bytes takes in msgpack: a 5-byte header at worst. */
static size_t packed_max(const char *s)
{
	return (s != NULL ? strlen(s) : 0) + 5;
}

bool proto_journal_fits(const struct proto_journal_batch *b, const struct proto_journal_rec *r)
{
	size_t need = 1 + packed_max(r->exchange) + packed_max(r->routing_key) +
		      packed_max(r->content_type) + packed_max(r->message_id) + r->len + 5;

	return b->n == 0 || (b->buf.size < PROTO_JOURNAL_BATCH_BYTES &&
			     need <= PROTO_JOURNAL_BATCH_BYTES - b->buf.size);
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

/* A cursor over a batch body. The reader accepts exactly the forms proto_journal_add writes
 * and allocates nothing but the strings it hands out, each no longer than the body: msgpack-c's
 * unpacker allocates for a container's declared count before reading it, and a journal may be
 * written by anyone who may publish to the broker. */
struct cursor {
	const unsigned char *p;
	size_t left;
};

/* Reads an unsigned big-endian length of w bytes. Returns 0 or -1 past the end. */
static int take_len(struct cursor *c, unsigned w, size_t *n)
{
	if (c->left < w)
		return -1;
	*n = 0;
	for (unsigned i = 0; i < w; i++)
		*n = *n << 8 | c->p[i];
	c->p += w;
	c->left -= w;
	return 0;
}

/* Reads a str or bin of the given kind (str: nil allowed when nullable). Returns 0 with
 * *data / *n (data NULL for nil), or -1. */
static int take_bytes(struct cursor *c, bool bin, bool nullable, const void **data, size_t *n)
{
	unsigned char b;
	unsigned w;

	if (c->left < 1)
		return -1;
	b = *c->p++;
	c->left--;
	if (!bin && nullable && b == 0xc0) {
		*data = NULL;
		*n = 0;
		return 0;
	}
	if (!bin && b >= 0xa0 && b <= 0xbf) {
		*n = b & 0x1f;
		w = 0;
	} else {
		w = bin ? (b == 0xc4 ? 1 : b == 0xc5 ? 2 : b == 0xc6 ? 4 : 0)
			: (b == 0xd9 ? 1 : b == 0xda ? 2 : b == 0xdb ? 4 : 0);
		if (w == 0 || take_len(c, w, n) != 0)
			return -1;
	}
	if (*n > c->left)
		return -1;
	*data = c->p;
	c->p += *n;
	c->left -= *n;
	return 0;
}

/* Reads one record and gives it to each. Returns as each, or -1 when it is not a record. */
static int read_one(struct cursor *c,
		    int (*each)(const struct proto_journal_rec *rec, void *arg), void *arg)
{
	char *s[4] = { NULL, NULL, NULL, NULL };
	struct proto_journal_rec rec;
	const void *data;
	size_t n;
	int rc = -1;

	if (c->left < 1 || *c->p != 0x90 + JOURNAL_FIELDS)
		return -1;
	c->p++;
	c->left--;
	for (int i = 0; i < 4; i++) {
		if (take_bytes(c, false, i >= 2, &data, &n) != 0)
			goto out;
		if (data != NULL && (s[i] = strndup(data, n)) == NULL)
			goto out;
	}
	if (take_bytes(c, true, false, &data, &n) != 0)
		goto out;
	rec = (struct proto_journal_rec){
		.exchange = s[0], .routing_key = s[1], .content_type = s[2], .message_id = s[3],
		.body = data, .len = n,
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
	struct cursor c = { body, len };
	int rc = 0;

	while (rc == 0 && c.left > 0)
		rc = read_one(&c, each, arg);
	return rc;
}
