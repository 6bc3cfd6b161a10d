/*
 * policy.h - Cinder's default policies for the routes the shim serves (cinder-behaviour.md
 * §4.5), as a table of policy name -> rule.
 *
 * Rules:
 *   admin_api       the caller is an admin (is_admin, or role admin: Cinder's
 *                   "is_admin:True or (role:admin and is_admin_project:True)" with every
 *                   project an admin project, as in a deployment without an admin project)
 *   admin_or_owner  admin, or the caller's project is the target's project (Cinder's
 *                   project-member defaults reduce to this when every caller is a member)
 *   any             every authenticated caller
 * An unknown policy name is denied, so that a typo fails closed.
 */
#ifndef VOLMGR_SHIM_POLICY_H
#define VOLMGR_SHIM_POLICY_H

#include <stdbool.h>
#include "api-shim/auth.h"

#define POLICY_GET "volume:get"
#define POLICY_GET_ALL "volume:get_all"
#define POLICY_CREATE "volume:create"
#define POLICY_DELETE "volume:delete"
#define POLICY_MESSAGE_GET_ALL "message:get_all"
#define POLICY_QUOTA_SHOW "volume_extension:quotas:show"
#define POLICY_TENANT_ATTRIBUTE "volume_extension:volume_tenant_attribute"
#define POLICY_HOST_ATTRIBUTE "volume_extension:volume_host_attribute"
#define POLICY_MIG_STATUS_ATTRIBUTE "volume_extension:volume_mig_status_attribute"

/*
 * True if ctx may perform policy on a target owned by target_project (NULL when the target
 * has no owner, e.g. a create or a list).
 */
bool policy_allowed(const struct auth_ctx *ctx, const char *policy, const char *target_project);

#endif
