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

/* msgpack-c refuses containers nested deeper than this (MSGPACK_EMBED_STACK_SIZE). */
#define PROTO_PRESCAN_MAX_DEPTH 32

/*
 * prescan.c: walks the first msgpack object in p[0..len) without allocating, to bound what
 * msgpack-c will allocate before it runs (c-style-anchors.md §8). Checks that the object is
 * complete, that containers nest at most min(lim->max_depth, PROTO_PRESCAN_MAX_DEPTH) deep,
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

#endif
