/*
 * cmd_quota.c - quota check | sync (recompute quota_usages and repair drift) and pending list
 * (extends waiting for compute feedback).
 */
#include <stdio.h>
#include <string.h>

#include "core/quota.h"
#include "volctl/volctl.h"

#define QUOTA_AUDIT_MAX_ROWS 1000000
#define PENDING_LIST_MAX "10000"

struct quota_report {
	json_t *rows;
	bool all;       /* list rows without drift too */
	int drift;
};

static int quota_row(void *arg, const struct quota_audit_row *r)
{
	struct quota_report *rep = arg;

	rep->drift += r->drift;
	if (!r->drift && !rep->all)
		return 0;
	json_array_append_new(rep->rows, json_pack(
		"{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b}", "project_id", r->project_id,
		"resource", r->resource, "in_use", (json_int_t)r->in_use,
		"actual_in_use", (json_int_t)r->actual_in_use, "reserved", (json_int_t)r->reserved,
		"actual_reserved", (json_int_t)r->actual_reserved, "drift", r->drift,
		"repaired", r->repaired));
	return 0;
}

static int quota_run(struct volctl_args *a, bool repair)
{
	static const struct volctl_col cols[] = {
		{ "project_id", "PROJECT" }, { "resource", "RESOURCE" },
		{ "in_use", "IN_USE" }, { "actual_in_use", "ACTUAL" },
		{ "reserved", "RESERVED" }, { "actual_reserved", "ACTUAL" },
		{ "drift", "DRIFT" }, { "repaired", "REPAIRED" }, { NULL, NULL },
	};
	struct quota_report rep = { json_array(), a->all, 0 };
	db_conn *db = volctl_db();

	if (db == NULL || rep.rows == NULL) {
		json_decref(rep.rows);
		return VOLCTL_FAIL;
	}
	int rc = quota_audit(db, a->project, repair, QUOTA_AUDIT_MAX_ROWS, quota_row, &rep);
	if (rc != DB_OK) {
		json_decref(rep.rows);
		return volctl_db_fail(db, rc);
	}
	volctl_emit(rep.rows, cols, a->json);
	if (!a->json)
		printf("%d row%s drifted%s\n", rep.drift, rep.drift == 1 ? "" : "s",
		       repair && rep.drift > 0 ? " and repaired" : "");
	return rep.drift > 0 ? VOLCTL_DRIFT : VOLCTL_OK;
}

static int run_quota_check(struct volctl_args *a)
{
	return quota_run(a, false);
}

static int run_quota_sync(struct volctl_args *a)
{
	return quota_run(a, true);
}

static int run_pending_list(struct volctl_args *a)
{
	static const struct volctl_col cols[] = {
		{ "volume_id", "VOLUME" }, { "project_id", "PROJECT" }, { "status", "STATUS" },
		{ "size", "SIZE" }, { "new_size", "NEW_SIZE" }, { "instance_uuid", "INSTANCE" },
		{ "age_seconds", "AGE_S" }, { "deadline_in_seconds", "DEADLINE_IN_S" },
		{ NULL, NULL },
	};
	const char *params[] = { a->project, PENDING_LIST_MAX };
	db_conn *db = volctl_db();
	PGresult *res = NULL;

	if (db == NULL)
		return VOLCTL_FAIL;
	int rc = db_exec(db, "SELECT p.volume_id, p.project_id, v.status, v.size, p.new_size,"
			 " p.instance_uuid, p.started_at, p.deadline,"
			 " extract(epoch FROM (now() AT TIME ZONE 'utc') - p.started_at)::bigint,"
			 " extract(epoch FROM p.deadline - (now() AT TIME ZONE 'utc'))::bigint"
			 " FROM volmgr_pending_extends p LEFT JOIN volumes v ON v.id = p.volume_id"
			 " WHERE $1::text IS NULL OR p.project_id = $1"
			 " ORDER BY p.started_at LIMIT $2::integer", 2, params, &res);
	if (rc != DB_OK)
		return volctl_db_fail(db, rc);
	json_t *rows = json_array();
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *row = json_object();

		for (int c = 0; c < PQnfields(res); c++) {
			static const char *const keys[] = {
				"volume_id", "project_id", "status", "size", "new_size",
				"instance_uuid", "started_at", "deadline", "age_seconds",
				"deadline_in_seconds",
			};
			const char *v = PQgetvalue(res, i, c);
			bool number = c == 3 || c == 4 || c >= 8;

			json_object_set_new(row, keys[c], PQgetisnull(res, i, c) ? json_null()
					    : number ? json_integer(strtoll(v, NULL, 10))
					    : json_string(v));
		}
		json_array_append_new(rows, row);
	}
	PQclear(res);
	volctl_emit(rows, cols, a->json);
	return VOLCTL_OK;
}

static const struct volctl_opt opts_quota[] = {
	VOLCTL_OPT_STR("--project", project),
	VOLCTL_OPT_FLAG("--all", all),
	VOLCTL_OPT_JSON,
	VOLCTL_OPT_END,
};
static const struct volctl_opt opts_pending[] = {
	VOLCTL_OPT_STR("--project", project),
	VOLCTL_OPT_JSON,
	VOLCTL_OPT_END,
};

const struct volctl_cmd volctl_cmds_quota[] = {
	{ "quota check", "[--project P] [--all] [--json]",
	  "Recomputes every live quota_usages row (of one project, or all) from the tables:\n"
	  "in_use from the live volumes and snapshots that count for quota, exactly as the\n"
	  "reservations do; reserved from the positive deltas of the row's open reservations.\n"
	  "Lists the rows that drifted (--all: every row). Changes nothing.\n"
	  "Exit status: 0 no drift, 3 drift found, 1 failure.",
	  opts_quota, 0, 0, NULL, run_quota_check },
	{ "quota sync", "[--project P] [--all] [--json]",
	  "As quota check, then sets each drifting row to the recomputed values, one row\n"
	  "lock and transaction at a time (safe while the services run).\n"
	  "Exit status: 0 no drift, 3 drift found and repaired, 1 failure.",
	  opts_quota, 0, 0, NULL, run_quota_sync },
	{ "pending list", "[--project P] [--json]",
	  "Lists the extends waiting for compute feedback (volmgr_pending_extends), oldest\n"
	  "first, with their age and the seconds left before the manager rolls them back.",
	  opts_pending, 0, 0, NULL, run_pending_list },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
