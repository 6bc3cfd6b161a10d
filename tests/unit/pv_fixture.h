/*
 * pv_fixture.h - the value fixture of the protocol unit tests: a fresh arena for each test,
 * value trees built from JSON text in it, and the buffer the parsers write their reason to.
 *
 * Included after <criterion/criterion.h> by the test files of proto/ (each of which is a
 * program of its own, so these static definitions are that program's). A suite that uses
 * the arena names pv_fixture_setup and pv_fixture_teardown as its .init and .fini, or calls
 * them from its own.
 */
#ifndef VOLMGR_TESTS_PV_FIXTURE_H
#define VOLMGR_TESTS_PV_FIXTURE_H

#include <jansson.h>
#include "proto/json.h"
#include "proto/value.h"

/* Big enough for the largest tree a test builds; the arena allocates only what is used. */
#define PV_FIXTURE_ARENA_CAP (64u << 20)

/* The test's arena, and the reason a decoder or parser gave for its last refusal. */
static struct pv_arena ta;
static char detail[256];

static inline void pv_fixture_setup(void)
{
	pv_arena_init(&ta, PV_FIXTURE_ARENA_CAP);
}

static inline void pv_fixture_teardown(void)
{
	pv_arena_destroy(&ta);
}

/* The tree of JSON text in arena a; fails the test on bad JSON or an arena failure. */
static inline struct pv *pv_fixture(struct pv_arena *a, const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
	struct pv *v;

	cr_assert(j != NULL, "bad test JSON %s: %s", text, err.text);
	v = proto_pv_from_json(a, j);
	json_decref(j);
	cr_assert(v != NULL);
	return v;
}

/* The tree of JSON text in the test's arena. */
static inline struct pv *J(const char *text)
{
	return pv_fixture(&ta, text);
}

#endif
