/*
 * msgio.h - messages as volctl's commands exchange them: the capture record (one JSON object
 * a line, as capture writes, replay reads and dlq prints), body summaries, fresh ids, and a
 * confirmed publish of a record.
 *
 * A record: {"ts": capture time (UTC ISO 8601), "exchange", "routing_key", "redelivered",
 * "properties": {"content_type", "message_id", "correlation_id", "reply_to"} (absent ones
 * omitted), "headers": {name: text}, "method" and "unique_id" (when the body is a msgpack map
 * that has them), "body": base64}.
 *
 * A record never holds the caller's token: a body that carries one (_context_auth_token, in
 * msgpack or in oslo.messaging's JSON envelope) is recorded with its value replaced by null.
 * Nothing in volmgr reads that token back, so a replayed record works the same.
 */
#ifndef VOLMGR_VOLCTL_MSGIO_H
#define VOLMGR_VOLCTL_MSGIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/mq.h"

#define MSGIO_MAX_BODY (64 * 1024 * 1024)
#define MSGIO_MAX_HEADERS 64
#define MSGIO_PUBLISH_TIMEOUT_MS 10000

/* Reads all of path ("-" or NULL: stdin), at most max bytes. *buf is malloc'd. 0 or -1. */
__attribute__((warn_unused_result))
int msgio_read_file(const char *path, size_t max, char **buf, size_t *len);

/* The method and _unique_id of a msgpack body ("" when absent or undecodable). */
void msgio_summary(const void *body, size_t len, char method[64], char unique_id[33]);

/* The capture record of d (new reference), or NULL when out of memory (a body holding a token
 * that could not be cleaned for that reason is not recorded either). */
json_t *msgio_record(const struct mq_delivery *d);

/* A record parsed back for publishing; pointers live in the JSON object and body. */
struct msgio_msg {
	const char *exchange;
	const char *routing_key;
	struct mq_props props;
	struct mq_header headers[MSGIO_MAX_HEADERS];
	char *body;            /* malloc'd */
	size_t len;
};

/* Fills m from record. Returns 0, or -1 with a reason in err. Free with msgio_msg_free. */
__attribute__((warn_unused_result))
int msgio_parse(const json_t *record, struct msgio_msg *m, char *err, size_t errlen);
void msgio_msg_free(struct msgio_msg *m);

/*
 * Gives the message a fresh _unique_id (and message_id), so that the manager runs it again:
 * the body is decoded as a generic msgpack map, the id replaced, and encoded again.
 * Returns 0, or -1 when the body is not a msgpack map with an _unique_id.
 */
__attribute__((warn_unused_result))
int msgio_new_id(struct msgio_msg *m, char unique_id[33]);

/* Publishes m (mandatory, persistent, with confirms) to its exchange and routing key, or to
 * exchange when not NULL. Returns an mq status. */
__attribute__((warn_unused_result))
int msgio_publish(mq_conn *pub, const struct msgio_msg *m, const char *exchange);

#endif
