/*
 * actions.c - the volume action endpoint and its table (see actions.h).
 */
#include "api-shim/actions.h"

#include <stdlib.h>
#include <string.h>

#include "core/volume.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/policy.h"

/* attach_policy reads the policy of the legacy attach actions from the name. */
static const struct action_def actions[] = {
	{ "os-extend", extend_schema, extend_policy, extend_body, NULL },
	{ "os-extend_volume_completion", completion_schema, completion_policy, completion_body,
	  NULL },
	{ "os-reset_status", reset_schema, reset_policy, reset_body, NULL },
	{ "os-reserve", noparams_schema, attach_policy, reserve_body, NULL },
	{ "os-unreserve", noparams_schema, attach_policy, unreserve_body, NULL },
	{ "os-initialize_connection", initialize_schema, attach_policy, initialize_body,
	  initialize_after },
	{ "os-attach", attach_schema, attach_policy, attach_body, attach_after },
	{ "os-begin_detaching", noparams_schema, attach_policy, begin_detaching_body, NULL },
	{ "os-roll_detaching", noparams_schema, attach_policy, roll_detaching_body, NULL },
	{ "os-terminate_connection", terminate_schema, attach_policy, guard_body,
	  terminate_after },
	{ "os-detach", detach_schema, attach_policy, guard_body, detach_after },
	{ "os-force_detach", force_detach_schema, attach_policy, guard_body, force_detach_after },
	{ "os-update_readonly_flag", readonly_schema, attach_policy, readonly_body, NULL },
};

static const struct action_def *action_find(const char *name)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

/* Lookup (404, also for a volume the caller may not see), policy (403), then the action. */
static int action_txn(db_conn *db, void *arg)
{
	struct action_ctx *a = arg;
	const char *policy;
	int rc = txn_attempt(&a->t);

	if (rc != DB_OK)
		return rc;
	/* No action reads the volume's metadata: the row and its attachments are enough. */
	a->vol->nmd = a->vol->namd = 0;
	rc = vol_get(db, a->volume_id, true, &a->vol->row);
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !view_visible(a->t.r, &a->vol->row))) {
		fault_volume_not_found(a->t.r, a->volume_id);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, a->volume_id);
	policy = a->def->policy(a);
	if (!policy_allowed(&a->t.r->auth, policy, a->vol->row.project_id)) {
		fault_policy(a->t.r, policy);
		return TXN_FAULT;
	}
	return a->def->body(db, a);
}

json_t *actions_parse(struct shim_request *r, struct action_ctx *a)
{
	json_t *body = req_json_body(r);
	void *iter;

	if (body == NULL)
		return NULL;
	if (!json_is_object(body) || json_object_size(body) != 1) {
		fault_reply(r, 400, FAULT_MSG_MALFORMED_BODY);
		goto fail;
	}
	iter = json_object_iter(body);
	a->name = json_object_iter_key(iter);
	a->params = json_object_iter_value(iter);
	a->def = action_find(a->name);
	if (a->def == NULL) {
		fault_reply(r, 400, "There is no such action: %s. Verify the request body and "
			    "Content-Type header and try again.", a->name);
		goto fail;
	}
	if (a->def->schema(r, a->name, a->params) != 0)
		goto fail;
	return body;
fail:
	json_decref(body);
	return NULL;
}

void actions_dispatch(struct shim_request *r)
{
	struct action_ctx a = { .t = { .r = r }, .volume_id = r->captures[1] };
	json_t *body = actions_parse(r, &a);

	if (body == NULL)
		return;
	if (strlen(a.volume_id) > VOL_STR - 1) {
		fault_volume_not_found(r, a.volume_id);
		goto out;
	}
	a.vol = malloc(sizeof(*a.vol));
	if (a.vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		goto out;
	}
	if (txn_run(&a.t, action_txn) == 0) {
		if (a.def->after != NULL)
			a.def->after(&a);
		else
			req_reply(r, 202, NULL);
	}
	free(a.vol);
out:
	json_decref(body);
}
