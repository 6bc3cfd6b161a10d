/*
 * Unit tests of the keystone strategy's pure parts: Keystone's times and token answers
 * (common/keystone.c) and the bounded token cache (api-shim/tokcache.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "api-shim/tokcache.h"
#include "common/keystone.h"

Test(keystone, parse_time)
{
	time_t t;

	cr_assert_eq(ks_parse_time("2026-01-02T03:04:05.000000Z", &t), 0);
	cr_assert_eq(t, (time_t)1767323045);
	cr_assert_eq(ks_parse_time("2026-01-02T03:04:05Z", &t), 0);
	cr_assert_eq(t, (time_t)1767323045);
	cr_assert_eq(ks_parse_time("2026-01-02T03:04:05+00:00", &t), 0);
	cr_assert_eq(ks_parse_time("2026-01-02T03:04:05+01:00", &t), -1);
	cr_assert_eq(ks_parse_time("2026-01-02", &t), -1);
	cr_assert_eq(ks_parse_time("", &t), -1);
	cr_assert_eq(ks_parse_time(NULL, &t), -1);
}

static const char token_answer[] =
	"{\"token\": {\"methods\": [\"password\"], \"user\": {\"id\": \"u1\", \"name\": \"demo\","
	" \"domain\": {\"id\": \"default\", \"name\": \"Default\"}},"
	" \"project\": {\"id\": \"p1\", \"name\": \"demo\", \"domain\": {\"id\": \"d2\"}},"
	" \"roles\": [{\"id\": \"r1\", \"name\": \"member\"}, {\"id\": \"r2\", \"name\": \"reader\"}],"
	" \"expires_at\": \"2026-01-02T03:04:05.000000Z\"}}";

Test(keystone, parse_token)
{
	struct ks_identity id;

	cr_assert_eq(ks_parse_token(token_answer, &id), KS_OK);
	cr_assert_str_eq(id.user_id, "u1");
	cr_assert_str_eq(id.project_id, "p1");
	cr_assert_str_eq(id.user_domain_id, "default");
	cr_assert_str_eq(id.project_domain_id, "d2");
	cr_assert_eq(id.nroles, 2);
	cr_assert_str_eq(id.roles[0], "member");
	cr_assert_str_eq(id.roles[1], "reader");
	cr_assert_eq(id.expires_at, (time_t)1767323045);
}

Test(keystone, parse_token_refuses_what_is_not_a_project_token)
{
	struct ks_identity id;

	/* a domain-scoped token, no user, no expiry, not JSON */
	cr_assert_eq(ks_parse_token("{\"token\": {\"user\": {\"id\": \"u\"}, \"domain\": {\"id\": "
				    "\"d\"}, \"expires_at\": \"2026-01-02T03:04:05Z\"}}", &id),
		     KS_REJECTED);
	cr_assert_eq(ks_parse_token("{\"token\": {\"project\": {\"id\": \"p\"}, \"expires_at\": "
				    "\"2026-01-02T03:04:05Z\"}}", &id), KS_REJECTED);
	cr_assert_eq(ks_parse_token("{\"token\": {\"user\": {\"id\": \"u\"}, \"project\": {\"id\": "
				    "\"p\"}}}", &id), KS_REJECTED);
	cr_assert_eq(ks_parse_token("not json", &id), KS_REJECTED);
	cr_assert_eq(id.user_id[0], '\0');
}

Test(keystone, parse_token_keeps_at_most_the_roles_it_has_room_for)
{
	char body[8192];
	size_t n = (size_t)snprintf(body, sizeof(body), "{\"token\": {\"user\": {\"id\": \"u\"}, "
				    "\"project\": {\"id\": \"p\"}, \"expires_at\": "
				    "\"2026-01-02T03:04:05Z\", \"roles\": [");
	struct ks_identity id;

	for (int i = 0; i < KS_MAX_ROLES + 5; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"name\": \"role%d\"}",
				      i > 0 ? ", " : "", i);
	snprintf(body + n, sizeof(body) - n, "]}}");
	cr_assert_eq(ks_parse_token(body, &id), KS_OK);
	cr_assert_eq(id.nroles, KS_MAX_ROLES);
}

static struct auth_ctx ctx_of(const char *user)
{
	struct auth_ctx c;

	memset(&c, 0, sizeof(c));
	snprintf(c.user_id, sizeof(c.user_id), "%s", user);
	return c;
}

Test(tokcache, valid_invalid_expiry)
{
	struct auth_ctx c = ctx_of("u1"), out;

	cr_assert_eq(tokcache_init(64), 0);
	cr_assert_eq(tokcache_get("t1", 100, &out), TOKCACHE_MISS);
	tokcache_put("t1", &c, 110, 100);
	tokcache_put("bad", NULL, 105, 100);
	cr_assert_eq(tokcache_get("t1", 109, &out), TOKCACHE_VALID);
	cr_assert_str_eq(out.user_id, "u1");
	cr_assert_eq(tokcache_get("bad", 104, &out), TOKCACHE_INVALID);
	/* past their time, both are unknown again */
	cr_assert_eq(tokcache_get("t1", 110, &out), TOKCACHE_MISS);
	cr_assert_eq(tokcache_get("bad", 105, &out), TOKCACHE_MISS);
	/* a prefix or an extension of a cached token is another token */
	tokcache_put("t1", &c, 200, 100);
	cr_assert_eq(tokcache_get("t", 150, &out), TOKCACHE_MISS);
	cr_assert_eq(tokcache_get("t12", 150, &out), TOKCACHE_MISS);
	/* an until that is not after now is not kept */
	tokcache_put("late", &c, 100, 100);
	cr_assert_eq(tokcache_get("late", 99, &out), TOKCACHE_MISS);
	tokcache_shutdown();
}

Test(tokcache, bounded_and_keeps_what_lasts)
{
	struct auth_ctx c = ctx_of("u"), out;
	char tok[32];
	int valid = 0;

	/* one set of TOKCACHE_WAYS entries: a long-lived token survives a flood of short ones */
	cr_assert_eq(tokcache_init(1), 0);
	tokcache_put("keeper", &c, 1000, 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(tok, sizeof(tok), "flood%d", i);
		tokcache_put(tok, NULL, 10, 0);
	}
	cr_assert_eq(tokcache_get("keeper", 5, &out), TOKCACHE_VALID);
	for (int i = 0; i < 1000; i++) {
		snprintf(tok, sizeof(tok), "flood%d", i);
		valid += tokcache_get(tok, 5, &out) != TOKCACHE_MISS;
	}
	cr_assert_eq(valid, TOKCACHE_WAYS - 1);
	tokcache_shutdown();
}
