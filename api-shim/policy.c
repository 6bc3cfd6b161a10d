/*
 * policy.c - the policy table (see policy.h).
 */
#include "api-shim/policy.h"

#include <stddef.h>
#include <string.h>

#include "proto/names.h"

enum policy_rule { RULE_ANY, RULE_ADMIN_OR_OWNER, RULE_ADMIN_API };

struct policy_def {
	const char *name;
	enum policy_rule rule;
};

/* Cinder's defaults (the modules of cinder/policies) for what the shim serves. */
static const struct policy_def policies[] = {
	{ POLICY_GET, RULE_ADMIN_OR_OWNER },
	{ POLICY_GET_ALL, RULE_ANY },
	{ POLICY_CREATE, RULE_ANY },
	{ POLICY_DELETE, RULE_ADMIN_OR_OWNER },
	{ POLICY_EXTEND, RULE_ADMIN_OR_OWNER },
	{ POLICY_EXTEND_ATTACHED, RULE_ADMIN_OR_OWNER },
	{ POLICY_EXTEND_COMPLETION, RULE_ADMIN_API },
	{ POLICY_RESET_STATUS, RULE_ADMIN_API },
	{ POLICY_RESERVE, RULE_ADMIN_OR_OWNER },
	{ POLICY_UNRESERVE, RULE_ADMIN_OR_OWNER },
	{ POLICY_INITIALIZE, RULE_ADMIN_OR_OWNER },
	{ POLICY_ATTACH, RULE_ADMIN_OR_OWNER },
	{ POLICY_BEGIN_DETACHING, RULE_ADMIN_OR_OWNER },
	{ POLICY_ROLL_DETACHING, RULE_ADMIN_OR_OWNER },
	{ POLICY_TERMINATE, RULE_ADMIN_OR_OWNER },
	{ POLICY_DETACH, RULE_ADMIN_OR_OWNER },
	{ POLICY_FORCE_DETACH, RULE_ADMIN_API },
	{ POLICY_UPDATE_READONLY, RULE_ADMIN_OR_OWNER },
	{ POLICY_MESSAGE_GET_ALL, RULE_ANY },
	{ POLICY_QUOTA_SHOW, RULE_ADMIN_OR_OWNER },
	{ POLICY_TENANT_ATTRIBUTE, RULE_ADMIN_API },
	{ POLICY_HOST_ATTRIBUTE, RULE_ADMIN_API },
	{ POLICY_MIG_STATUS_ATTRIBUTE, RULE_ADMIN_API },
};

bool policy_allowed(const struct auth_ctx *ctx, const char *policy, const char *target_project)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		if (strcmp(policies[i].name, policy) != 0)
			continue;
		switch (policies[i].rule) {
		case RULE_ANY:
			return true;
		case RULE_ADMIN_OR_OWNER:
			return ctx->is_admin || target_project == NULL ||
			       strcmp(ctx->project_id, target_project) == 0;
		case RULE_ADMIN_API:
			return ctx->is_admin;
		}
	}
	return false;
}
