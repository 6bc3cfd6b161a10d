/*
 * messages.c - GET /v3/{project_id}/messages (cinder.api.v3.messages, microversion 3.3):
 * the live user messages of the caller's project (an admin sees every project's with
 * all_tenants), newest first, each with Cinder's "user_message" text "<action>: <detail>".
 */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "core/usermsg.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/policy.h"
#include "api-shim/shim.h"
#include "api-shim/txn.h"
#include "api-shim/view.h"

#define TS_FMT "'YYYY-MM-DD\"T\"HH24:MI:SS.US'"

static const struct policy get_all_policy = { "message:get_all", POLICY_ANY };

static const char sql_messages[] =
	"SELECT id, message_level, event_id, action_id, detail_id, resource_type, resource_uuid, "
	"request_id, to_char(created_at, " TS_FMT "), to_char(expires_at, " TS_FMT ") "
	"FROM messages WHERE NOT COALESCE(deleted, false) "
	"AND expires_at > now() AT TIME ZONE 'utc' AND ($1::text IS NULL OR project_id = $1) "
	"ORDER BY created_at DESC, id DESC LIMIT $2::integer";

enum { C_ID, C_LEVEL, C_EVENT, C_ACTION, C_DETAIL, C_RTYPE, C_RUUID, C_REQID, C_CREATED,
       C_EXPIRES };

struct messages_req {
	struct txn_ctx t;
	const char *params[2];
	json_t *items;
};

static json_t *column(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* cinder.api.v3.views.messages detail, without the "message" wrapper. */
static json_t *message_view(const struct shim_request *r, const PGresult *res, int i)
{
	char text[512];
	json_t *m;

	snprintf(text, sizeof(text), "%s: %s", usermsg_action_text(PQgetvalue(res, i, C_ACTION)),
		 usermsg_detail_text(PQgetvalue(res, i, C_DETAIL)));
	m = json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}",
		      "id", column(res, i, C_ID), "event_id", column(res, i, C_EVENT),
		      "user_message", text, "message_level", column(res, i, C_LEVEL),
		      "created_at", column(res, i, C_CREATED),
		      "guaranteed_until", column(res, i, C_EXPIRES),
		      "request_id", column(res, i, C_REQID),
		      "links", view_links(r, "messages", PQgetvalue(res, i, C_ID)));
	if (m != NULL && !PQgetisnull(res, i, C_RTYPE) && PQgetvalue(res, i, C_RTYPE)[0] != '\0')
		json_object_set_new(m, "resource_type", column(res, i, C_RTYPE));
	if (m != NULL && !PQgetisnull(res, i, C_RUUID) && PQgetvalue(res, i, C_RUUID)[0] != '\0')
		json_object_set_new(m, "resource_uuid", column(res, i, C_RUUID));
	return m;
}

static int messages_txn(db_conn *db, void *arg)
{
	struct messages_req *m = arg;
	PGresult *res = NULL;
	int rc = db_exec(db, sql_messages, 2, m->params, &res);

	if (rc != DB_OK)
		return rc;
	json_decref(m->items);
	m->items = json_array();
	for (int i = 0; m->items != NULL && i < PQntuples(res); i++) {
		if (json_array_append_new(m->items, message_view(m->t.r, res, i)) != 0) {
			json_decref(m->items);
			m->items = NULL;
		}
	}
	PQclear(res);
	return m->items != NULL ? DB_OK : txn_internal(&m->t);
}

void messages_list(struct shim_request *r)
{
	struct messages_req m = { .t = { .r = r } };
	char limit_text[24];
	bool all_tenants = false;
	long limit = SHIM_MAX_LIMIT;
	const char *lim = req_query(r, "limit");

	if (!policy_enforce(r, &get_all_policy, NULL))
		return;
	if (req_query_bool(r, "all_tenants", false, &all_tenants) != 0)
		return;
	/* Pagination arrived in 3.5. */
	if (lim != NULL && req_ver_ge(r, 3, 5)) {
		if (util_parse_long(lim, 0, 2147483647L, &limit) != 0) {
			fault_reply(r, 400, "limit param must be an integer");
			return;
		}
		if (limit > SHIM_MAX_LIMIT)
			limit = SHIM_MAX_LIMIT;
	}
	snprintf(limit_text, sizeof(limit_text), "%ld", limit);
	m.params[0] = r->auth.is_admin && all_tenants ? NULL : r->auth.project_id;
	m.params[1] = limit_text;
	if (txn_run(&m.t, messages_txn) == 0)
		req_reply(r, 200, json_pack("{s:o}", "messages", m.items));
	else
		json_decref(m.items);
}
