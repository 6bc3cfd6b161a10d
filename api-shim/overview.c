/*
 * overview.c - what a project has and may have, read only: GET /volumes/summary (Cinder's
 * volumes controller summary, 3.12), GET /limits (Cinder's limits controller with its used
 * limits extension) and GET /os-availability-zone (Cinder's availability zones extension).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/quota.h"
#include "proto/names.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/schedule.h"
#include "api-shim/shim.h"
#include "api-shim/txn.h"
#include "api-shim/view.h"

/* The most distinct metadata pairs a summary lists (volmgr's bound; Cinder has none). */
#define SUMMARY_METADATA_MAX 1000

/* ======================================================================== summary */

/* $1 NULL: every project's (an admin's all_tenants). */
static const char sql_summary[] =
	"SELECT count(*), COALESCE(sum(size), 0) FROM volumes "
	"WHERE NOT deleted AND ($1::text IS NULL OR project_id = $1)";

static const char sql_summary_metadata[] =
	"SELECT DISTINCT m.key, m.value FROM volume_metadata m"
	" JOIN volumes v ON v.id = m.volume_id "
	"WHERE NOT m.deleted AND NOT v.deleted AND ($1::text IS NULL OR v.project_id = $1) "
	"ORDER BY 1, 2 LIMIT $2";

struct summary_req {
	struct txn_ctx t;
	const char *project;          /* NULL: all projects */
	bool with_metadata;
	json_t *reply;
};

/* {key: [value, ...]} of the distinct pairs, as Cinder's get_volume_summary groups them. */
static json_t *summary_metadata(PGresult *res)
{
	json_t *md = json_object();

	for (int i = 0; md != NULL && i < PQntuples(res); i++) {
		const char *key = PQgetvalue(res, i, 0);
		json_t *values = json_object_get(md, key);

		if (values == NULL) {
			values = json_array();
			if (values == NULL || json_object_set_new(md, key, values) != 0)
				goto fail;
		}
		if (json_array_append_new(values, json_string(PQgetvalue(res, i, 1))) != 0)
			goto fail;
	}
	return md;
fail:
	json_decref(md);
	return NULL;
}

static int summary_txn(db_conn *db, void *arg)
{
	struct summary_req *s = arg;
	char max[16];
	const char *params[2] = { s->project, max };
	PGresult *res = NULL;
	json_t *md = NULL;
	int rc;

	snprintf(max, sizeof(max), "%d", SUMMARY_METADATA_MAX);

	json_decref(s->reply);
	s->reply = NULL;
	if (s->with_metadata) {
		rc = db_exec(db, sql_summary_metadata, 2, params, &res);
		if (rc != DB_OK)
			return rc;
		md = summary_metadata(res);
		PQclear(res);
		if (md == NULL)
			return txn_internal(&s->t);
	}
	rc = db_exec(db, sql_summary, 1, params, &res);
	if (rc != DB_OK) {
		json_decref(md);
		return rc;
	}
	s->reply = json_pack("{s:{s:I, s:I}}", "volume-summary",
			     "total_count", (json_int_t)atoll(PQgetvalue(res, 0, 0)),
			     "total_size", (json_int_t)atoll(PQgetvalue(res, 0, 1)));
	PQclear(res);
	if (s->reply != NULL && md != NULL &&
	    json_object_set(json_object_get(s->reply, "volume-summary"), "metadata", md) != 0) {
		json_decref(s->reply);
		s->reply = NULL;
	}
	json_decref(md);
	return s->reply != NULL ? DB_OK : txn_internal(&s->t);
}

void volumes_summary(struct shim_request *r)
{
	struct summary_req s = { .t = { .r = r }, .project = r->auth.project_id,
				 .with_metadata = req_ver_ge(r, 3, 36) };
	bool all = false;

	/* Cinder drops the filters a member may not use, all_tenants among them, and reads
	 * all_tenants for admins only; the other filters change nothing in a summary. */
	if (r->auth.is_admin && req_query_bool(r, "all_tenants", false, &all) != 0)
		return;
	if (all)
		s.project = NULL;
	if (txn_run(&s.t, summary_txn) == 0) {
		req_reply(r, 200, s.reply);
		s.reply = NULL;
	}
	json_decref(s.reply);
}

