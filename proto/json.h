/*
 * json.h - bounded JSON parsing, and conversions between the value tree and jansson, for
 * oslo's JSON envelope, HTTP bodies and tools.
 */
#ifndef VOLMGR_PROTO_JSON_H
#define VOLMGR_PROTO_JSON_H

#include <jansson.h>
#include <stddef.h>
#include "proto/codec.h"
#include "proto/value.h"

/*
 * Parses JSON text[0..len) with jansson's flags, after checking without allocating that it
 * stays within lim (its size, nesting depth, object count and string length), so that hostile
 * text never makes jansson build a large tree. *out gets the value (caller json_decref()s),
 * *nodes (when not NULL) the bound on its object count. Returns PROTO_OK, or PROTO_ETOOBIG,
 * PROTO_EDEPTH, PROTO_ECOUNT, PROTO_ESTRING for text the limits refuse, PROTO_EPARSE (and the
 * other parse statuses) for text that is not JSON, with detail saying where.
 */
__attribute__((warn_unused_result))
int proto_json_parse(const char *text, size_t len, const struct proto_limits *lim, size_t flags,
		     json_t **out, size_t *nodes, char *detail, size_t detlen);

/* A new jansson value for v (caller json_decref()s), or NULL on allocation failure. */
json_t *proto_pv_to_json(const struct pv *v);
/* A tree in a for j, or NULL (a->failed set, or a type jansson has that we do not). */
struct pv *proto_pv_from_json(struct pv_arena *a, const json_t *j);

#endif
