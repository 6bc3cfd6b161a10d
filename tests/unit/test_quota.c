/*
 * test_quota.c - the quota engine's pure arithmetic (docs/cinder.md §7.4): the
 * over-quota rule, the overflow guard, commit and rollback of a reservation, and per-type
 * resource names.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "core/quota.h"

/* ---- quota_is_over: limit >= 0 && delta >= 0 && limit < delta + in_use + reserved ---- */

struct over_case {
	long limit, delta, in_use, reserved;
	bool over;
};

ParameterizedTestParameters(quota, is_over_table)
{
	static struct over_case cases[] = {
		{ 10, 1, 0, 0, false },          /* plenty of room */
		{ 10, 1, 9, 0, false },          /* exactly at the limit is allowed */
		{ 10, 1, 10, 0, true },          /* one past */
		{ 10, 1, 5, 4, false },          /* reserved counts: 1 + 5 + 4 = 10 */
		{ 10, 1, 5, 5, true },           /* 11 > 10 */
		{ 10, 11, 0, 0, true },          /* one request larger than the limit */
		{ 0, 1, 0, 0, true },            /* a zero limit forbids any increase */
		{ 0, 0, 0, 0, false },           /* a zero delta never goes over a zero limit */
		{ 0, 0, 5, 0, true },            /* ...unless the project is already over it */
		{ -1, 1000000, 5, 5, false },    /* -1: unlimited */
		{ -1, 0, 0, 0, false },
		{ -5, 1, 100, 0, false },        /* any negative limit is unlimited */
		{ 10, -1, 20, 0, false },        /* shrinking is allowed even when over */
		{ 10, -100, 0, 0, false },
		{ 1000, 1, 999, 0, false },      /* extend 999 -> 1000 GiB on a 1000 GiB quota */
		{ 1000, 1, 999, 1, true },
		{ 2147483647, 1, 2147483646, 0, false },
		{ 2147483647, 1, 2147483647, 0, true },   /* no wrap-around in the sum */
		{ 2147483647, 2147483647, 2147483647, 2147483647, true },
	};

	return cr_make_param_array(struct over_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct over_case *c, quota, is_over_table)
{
	cr_assert_eq(quota_is_over(c->limit, c->delta, c->in_use, c->reserved), c->over,
		     "limit %ld delta %ld in_use %ld reserved %ld", c->limit, c->delta, c->in_use,
		     c->reserved);
}

/* ---- quota_would_overflow: in_use + reserved + delta or reserved + delta > 2147483647 ---- */

struct overflow_case {
	long delta, in_use, reserved;
	bool overflow;
};

ParameterizedTestParameters(quota, overflow_edges)
{
	static struct overflow_case cases[] = {
		{ 1, 0, 0, false },
		{ 1, 2147483646, 0, false },        /* total exactly 2147483647 */
		{ 1, 2147483647, 0, true },         /* total 2147483648 */
		{ 2, 2147483646, 0, true },
		{ 1, 0, 2147483646, false },
		{ 1, 0, 2147483647, true },         /* reserved + delta alone passes */
		{ 0, 2147483647, 0, false },
		{ 0, 2147483647, 1, true },         /* in_use + reserved already past */
		{ 2147483647, 0, 0, false },
		{ 2147483647, 1, 0, true },
		{ 1000, 2147482647, 0, false },
		{ 1000, 2147482648, 0, true },
		{ -1, 2147483647, 1, false },       /* a negative delta brings it back */
		{ -5, 0, 0, false },
	};

	return cr_make_param_array(struct overflow_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct overflow_case *c, quota, overflow_edges)
{
	cr_assert_eq(quota_would_overflow(c->delta, c->in_use, c->reserved), c->overflow,
		     "delta %ld in_use %ld reserved %ld", c->delta, c->in_use, c->reserved);
}

/* ---- rollback ---- */

/* The commit's arithmetic is SQL (core/quota_commit.sql), tested against the database by
 * tests/integration/test_quota_commit.py with the cases it shares with these. */
struct rollback_case {
	long delta, reserved;
	long rollback_reserved;
};

ParameterizedTestParameters(quota, rollback)
{
	static struct rollback_case cases[] = {
		/* Extend 1 -> 2: the reserved 1 is released. */
		{ 1, 1, 0 },
		/* Other reservations stay reserved. */
		{ 3, 5, 2 },
		/* reserved less than delta (e.g. reset by hand): clamps to 0, never negative. */
		{ 5, 2, 0 },
		{ 5, 0, 0 },
		/* A zero delta changes nothing. */
		{ 0, 3, 3 },
		/* Negative deltas are never reserved, so reserved is left alone. */
		{ -2, 4, 4 },
		{ -5, 1, 1 },
	};

	return cr_make_param_array(struct rollback_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct rollback_case *c, quota, rollback)
{
	long reserved = c->reserved;

	quota_apply_rollback(c->delta, &reserved);
	cr_expect_eq(reserved, c->rollback_reserved, "rollback delta %ld: reserved %ld",
		     c->delta, reserved);
}

Test(quota, reserve_then_rollback_leaves_in_use)
{
	long in_use = 4, reserved = 0;

	reserved += 3;
	quota_apply_rollback(3, &reserved);
	cr_assert_eq(in_use, 4);
	cr_assert_eq(reserved, 0);
}

/* ---- per-type resource names ---- */

Test(quota, type_resource_default_type)
{
	char out[QUOTA_RESOURCE_MAX + 1];

	cr_assert_eq(quota_type_resource("gigabytes", "__DEFAULT__", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "gigabytes___DEFAULT__");
	cr_assert_eq(quota_type_resource("volumes", "__DEFAULT__", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "volumes___DEFAULT__");
}

Test(quota, type_resource_plain_and_odd_names)
{
	char out[QUOTA_RESOURCE_MAX + 1];

	cr_assert_eq(quota_type_resource("gigabytes", "ssd", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "gigabytes_ssd");
	cr_assert_eq(quota_type_resource("snapshots", "fast disks", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "snapshots_fast disks");
	cr_assert_eq(quota_type_resource("volumes", "", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "volumes_");
}

Test(quota, type_resource_longest_type_name_fits)
{
	/* Cinder's type names are at most 255 characters; "gigabytes_" makes 265 <= 300. */
	char name[256], out[QUOTA_RESOURCE_MAX + 1];

	memset(name, 'x', 255);
	name[255] = '\0';
	cr_assert_eq(quota_type_resource("gigabytes", name, out, sizeof(out)), 0);
	cr_assert_eq(strlen(out), 265);
	cr_assert_eq(strncmp(out, "gigabytes_xxx", 13), 0);
}

Test(quota, type_resource_too_long_fails)
{
	char out[16];

	/* "gigabytes_" + "abcde" = 15 characters: fits exactly with the NUL. */
	cr_assert_eq(quota_type_resource("gigabytes", "abcde", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "gigabytes_abcde");
	cr_assert_eq(quota_type_resource("gigabytes", "abcdef", out, sizeof(out)), -1);
	cr_assert_eq(quota_type_resource("gigabytes", "__DEFAULT__", out, sizeof(out)), -1);
}

/* ---- a volume's deltas and when they are given back ---- */

Test(quota, volume_deltas_with_and_without_type)
{
	struct quota_delta d[QUOTA_VOLUME_DELTAS];

	cr_assert_eq(quota_volume_deltas("__DEFAULT__", 1, 5, d), 4);
	cr_assert_str_eq(d[0].resource, "volumes");
	cr_assert_eq(d[0].delta, 1);
	cr_assert_str_eq(d[1].resource, "gigabytes");
	cr_assert_eq(d[1].delta, 5);
	cr_assert_str_eq(d[2].resource, "volumes___DEFAULT__");
	cr_assert_eq(d[2].delta, 1);
	cr_assert_str_eq(d[3].resource, "gigabytes___DEFAULT__");
	cr_assert_eq(d[3].delta, 5);

	/* A type that is gone (no name): the base resources only. */
	cr_assert_eq(quota_volume_deltas("", -1, -3, d), 2);
	cr_assert_str_eq(d[0].resource, "volumes");
	cr_assert_eq(d[0].delta, -1);
	cr_assert_str_eq(d[1].resource, "gigabytes");
	cr_assert_eq(d[1].delta, -3);
	cr_assert_eq(quota_volume_deltas(NULL, -1, -3, d), 2);
}
