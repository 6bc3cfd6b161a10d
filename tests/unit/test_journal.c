/*
 * test_journal.c - journal batches: what the manager writes, volctl reads back, record for
 * record; a batch fills at its record or byte bound; a body that is not a batch is refused.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "proto/journal.h"

struct seen {
	int n;
	char routing_keys[8][64];
	char bodies[8][64];
	bool null_content_type[8];
};

static int collect(const struct proto_journal_rec *rec, void *arg)
{
	struct seen *s = arg;

	cr_assert(lt(int, s->n, 8));
	cr_assert(eq(str, (char *)rec->exchange, "openstack"));
	snprintf(s->routing_keys[s->n], 64, "%s", rec->routing_key);
	snprintf(s->bodies[s->n], 64, "%.*s", (int)rec->len, (const char *)rec->body);
	s->null_content_type[s->n] = rec->content_type == NULL;
	s->n++;
	return 0;
}

Test(journal, round_trip)
{
	struct proto_journal_batch b;
	struct seen s = { 0 };

	proto_journal_init(&b);
	for (int i = 0; i < 3; i++) {
		char rk[16], body[16];
		struct proto_journal_rec r = {
			.exchange = "openstack", .routing_key = rk,
			.content_type = i == 1 ? NULL : "application/msgpack", .message_id = "m",
			.body = body,
		};

		snprintf(rk, sizeof(rk), "rk%d", i);
		r.len = (size_t)snprintf(body, sizeof(body), "body\x01%d", i);
		cr_assert(eq(int, proto_journal_add(&b, &r), 0));
	}
	cr_expect(eq(int, b.n, 3));
	cr_expect(not(proto_journal_full(&b)));
	cr_assert(eq(int, proto_journal_read(b.buf.data, b.buf.size, collect, &s), 0));
	cr_assert(eq(int, s.n, 3));
	cr_expect(eq(str, s.routing_keys[2], "rk2"));
	cr_expect(eq(str, s.bodies[1], "body\x01" "1"));
	cr_expect(s.null_content_type[1]);
	cr_expect(not(s.null_content_type[0]));
	proto_journal_clear(&b);
	cr_expect(eq(int, b.n, 0));
	cr_expect(eq(sz, b.buf.size, 0));
	proto_journal_destroy(&b);
}

Test(journal, full_at_its_bounds)
{
	static char big[PROTO_JOURNAL_BATCH_BYTES];
	struct proto_journal_batch b;
	struct proto_journal_rec r = { .exchange = "x", .routing_key = "k", .body = "b", .len = 1 };

	proto_journal_init(&b);
	for (int i = 0; i < PROTO_JOURNAL_BATCH_MAX - 1; i++)
		cr_assert(eq(int, proto_journal_add(&b, &r), 0));
	cr_expect(not(proto_journal_full(&b)));
	cr_assert(eq(int, proto_journal_add(&b, &r), 0));
	cr_expect(proto_journal_full(&b));
	proto_journal_clear(&b);
	r.body = big;
	r.len = sizeof(big);
	cr_assert(eq(int, proto_journal_add(&b, &r), 0));
	cr_expect(proto_journal_full(&b), "one large record fills a batch");
	proto_journal_destroy(&b);
}

/* A record that would take a batch past its byte limit waits for the next batch; alone it
 * always fits. */
Test(journal, fits_before_adding)
{
	static char big[PROTO_JOURNAL_BATCH_BYTES / 2];
	struct proto_journal_batch b;
	struct proto_journal_rec r = { .exchange = "x", .routing_key = "k", .content_type = "c",
				       .message_id = "m", .body = big, .len = sizeof(big) };

	proto_journal_init(&b);
	cr_expect(proto_journal_fits(&b, &r));
	cr_assert(eq(int, proto_journal_add(&b, &r), 0));
	cr_expect(not(proto_journal_fits(&b, &r)), "two halves and their headers pass the limit");
	r.len = 16;
	cr_expect(proto_journal_fits(&b, &r));
	proto_journal_clear(&b);
	r.len = sizeof(big) * 4;
	cr_expect(proto_journal_fits(&b, &r), "an empty batch takes any record");
	proto_journal_destroy(&b);
}

static int count(const struct proto_journal_rec *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

Test(journal, not_a_batch)
{
	/* A map, a record of four fields, a body that is not bin, truncated input. */
	static const char map[] = "\x81\xa1" "a\x01";
	static const char four[] = "\x94\xa1x\xa1k\xc0\xc0";
	static const char strbody[] = "\x95\xa1x\xa1k\xc0\xc0\xa1" "b";
	static const char cut[] = "\x95\xa1x\xa1k\xc0\xc0\xc4\x05" "ab";
	int n = 0;

	cr_expect(eq(int, proto_journal_read(map, sizeof(map) - 1, count, &n), -1));
	cr_expect(eq(int, proto_journal_read(four, sizeof(four) - 1, count, &n), -1));
	cr_expect(eq(int, proto_journal_read(strbody, sizeof(strbody) - 1, count, &n), -1));
	cr_expect(eq(int, proto_journal_read(cut, sizeof(cut) - 1, count, &n), -1));
	cr_expect(eq(int, n, 0));
	cr_expect(eq(int, proto_journal_read("", 0, count, &n), 0), "an empty batch is empty");
}
