/*
 * journal.h - the records of volmgr's journal stream.
 *
 * The manager relays the messages it receives to the journal in batches: one AMQP message of
 * content type PROTO_JOURNAL_CONTENT_TYPE holds up to PROTO_JOURNAL_BATCH_MAX records, so that
 * the relay costs the manager and the broker one publish per batch instead of one per message.
 * The body is a sequence of msgpack arrays, one per record:
 *
 *   [exchange, routing_key, content_type or nil, message_id or nil, body (bin)]
 *
 * written by the manager (proto_journal_add) and read by volctl (proto_journal_read). Records
 * are appended as they come; nothing of the batch's size is written before its records.
 */
#ifndef VOLMGR_PROTO_JOURNAL_H
#define VOLMGR_PROTO_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <msgpack.h>

#define PROTO_JOURNAL_CONTENT_TYPE "application/x-volmgr-journal"
/* A batch is published once it holds this many records or bytes. */
#define PROTO_JOURNAL_BATCH_MAX 64
#define PROTO_JOURNAL_BATCH_BYTES (256 * 1024)

/* One message as received; NULL strings are absent. */
struct proto_journal_rec {
	const char *exchange;
	const char *routing_key;
	const char *content_type;
	const char *message_id;
	const void *body;
	size_t len;
};

/* A batch being filled. */
struct proto_journal_batch {
	msgpack_sbuffer buf;
	msgpack_packer pk;
	int n;                       /* records in buf */
};

void proto_journal_init(struct proto_journal_batch *b);
void proto_journal_destroy(struct proto_journal_batch *b);

/* Appends r. Returns 0, or -1 when memory ran out (the batch then holds its earlier records
 * only). */
__attribute__((warn_unused_result))
int proto_journal_add(struct proto_journal_batch *b, const struct proto_journal_rec *r);

/* Whether r can join b without taking it past PROTO_JOURNAL_BATCH_BYTES; a record always
 * fits an empty batch. The caller publishes b first when it does not, so that a batch is
 * never larger than its records' limit or, alone, the one record (a message the broker has
 * already taken once). */
bool proto_journal_fits(const struct proto_journal_batch *b, const struct proto_journal_rec *r);

/* Whether b is due for publishing: PROTO_JOURNAL_BATCH_MAX records or
 * PROTO_JOURNAL_BATCH_BYTES bytes. */
bool proto_journal_full(const struct proto_journal_batch *b);

/* Empties b after its body (b->buf.data, b->buf.size) was published or given up. */
void proto_journal_clear(struct proto_journal_batch *b);

/*
 * Calls each(rec, arg) for every record of a batch body, in order, until each returns
 * non-zero. Returns 0 after the last record, each's non-zero value, or -1 when the body is not
 * a batch (the records before the fault were given).
 */
__attribute__((warn_unused_result))
int proto_journal_read(const void *body, size_t len,
		       int (*each)(const struct proto_journal_rec *rec, void *arg), void *arg);

#endif
