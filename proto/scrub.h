/*
 * scrub.h - rewriting a message body as received: the top-level pairs of a msgpack map, and
 * the secrets of a message (the caller's token that oslo.messaging flattens into it with the
 * request context) replaced by null, so that what volmgr keeps of a message (dead letters,
 * captures) holds no credential.
 */
#ifndef VOLMGR_PROTO_SCRUB_H
#define VOLMGR_PROTO_SCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include "proto/value.h"

/* What rewriting a body gave. */
enum proto_rewrite {
	PROTO_REWRITTEN = 1,         /* *out holds the new body (malloc'd) */
	PROTO_UNCHANGED = 0,         /* nothing to change: the body stands */
	PROTO_UNREADABLE = -1,       /* not a message of its content type: the body stands */
	PROTO_REWRITE_FAILED = -2,   /* a change was due but the new body could not be built */
};

/*
 * Decodes body as a msgpack map, lets edit change its top-level pairs, and when edit returns
 * true encodes the map again into *out (malloc'd) and *outlen. Returns an enum proto_rewrite.
 */
__attribute__((warn_unused_result))
int proto_msgpack_rewrite(const void *body, size_t len, bool (*edit)(struct pv *map, void *arg),
			  void *arg, char **out, size_t *outlen);

/*
 * A copy of body (msgpack, or oslo's JSON envelope or bare JSON, by content_type) with every
 * secret replaced by null, in *out (malloc'd). Returns an enum proto_rewrite: a body that
 * cannot be read in its content type is left as it is (PROTO_UNREADABLE), since an
 * undecodable body is what an operator looks at a dead letter for.
 */
__attribute__((warn_unused_result))
int proto_scrub_secrets(const char *content_type, const void *body, size_t len, char **out,
			size_t *outlen);

/*
 * Whether body may hold a secret: false when the bytes of no secret key appear in it, which
 * spares a hot path the decoding of proto_scrub_secrets for the messages that carry none
 * (oslo.messaging and volmgr write keys as plain text; a JSON body that spells a key with
 * escapes is not recognised).
 */
bool proto_may_hold_secrets(const void *body, size_t len);

#endif
