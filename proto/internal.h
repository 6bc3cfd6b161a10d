/*
 * internal.h - helpers private to proto/ (not for other modules).
 */
#ifndef VOLMGR_PROTO_INTERNAL_H
#define VOLMGR_PROTO_INTERNAL_H

#include <stddef.h>
#include "proto/codec.h"

/* Formats detail (when detail is non-NULL and detlen > 0) and returns rc (msg.c). */
__attribute__((format(printf, 4, 5)))
int proto_detail(int rc, char *detail, size_t detlen, const char *fmt, ...);

/*
 * The most arena bytes one decoded object can take besides its string bytes: its 16-byte
 * slot in the parent, plus for a container a node and a capacity header, plus for a string
 * up to 16 bytes of NUL and alignment. A message's arena cap is this times the object count
 * the pre-scan found, plus the body length (string bytes), plus slack for the envelope.
 */
#define PROTO_NODE_COST 64
#define PROTO_ARENA_SLACK 4096

/* The cap of the scratch arena an outgoing message's or reply's tree is built in: the tree
 * holds the envelope and context nodes only (args and result are shared, not copied). */
#define PROTO_TREE_ARENA_CAP (256 * 1024)

/* envelope.c: validates the decoded top level root (a map, else PROTO_ENOTMAP) as oslo's
 * inner message and fills m from it (pointers into root). PROTO_OK or PROTO_EENVELOPE. */
__attribute__((warn_unused_result))
int proto_envelope_apply(struct proto_msg *m, struct pv *root, char *detail, size_t detlen);

/* envelope.c: the tree of an outgoing message (every key oslo sends) or reply, in a; NULL
 * when a is exhausted. The trees share m->args and r->result. */
struct pv *proto_msg_tree(const struct proto_msg *m, struct pv_arena *a);
struct pv *proto_reply_tree(const struct proto_reply *r, struct pv_arena *a);

/* envelope.c: reads a decoded reply tree into r (pointers into root). PROTO_OK, or
 * PROTO_ENOTMAP / PROTO_EENVELOPE. */
__attribute__((warn_unused_result))
int proto_reply_apply(const struct pv *root, struct proto_reply *r, char *detail,
		      size_t detlen);

/*
 * The decoders of one body into a value tree in a, one per format (codec.c, wire.c), with
 * every limit of lim (NULL: the defaults) checked before the parser allocates. size_arena:
 * set a->cap from what the pre-scan found. PROTO_OK or a proto status with detail.
 */
__attribute__((warn_unused_result))
int proto_msgpack_decode_tree(const void *body, size_t len, const struct proto_limits *lim,
			      struct pv_arena *a, bool size_arena, struct pv **out,
			      char *detail, size_t detlen);
__attribute__((warn_unused_result))
int proto_json_decode_tree(const void *body, size_t len, const struct proto_limits *lim,
			   struct pv_arena *a, bool size_arena, struct pv **out,
			   char *detail, size_t detlen);

/* msgpack-c refuses containers nested deeper than this (MSGPACK_EMBED_STACK_SIZE). */
#define PROTO_PRESCAN_MAX_DEPTH 32

/*
 * prescan.c: walks the first msgpack object in p[0..len) without allocating, to bound what
 * msgpack-c will allocate before it runs (docs/engineering.md, "Decoding untrusted msgpack").
 * Checks that the object is complete, that containers nest at most min(lim->max_depth, PROTO_PRESCAN_MAX_DEPTH) deep,
 * that it has at most lim->max_nodes objects (map keys included), that every array/map count
 * fits in the bytes left (one byte per element, two per pair), that every string is at most
 * lim->max_string bytes and fits in the bytes left, and that it holds no bin or ext object.
 * On success *end is the offset just past the object and *nodes its object count. Returns
 * PROTO_OK, PROTO_EPARSE, PROTO_EDEPTH, PROTO_ECOUNT or PROTO_ESTRING, with detail giving the
 * offset and the reason.
 */
__attribute__((warn_unused_result))
int proto_prescan(const unsigned char *p, size_t len, const struct proto_limits *lim,
		  size_t *end, size_t *nodes, char *detail, size_t detlen);

/*
 * prescan.c: the same bounds for JSON text p[0..len) without allocating, so that jansson
 * never builds a tree the limits would refuse: containers nest at most
 * min(lim->max_depth, PROTO_PRESCAN_MAX_DEPTH) deep, there are at most lim->max_nodes
 * objects (map keys included; an upper bound, counted from the separators), and no string
 * is longer than lim->max_string bytes as written. Syntax is left to jansson. On success
 * *nodes is the bound. Returns PROTO_OK, PROTO_EDEPTH, PROTO_ECOUNT or PROTO_ESTRING.
 */
__attribute__((warn_unused_result))
int proto_json_prescan(const char *p, size_t len, const struct proto_limits *lim,
		       size_t *nodes, char *detail, size_t detlen);

#endif