/* ======================================================================== limits */

/* The quotas Cinder's limits view shows, with the names of their limit and of their usage
 * (volmgr has no backups, so the backup quotas are not among them). */
static const struct limit_name {
	const char *resource;
	const char *max_name;
	const char *used_name;
} limit_names[] = {
	{ QUOTA_RES_VOLUMES, "maxTotalVolumes", "totalVolumesUsed" },
	{ QUOTA_RES_SNAPSHOTS, "maxTotalSnapshots", "totalSnapshotsUsed" },
	{ QUOTA_RES_GIGABYTES, "maxTotalVolumeGigabytes", "totalGigabytesUsed" },
};

#define NLIMITS (sizeof(limit_names) / sizeof(limit_names[0]))

struct limits_req {
	struct txn_ctx t;
	const char *project;
	struct quota_usage_row rows[NLIMITS];
};

static int limits_txn(db_conn *db, void *arg)
{
	struct limits_req *l = arg;
	int rc = DB_OK;

	for (size_t i = 0; rc == DB_OK && i < NLIMITS; i++)
		rc = quota_resource_usage(db, &shim_quota_defaults, l->project,
					  limit_names[i].resource, &l->rows[i]);
	return rc == DB_REJECT ? txn_internal(&l->t) : rc;
}

void limits_show(struct shim_request *r)
{
	struct limits_req l = { .t = { .r = r }, .project = r->auth.project_id };
	json_t *absolute;
	bool ok = true;

	/* From 3.39 an admin may ask for another project's (project_id, or the older
	 * tenant_id); a member's, and any before 3.39, are the caller's own. */
	if (r->auth.is_admin && req_ver_ge(r, 3, 39)) {
		const char *p = req_query(r, "project_id");

		if (p == NULL)
			p = req_query(r, "tenant_id");
		if (p != NULL)
			l.project = p;
	}
	if (strlen(l.project) >= AUTH_ID_MAX) {
		fault_reply(r, 400, "Invalid input received: project id too long");
		return;
	}
	if (txn_run(&l.t, limits_txn) != 0)
		return;
	absolute = json_object();
	for (size_t i = 0; absolute != NULL && i < NLIMITS; i++) {
		ok = ok && json_object_set_new(absolute, limit_names[i].max_name,
					       json_integer(l.rows[i].limit)) == 0;
		ok = ok && json_object_set_new(absolute, limit_names[i].used_name,
					       json_integer(l.rows[i].in_use)) == 0;
	}
	if (absolute == NULL || !ok) {
		json_decref(absolute);
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	req_reply(r, 200, json_pack("{s:{s:[], s:o}}", "limits", "rate", "absolute", absolute));
}

/* ======================================================================== zones */

struct zones_req {
	struct txn_ctx t;
	struct schedule_zone zones[SCHEDULE_ZONES_MAX];
	int n;
};

static int zones_txn(db_conn *db, void *arg)
{
	struct zones_req *z = arg;

	return schedule_zones(db, z->zones, SCHEDULE_ZONES_MAX, &z->n);
}

/* One zone as Cinder's availability zones view shows it. */
static json_t *zones_view(void *arg, int i, bool *skip)
{
	const struct zones_req *z = arg;

	(void)skip; /* every zone is shown */
	return json_pack("{s:s, s:{s:b}}", "zoneName", z->zones[i].name, "zoneState",
			 "available", z->zones[i].available);
}

void availability_zones_list(struct shim_request *r)
{
	struct zones_req *z = malloc(sizeof(*z));

	if (z == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	z->t = (struct txn_ctx){ .r = r };
	if (txn_run(&z->t, zones_txn) == 0)
		view_reply_list(r, "availabilityZoneInfo", z->n, zones_view, z);
	free(z);
}
