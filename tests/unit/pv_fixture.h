/*
 * pv_fixture.h - building value trees from JSON text in unit tests.
 *
 * Included by one test file each (it defines a static function), after <criterion/criterion.h>.
 */
#ifndef VOLMGR_TESTS_PV_FIXTURE_H
#define VOLMGR_TESTS_PV_FIXTURE_H

#include <jansson.h>
#include "proto/json.h"

/* The tree of JSON text in arena a; fails the test on bad JSON or an arena failure. */
static struct pv *pv_fixture(struct pv_arena *a, const char *text)
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

#endif
