/*
 * json.h - conversions between the value tree and jansson, for tools and (later) oslo's JSON
 * envelope.
 */
#ifndef VOLMGR_PROTO_JSON_H
#define VOLMGR_PROTO_JSON_H

#include <jansson.h>
#include "proto/value.h"

/* A new jansson value for v (caller json_decref()s), or NULL on allocation failure. */
json_t *proto_pv_to_json(const struct pv *v);
/* A tree in a for j, or NULL (a->failed set, or a type jansson has that we do not). */
struct pv *proto_pv_from_json(struct pv_arena *a, const json_t *j);

#endif
