/*
 * codec.h - msgpack encoding of struct proto_msg (content type application/msgpack).
 *
 * The decoder treats every body as hostile. Before msgpack-c allocates anything, a pre-scan
 * walks the bytes and checks the size cap, the nesting depth, the total node count, that every
 * declared array/map count fits in the bytes that remain, and every string length; then
 * msgpack_unpack_next runs and trailing bytes are rejected. The tree is copied into the
 * message's arena (strings validated as UTF-8 without NULs), then the envelope keys are
 * validated. Method arguments are validated separately (schema.h).
 */
#ifndef VOLMGR_PROTO_CODEC_H
#define VOLMGR_PROTO_CODEC_H

#include <stddef.h>
#include "proto/msg.h"

#define PROTO_CONTENT_TYPE_MSGPACK "application/msgpack"

enum proto_status {
	PROTO_OK = 0,
	PROTO_ETOOBIG = -1,    /* body larger than max_bytes */
	PROTO_EPARSE = -2,     /* not msgpack / truncated */
	PROTO_ETRAILING = -3,  /* bytes after the first object */
	PROTO_EDEPTH = -4,     /* nesting deeper than max_depth */
	PROTO_ECOUNT = -5,     /* too many nodes, or a count larger than the bytes left */
	PROTO_ESTRING = -6,    /* string too long, not UTF-8, embedded NUL, or non-string key */
	PROTO_ENOTMAP = -7,    /* top level is not a map */
	PROTO_EENVELOPE = -8,  /* envelope key missing or of the wrong type */
	PROTO_EMETHOD = -9,    /* unknown method */
	PROTO_EVERSION = -10,  /* unsupported version */
	PROTO_EARGS = -11,     /* arguments do not match the method's schema */
	PROTO_ENOMEM = -12,
	PROTO_ERANGE = -13,    /* integer out of range */
};

struct proto_limits {
	size_t max_bytes;     /* default 1 MiB */
	unsigned max_depth;   /* default 16 */
	unsigned max_nodes;   /* default 65536 */
	unsigned max_string;  /* default 65536 bytes */
};

extern const struct proto_limits proto_default_limits;

const char *proto_strerror(int status);

/*
 * Decodes body into m, which this call initialises (so call proto_msg_destroy(m) afterwards
 * whatever the result). lim NULL means proto_default_limits. On failure detail receives a
 * readable reason naming the offending key, e.g. "_unique_id: expected 32 hex digits".
 * The message does not reference body after return.
 */
__attribute__((warn_unused_result))
int proto_msgpack_decode(const void *body, size_t len, const struct proto_limits *lim,
			 struct proto_msg *m, char *detail, size_t detlen);

/* Encodes m. *out is malloc'd (caller frees). Returns PROTO_OK or PROTO_ENOMEM. */
__attribute__((warn_unused_result))
int proto_msgpack_encode(const struct proto_msg *m, char **out, size_t *outlen);

/* Encodes / decodes a call reply. A decoded reply's pointers live in arena. */
__attribute__((warn_unused_result))
int proto_msgpack_encode_reply(const struct proto_reply *r, char **out, size_t *outlen);
__attribute__((warn_unused_result))
int proto_msgpack_decode_reply(const void *body, size_t len, const struct proto_limits *lim,
			       struct pv_arena *arena, struct proto_reply *r,
			       char *detail, size_t detlen);

/* Generic value codec, used by the message codec and by tools (volctl decode). */
__attribute__((warn_unused_result))
int proto_msgpack_decode_value(const void *body, size_t len, const struct proto_limits *lim,
			       struct pv_arena *arena, struct pv **out, char *detail, size_t detlen);
__attribute__((warn_unused_result))
int proto_msgpack_encode_value(const struct pv *v, char **out, size_t *outlen);

#endif
