/*
 * policy.c - the policy rules (see policy.h).
 */
#include "api-shim/policy.h"

#include <string.h>

bool policy_allowed(const struct auth_ctx *ctx, const struct policy *p,
		    const char *target_project)
{
	switch (p->rule) {
	case POLICY_ANY:
		return true;
	case POLICY_ADMIN_OR_OWNER:
		return ctx->is_admin || target_project == NULL ||
		       strcmp(ctx->project_id, target_project) == 0;
	case POLICY_ADMIN_API:
		return ctx->is_admin;
	}
	return false;
}
