/*
 * quotas.c - GET /v3/{project_id}/os-quota-sets/{target}[?usage=true]
 * (cinder.api.contrib.quotas show): the target's limits, or with usage each resource's
 * {"limit", "in_use", "reserved"} as Cinder's database quota driver reports them.
 */
#include <string.h>

#include "core/quota.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/policy.h"
#include "api-shim/shim.h"
#include "api-shim/txn.h"

#define QUOTA_ROWS_MAX 64

struct quotas_req {
	struct txn_ctx t;
	const char *target;
	struct quota_usage_row rows[QUOTA_ROWS_MAX];
	int nrows;
};

static const struct policy show_policy = { "volume_extension:quotas:show",
					   POLICY_ADMIN_OR_OWNER };

static int quotas_txn(db_conn *db, void *arg)
{
	struct quotas_req *q = arg;

	return quota_project_usage(db, &shim_quota_defaults, q->target, q->rows, QUOTA_ROWS_MAX,
				   &q->nrows);
}

void quotas_show(struct shim_request *r)
{
	struct quotas_req q = { .t = { .r = r }, .target = r->captures[1] };
	bool usage = false;
	json_t *set;

	if (!policy_enforce(r, &show_policy, q.target))
		return;
	if (req_query_bool(r, "usage", false, &usage) != 0)
		return;
	if (strlen(q.target) >= AUTH_ID_MAX) {
		fault_reply(r, 400, "Invalid input received: project id too long");
		return;
	}
	if (txn_run(&q.t, quotas_txn) != 0)
		return;
	set = json_pack("{s:s}", "id", q.target);
	for (int i = 0; set != NULL && i < q.nrows; i++) {
		const struct quota_usage_row *u = &q.rows[i];
		json_t *v = usage ? json_pack("{s:I, s:I, s:I}", "limit", (json_int_t)u->limit,
					      "in_use", (json_int_t)u->in_use,
					      "reserved", (json_int_t)u->reserved) :
				    json_integer(u->limit);

		if (v == NULL || json_object_set_new(set, u->resource, v) != 0) {
			json_decref(set);
			set = NULL;
		}
	}
	if (set == NULL)
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
	else
		req_reply(r, 200, json_pack("{s:o}", "quota_set", set));
}
