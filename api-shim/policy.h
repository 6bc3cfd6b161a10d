/*
 * policy.h - Cinder's default policy rules, and the check of a policy for a request.
 *
 * A policy is its name (as Cinder's policy file names it, shown in the 403 message) and its
 * default rule. Each one is declared once, where it is checked: in the row of an action
 * (actions.c) or beside the route that checks it.
 *
 * Rules (docs/cinder.md, policies):
 *   POLICY_ADMIN_API       the caller is an admin (is_admin, or role admin: Cinder's
 *                          "is_admin:True or (role:admin and is_admin_project:True)" with every
 *                          project an admin project, as in a deployment without an admin
 *                          project)
 *   POLICY_ADMIN_OR_OWNER  admin, or the caller's project is the target's project (Cinder's
 *                          project-member defaults reduce to this when every caller is a member)
 *   POLICY_ANY             every authenticated caller
 */
#ifndef VOLMGR_SHIM_POLICY_H
#define VOLMGR_SHIM_POLICY_H

#include <stdbool.h>
#include "api-shim/auth.h"
#include "api-shim/fault.h"
#include "api-shim/request.h"

enum policy_rule { POLICY_ANY, POLICY_ADMIN_OR_OWNER, POLICY_ADMIN_API };

struct policy {
	const char *name;
	enum policy_rule rule;
};

/*
 * True if ctx may perform p on a target owned by target_project (NULL when the target has no
 * owner, e.g. a create or a list).
 */
bool policy_allowed(const struct auth_ctx *ctx, const struct policy *p,
		    const char *target_project);

/* policy_allowed for r's caller; when denied, sets Cinder's 403 "Policy doesn't allow <name>
 * to be performed." on r. (Inline, so that the rules above link without the HTTP layer.) */
static inline bool policy_enforce(struct shim_request *r, const struct policy *p,
				  const char *target_project)
{
	if (policy_allowed(&r->auth, p, target_project))
		return true;
	fault_reply(r, 403, "Policy doesn't allow %s to be performed.", p->name);
	return false;
}

#endif
