/*
 * test_pending_extend.c - parsing a stored extend_reservations value (core/pending_extend.h).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "core/pending_extend.h"

#define U1 "0e5d3a52-5b2c-4f6e-9d3c-2a1b0c9d8e7f"
#define U2 "1f6e4b63-6c3d-4a7f-8e4d-3b2c1d0e9f8a"

static char out[4][37];
static int n;

Test(pending_extend, list_of_uuids)
{
	cr_expect(eq(int, pending_extend_parse_reservations("[\"" U1 "\", \"" U2 "\"]", out, 4, &n),
		     PENDING_EXTEND_OK));
	cr_expect(eq(int, n, 2));
	cr_expect(eq(str, out[0], U1));
	cr_expect(eq(str, out[1], U2));
	cr_expect(eq(int, pending_extend_parse_reservations("[]", out, 4, &n), PENDING_EXTEND_OK));
	cr_expect(eq(int, n, 0));
}

Test(pending_extend, not_json_and_not_a_list_are_told_apart)
{
	cr_expect(eq(int, pending_extend_parse_reservations("[\"" U1 "\"", out, 4, &n),
		     PENDING_EXTEND_NOT_JSON));
	cr_expect(eq(int, n, 0));
	cr_expect(eq(int, pending_extend_parse_reservations("", out, 4, &n),
		     PENDING_EXTEND_NOT_JSON));
	cr_expect(eq(int, pending_extend_parse_reservations("\"" U1 "\"", out, 4, &n),
		     PENDING_EXTEND_NOT_LIST));
	cr_expect(eq(int, pending_extend_parse_reservations("{\"a\": 1}", out, 4, &n),
		     PENDING_EXTEND_NOT_LIST));
	cr_expect(eq(int, pending_extend_parse_reservations("5", out, 4, &n),
		     PENDING_EXTEND_NOT_LIST));
	cr_expect(eq(int, n, 0));
}

Test(pending_extend, bad_elements_keep_the_good_ones)
{
	cr_expect(eq(int, pending_extend_parse_reservations("[1, \"" U1 "\", null]", out, 4, &n),
		     PENDING_EXTEND_BAD_ELEMENT));
	cr_expect(eq(int, n, 1));
	cr_expect(eq(str, out[0], U1));
	cr_expect(eq(int, pending_extend_parse_reservations(
			     "[\"" U1 "x\", \"" U2 "\"]", out, 4, &n), /* 37 characters */
		     PENDING_EXTEND_BAD_ELEMENT));
	cr_expect(eq(int, n, 1));
	cr_expect(eq(str, out[0], U2));
	/* More than max: the first max are kept. */
	cr_expect(eq(int, pending_extend_parse_reservations(
			     "[\"a\", \"b\", \"c\", \"d\", \"e\"]", out, 4, &n),
		     PENDING_EXTEND_BAD_ELEMENT));
	cr_expect(eq(int, n, 4));
	cr_expect(eq(str, out[3], "d"));
}
