/*
 * value.h - the decoded, encoding-neutral value tree of a message, and the arena it lives in.
 *
 * Decoders (msgpack now, oslo JSON later) turn a body into a struct pv tree; schema code reads
 * the tree; encoders write one. Every node and string lives in a struct pv_arena, so freeing a
 * message is one pv_arena_destroy. Strings are copied into the arena, NUL-terminated, valid
 * UTF-8 and free of embedded NULs (decoders reject anything else), so they are safe as C
 * strings and as PostgreSQL text.
 */
#ifndef VOLMGR_PROTO_VALUE_H
#define VOLMGR_PROTO_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pv_type { PV_NULL, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_ARRAY, PV_MAP };

struct pv_pair;

struct pv {
	enum pv_type type;
	uint32_t n; /* PV_STR: length in bytes; PV_ARRAY: items; PV_MAP: pairs */
	union {
		bool b;
		int64_t i;
		double f;
		const char *s;
		struct pv *items;
		struct pv_pair *pairs;
	} u;
};

struct pv_pair {
	struct pv key; /* always PV_STR */
	struct pv val;
};

/*
 * A bump allocator made of chunks, with a hard cap on the bytes it may hand out. When an
 * allocation fails (cap reached or malloc failed) the arena's sticky `failed` flag is set
 * and every builder below returns NULL / -1 from then on, so a builder sequence can be
 * checked once at the end (pgbouncer's PktBuf.failed idiom).
 */
struct pv_arena {
	struct pv_chunk *head;
	size_t used;   /* bytes handed out so far */
	size_t cap;    /* maximum bytes this arena may hand out */
	bool failed;
};

void pv_arena_init(struct pv_arena *a, size_t cap);
void pv_arena_destroy(struct pv_arena *a);
/* n bytes aligned for any type, or NULL (and a->failed set). */
void *pv_arena_alloc(struct pv_arena *a, size_t n);
/* A NUL-terminated copy of s[0..len), or NULL. */
char *pv_arena_strndup(struct pv_arena *a, const char *s, size_t len);

/* Builders: each returns a node allocated in a, or NULL (a->failed set). */
struct pv *pv_new_null(struct pv_arena *a);
struct pv *pv_new_bool(struct pv_arena *a, bool b);
struct pv *pv_new_int(struct pv_arena *a, int64_t i);
/* A NULL s gives PV_NULL; an s that is not valid UTF-8 gives NULL and fails the arena. */
struct pv *pv_new_str(struct pv_arena *a, const char *s);
struct pv *pv_new_array(struct pv_arena *a, uint32_t capacity);  /* empty; n grows by push */
struct pv *pv_new_map(struct pv_arena *a, uint32_t capacity);    /* empty; n grows by put */
/* Appends a shallow copy of item. Returns 0, or -1 when full, item is NULL or a failed. */
int pv_array_push(struct pv_arena *a, struct pv *array, const struct pv *item);
/* Appends key => shallow copy of val (no duplicate check). Returns 0, or -1 as above or when
 * key is not valid UTF-8. */
int pv_map_put(struct pv_arena *a, struct pv *map, const char *key, const struct pv *val);
/* Shorthands for pv_map_put with a new string / int / bool / null value. */
int pv_map_put_str(struct pv_arena *a, struct pv *map, const char *key, const char *s);
int pv_map_put_int(struct pv_arena *a, struct pv *map, const char *key, int64_t i);
int pv_map_put_bool(struct pv_arena *a, struct pv *map, const char *key, bool b);

/* The value under key in map (first match), or NULL when absent or map is not a map. */
const struct pv *pv_get(const struct pv *map, const char *key);
/* The string of v if it is a PV_STR, else NULL. */
const char *pv_str(const struct pv *v);
const char *pv_type_name(enum pv_type t);

#endif
