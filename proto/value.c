/*
 * value.c - the value tree and its capped bump arena.
 */
#include "proto/value.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

/* Chunks are this big unless a single allocation needs more or the cap allows less. */
#define PV_CHUNK_BYTES 16384
#define PV_ALIGN _Alignof(max_align_t)

struct pv_chunk {
	struct pv_chunk *next;
	size_t size;
	size_t used;
	max_align_t data[];
};

/*
 * Arrays and maps keep their capacity in a hidden header just before their first element, so
 * struct pv stays small and push/put can still refuse to overflow.
 */
#define PV_VEC_HDR PV_ALIGN

void pv_arena_init(struct pv_arena *a, size_t cap)
{
	a->head = NULL;
	a->used = 0;
	a->cap = cap;
	a->failed = false;
}

void pv_arena_destroy(struct pv_arena *a)
{
	struct pv_chunk *c = a->head;

	while (c) {
		struct pv_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = 0;
}

static void *arena_fail(struct pv_arena *a)
{
	a->failed = true;
	return NULL;
}

void *pv_arena_alloc(struct pv_arena *a, size_t n)
{
	struct pv_chunk *c = a->head;
	size_t need;
	void *p;

	if (a->failed || n > SIZE_MAX - PV_ALIGN)
		return arena_fail(a);
	need = n ? (n + PV_ALIGN - 1) / PV_ALIGN * PV_ALIGN : PV_ALIGN;
	if (need > a->cap - a->used)
		return arena_fail(a);
	if (!c || c->size - c->used < need) {
		/* A big block gets its own chunk behind the head, which keeps serving small
		 * allocations; other chunks never exceed what the cap could still hand out. */
		bool own = need > PV_CHUNK_BYTES / 4 && c;
		size_t size;

		size = a->cap - a->used < PV_CHUNK_BYTES ? a->cap - a->used : PV_CHUNK_BYTES;
		if (own || size < need)
			size = need;
		c = malloc(sizeof(*c) + size);
		if (!c)
			return arena_fail(a);
		c->size = size;
		c->used = 0;
		if (own) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = (char *)c->data + c->used;
	c->used += need;
	a->used += need;
	return p;
}

char *pv_arena_strndup(struct pv_arena *a, const char *s, size_t len)
{
	char *d = len < SIZE_MAX ? pv_arena_alloc(a, len + 1) : arena_fail(a);

	if (!d)
		return NULL;
	if (len)
		memcpy(d, s, len); /* msgpack-c gives an empty string a NULL pointer */
	d[len] = '\0';
	return d;
}

static struct pv *node(struct pv_arena *a, enum pv_type t)
{
	struct pv *v = pv_arena_alloc(a, sizeof(*v));

	if (v) {
		memset(v, 0, sizeof(*v));
		v->type = t;
	}
	return v;
}

struct pv *pv_new_null(struct pv_arena *a)
{
	return node(a, PV_NULL);
}

struct pv *pv_new_bool(struct pv_arena *a, bool b)
{
	struct pv *v = node(a, PV_BOOL);

	if (v)
		v->u.b = b;
	return v;
}

struct pv *pv_new_int(struct pv_arena *a, int64_t i)
{
	struct pv *v = node(a, PV_INT);

	if (v)
		v->u.i = i;
	return v;
}

struct pv *pv_new_str(struct pv_arena *a, const char *s)
{
	size_t len;
	struct pv *v;

	if (!s)
		return pv_new_null(a);
	len = strlen(s);
	/* A tree holds only valid UTF-8 (see value.h): an encoder must never send what every
	 * decoder, the manager's included, rejects. */
	if (len > UINT32_MAX || !utf8_valid_n(s, len))
		return arena_fail(a);
	v = node(a, PV_STR);
	if (!v || !(v->u.s = pv_arena_strndup(a, s, len)))
		return NULL;
	v->n = (uint32_t)len;
	return v;
}

static void *vec_alloc(struct pv_arena *a, size_t elem, uint32_t cap)
{
	char *p;

	if (cap > (SIZE_MAX - PV_VEC_HDR) / elem)
		return arena_fail(a);
	p = pv_arena_alloc(a, PV_VEC_HDR + elem * cap);
	if (!p)
		return NULL;
	memcpy(p, &cap, sizeof(cap));
	return p + PV_VEC_HDR;
}

static uint32_t vec_cap(const void *items)
{
	uint32_t cap;

	memcpy(&cap, (const char *)items - PV_VEC_HDR, sizeof(cap));
	return cap;
}

struct pv *pv_new_array(struct pv_arena *a, uint32_t capacity)
{
	struct pv *v = node(a, PV_ARRAY);

	if (v && !(v->u.items = vec_alloc(a, sizeof(struct pv), capacity)))
		return NULL;
	return v;
}

struct pv *pv_new_map(struct pv_arena *a, uint32_t capacity)
{
	struct pv *v = node(a, PV_MAP);

	if (v && !(v->u.pairs = vec_alloc(a, sizeof(struct pv_pair), capacity)))
		return NULL;
	return v;
}

/* A refused push or put also marks the arena failed, so one check at the end of a builder
 * sequence catches every error. */
int pv_array_push(struct pv_arena *a, struct pv *array, const struct pv *item)
{
	if (a->failed || !array || array->type != PV_ARRAY || !item ||
	    array->n >= vec_cap(array->u.items)) {
		a->failed = true;
		return -1;
	}
	array->u.items[array->n++] = *item;
	return 0;
}

int pv_map_put(struct pv_arena *a, struct pv *map, const char *key, const struct pv *val)
{
	struct pv_pair *p;
	size_t len;

	if (a->failed || !map || map->type != PV_MAP || !key || !val ||
	    map->n >= vec_cap(map->u.pairs) || (len = strlen(key)) > UINT32_MAX ||
	    !utf8_valid_n(key, len)) {
		a->failed = true;
		return -1;
	}
	p = &map->u.pairs[map->n];
	if (!(p->key.u.s = pv_arena_strndup(a, key, len)))
		return -1;
	p->key.type = PV_STR;
	p->key.n = (uint32_t)len;
	p->val = *val;
	map->n++;
	return 0;
}

int pv_map_put_str(struct pv_arena *a, struct pv *map, const char *key, const char *s)
{
	return pv_map_put(a, map, key, pv_new_str(a, s));
}

int pv_map_put_int(struct pv_arena *a, struct pv *map, const char *key, int64_t i)
{
	return pv_map_put(a, map, key, pv_new_int(a, i));
}

int pv_map_put_bool(struct pv_arena *a, struct pv *map, const char *key, bool b)
{
	return pv_map_put(a, map, key, pv_new_bool(a, b));
}

const struct pv *pv_get(const struct pv *map, const char *key)
{
	if (!map || map->type != PV_MAP || !key)
		return NULL;
	for (uint32_t i = 0; i < map->n; i++)
		if (strcmp(map->u.pairs[i].key.u.s, key) == 0)
			return &map->u.pairs[i].val;
	return NULL;
}

const char *pv_str(const struct pv *v)
{
	return v && v->type == PV_STR ? v->u.s : NULL;
}

const char *pv_type_name(enum pv_type t)
{
	static const char *const names[] = {
		[PV_NULL] = "null", [PV_BOOL] = "bool", [PV_INT] = "int", [PV_FLOAT] = "float",
		[PV_STR] = "string", [PV_ARRAY] = "array", [PV_MAP] = "map",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}
