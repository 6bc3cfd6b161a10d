/*
 * Unit tests of the api-shim's policy rules and authentication.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

/* Writes text into a new file of the given mode (mkstemp's name is left in path). */
static void write_token_file(char *path, const char *text, mode_t mode)
{
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* Replaces path's content, keeping mode 0600. */
static void rewrite_token_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
}

Test(auth, tokenfile)
{
	char path[] = "/tmp/volmgr-tokens-XXXXXX";
	const char *text = "# token user project roles\n"
			   "s3cret alice proj1 member\n"
			   "r00t root proj0 admin,member\n";
	struct auth_ctx ctx;
	char err[256];

	write_token_file(path, text, 0600);
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

struct equal_case {
	char given[16];
	char known[16];
	bool equal;
};

ParameterizedTestParameters(auth, token_equal)
{
	static struct equal_case cases[] = {
		{ "s3cret", "s3cret", true },
		{ "x3cret", "s3cret", false },    /* first byte */
		{ "s3cres", "s3cret", false },    /* last byte */
		{ "s3cre", "s3cret", false },     /* a prefix of the known token */
		{ "s3crets3cret", "s3cret", false }, /* the known token twice */
		{ "s3cret", "s3crets3cret", false },
		{ "", "s3cret", false },
		{ "a", "a", true },
	};
	return cr_make_param_array(struct equal_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct equal_case *c, auth, token_equal)
{
	cr_assert_eq(auth_token_equal(c->given, strlen(c->given), c->known, strlen(c->known)),
		     c->equal, "'%s' vs '%s'", c->given, c->known);
}

Test(auth, token_equal_refuses_an_empty_known_token)
{
	cr_assert_not(auth_token_equal("", 0, "", 0));
}

Test(auth, tokenfile_readable_by_others_is_refused)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0620 };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char path[] = "/tmp/volmgr-tokens-XXXXXX";
		char err[256] = "";

		write_token_file(path, "s3cret alice proj1\n", modes[i]);
		cr_assert_neq(auth_init("tokenfile", path, NULL, err, sizeof(err)), 0,
			      "mode %04o accepted", (unsigned)modes[i]);
		cr_assert_not_null(strstr(err, "group or others"), "%s", err);
		unlink(path);
	}
}

Test(auth, tokenfile_reload_adds_and_removes_tokens)
{
	char path[] = "/tmp/volmgr-tokens-XXXXXX";
	struct auth_ctx ctx;
	char err[256];

	write_token_file(path, "old-token alice proj1\n", 0600);
	cr_assert_eq(auth_init("tokenfile", path, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_resolve("old-token", NULL, &ctx), AUTH_OK);
	cr_assert_eq(auth_resolve("new-token", NULL, &ctx), AUTH_INVALID);

	rewrite_token_file(path, "new-token bob proj2 member\n");
	cr_assert_eq(auth_reload(err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_resolve("new-token", NULL, &ctx), AUTH_OK);
	cr_assert_str_eq(ctx.user_id, "bob");
	cr_assert_eq(auth_resolve("old-token", NULL, &ctx), AUTH_INVALID);

	/* A file that became readable by others is not read: the tokens in force stay. */
	cr_assert_eq(chmod(path, 0644), 0);
	rewrite_token_file(path, "other-token eve proj3\n");
	cr_assert_neq(auth_reload(err, sizeof(err)), 0);
	cr_assert_eq(auth_resolve("new-token", NULL, &ctx), AUTH_OK);
	cr_assert_eq(auth_resolve("other-token", NULL, &ctx), AUTH_INVALID);
	auth_shutdown();
	unlink(path);
}

Test(auth, reload_under_noauth_does_nothing)
{
	struct auth_ctx ctx;
	char err[256];

	cr_assert_eq(auth_init("noauth", NULL, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_reload(err, sizeof(err)), 0);
	cr_assert_eq(auth_resolve("alice:p", NULL, &ctx), AUTH_OK);
}
