/*
 * fuzz_journal.c - libFuzzer harness for the reading of journal batches, as volctl replay
 * --from-journal reads whatever the stream holds (anyone who may publish to the broker can
 * write into it). Every record read is written into a new batch, which must read back as the
 * same records: the writer and the reader agree on every batch the reader accepts.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/journal.h"
#include "tests/fuzz/fuzz.h"

struct copy {
	struct proto_journal_batch b;
	int n;
};

static int rewrite(const struct proto_journal_rec *rec, void *arg)
{
	struct copy *c = arg;

	FUZZ_CHECK(rec->exchange != NULL && rec->routing_key != NULL);
	FUZZ_CHECK(proto_journal_add(&c->b, rec) == 0);
	c->n++;
	return 0;
}

static int count(const struct proto_journal_rec *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct copy c = { .n = 0 };
	int again = 0;

	proto_journal_init(&c.b);
	if (proto_journal_read(data, size, rewrite, &c) == 0) {
		FUZZ_CHECK(proto_journal_read(c.b.buf.data, c.b.buf.size, count, &again) == 0);
		FUZZ_CHECK(again == c.n);
	}
	proto_journal_destroy(&c.b);
	return 0;
}
