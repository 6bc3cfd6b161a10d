/*
 * Unit tests of the api-shim's policy rules and authentication.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api-shim/auth.h"
#include "api-shim/policy.h"

static struct auth_ctx ctx_of(const char *user, const char *project, bool admin)
{
	struct auth_ctx c;

	memset(&c, 0, sizeof(c));
	snprintf(c.user_id, sizeof(c.user_id), "%s", user);
	snprintf(c.project_id, sizeof(c.project_id), "%s", project);
	c.is_admin = admin;
	return c;
}

/* Criterion runs each parameter in a fresh process, so the strings live inline. */
struct policy_case {
	enum policy_rule rule;
	bool admin;
	char target[16];   /* "" means a target without an owner */
	bool allowed;
};

ParameterizedTestParameters(policy, rules)
{
	static struct policy_case cases[] = {
		{ POLICY_ADMIN_OR_OWNER, false, "p1", true },
		{ POLICY_ADMIN_OR_OWNER, false, "p2", false },
		{ POLICY_ADMIN_OR_OWNER, true, "p2", true },
		{ POLICY_ADMIN_OR_OWNER, false, "", true },
		{ POLICY_ADMIN_API, false, "p1", false },
		{ POLICY_ADMIN_API, true, "p2", true },
		{ POLICY_ADMIN_API, false, "", false },
		{ POLICY_ANY, false, "p2", true },
		{ POLICY_ANY, false, "", true },
	};
	return cr_make_param_array(struct policy_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct policy_case *c, policy, rules)
{
	struct auth_ctx ctx = ctx_of("u1", "p1", c->admin);
	const struct policy p = { "volume:test", c->rule };
	const char *target = c->target[0] ? c->target : NULL;

	cr_assert_eq(policy_allowed(&ctx, &p, target), c->allowed, "rule %d admin=%d target=%s",
		     (int)c->rule, c->admin, c->target);
}

Test(policy, unknown_rule_is_denied)
{
	struct auth_ctx ctx = ctx_of("u1", "p1", true);
	const struct policy p = { "volume:test", (enum policy_rule)42 };

	cr_assert_not(policy_allowed(&ctx, &p, "p1"), "an impossible rule fails closed");
}

Test(auth, noauth_user_and_project)
{
	struct auth_ctx ctx;
	char err[256];

	cr_assert_eq(auth_init("noauth", NULL, "admin, ops", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_resolve("alice:proj1", NULL, &ctx), AUTH_OK);
	cr_assert_str_eq(ctx.user_id, "alice");
	cr_assert_str_eq(ctx.project_id, "proj1");
	cr_assert_not(ctx.is_admin);

	/* A token without ':' names both the user and the project. */
	cr_assert_eq(auth_resolve("bob", NULL, &ctx), AUTH_OK);
	cr_assert_str_eq(ctx.user_id, "bob");
	cr_assert_str_eq(ctx.project_id, "bob");

	cr_assert_eq(auth_resolve(NULL, NULL, &ctx), AUTH_MISSING);
	auth_shutdown();
}

Test(auth, admin_by_role_or_by_config)
{
	struct auth_ctx ctx;
	char err[256];

	cr_assert_eq(auth_init("noauth", NULL, "admin,ops", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_resolve("alice:p", "member, admin", &ctx), AUTH_OK);
	cr_assert(ctx.is_admin);
	cr_assert(auth_has_role(&ctx, "member"));
	cr_assert_eq(auth_resolve("ops:p", NULL, &ctx), AUTH_OK);
	cr_assert(ctx.is_admin, "users listed in admin_users are admins");
	cr_assert_eq(auth_resolve("alice:p", "reader", &ctx), AUTH_OK);
	cr_assert_not(ctx.is_admin);
	auth_shutdown();
}

Test(auth, tokenfile)
{
	char path[] = "/tmp/volmgr-tokens-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# token user project roles\n"
			   "s3cret alice proj1 member\n"
			   "r00t root proj0 admin,member\n";
	struct auth_ctx ctx;
	char err[256];

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(auth_init("tokenfile", path, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_resolve("s3cret", NULL, &ctx), AUTH_OK);
	cr_assert_str_eq(ctx.user_id, "alice");
	cr_assert_str_eq(ctx.project_id, "proj1");
	cr_assert_not(ctx.is_admin);
	cr_assert_eq(auth_resolve("r00t", NULL, &ctx), AUTH_OK);
	cr_assert(ctx.is_admin);
	cr_assert_eq(auth_resolve("alice:proj1", NULL, &ctx), AUTH_INVALID,
		     "noauth tokens mean nothing to the tokenfile strategy");
	cr_assert_eq(auth_resolve(NULL, NULL, &ctx), AUTH_MISSING);
	auth_shutdown();
	unlink(path);
}

Test(auth, unknown_strategy_is_refused)
{
	char err[256] = "";

	cr_assert_neq(auth_init("keystone-ish", NULL, NULL, err, sizeof(err)), 0);
	cr_assert_neq(err[0], '\0');
}
