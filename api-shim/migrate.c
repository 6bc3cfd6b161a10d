/*
 * migrate.c - os-migrate_volume and os-migrate_volume_completion (docs/cinder.md §16.3).
 *
 * os-migrate_volume does Cinder's API side and the checks of Cinder's scheduler (volmgr has
 * none) in one transaction that ends with the migrate_volume cast to the source volume's
 * backend: the destination service must exist, be enabled and up; the volume's conditional
 * update is Cinder's. A publish the broker refuses rolls the update back.
 *
 * os-migrate_volume_completion checks both volumes in its transaction and, after the commit,
 * calls migrate_volume_completion on the source's backend with the destination's row as the
 * second Volume primitive; the call's result is the id the caller keeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/volume.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"
#include "api-shim/schedule.h"

/* ---- os-migrate_volume ---- */

/*
 * Cinder's conditional update of migrate_volume, in one statement on the locked row: status
 * available or in-use, migration_status one of AVAILABLE_MIGRATION_STATUS, not replicated, in
 * no consistency group nor group, no live snapshot, and another backend ($2, compared at the
 * backend level: a volmgr backend has one pool) or, for a cluster migration, another cluster
 * ($3). previous_status takes the status before the update; with lock_volume ($4) an
 * available volume goes to maintenance.
 */
static const char sql_migrate_start[] =
	"UPDATE volumes SET migration_status = 'starting', previous_status = status, "
	"status = CASE WHEN $4::boolean AND status = '" VOL_S_AVAILABLE "' THEN 'maintenance' "
	"ELSE status END, updated_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1 AND NOT deleted AND status IN ('" VOL_S_AVAILABLE "', '" VOL_S_IN_USE "') "
	"AND (migration_status IS NULL OR migration_status IN ('deleting', 'error', 'success')) "
	"AND (replication_status IS NULL OR replication_status IN ('disabled', 'not-capable')) "
	"AND COALESCE(consistencygroup_id, '') = '' AND COALESCE(group_id, '') = '' "
	"AND (CASE WHEN $3::text IS NULL THEN split_part(COALESCE(host, ''), '#', 1) <> $2 "
	"ELSE cluster_name IS DISTINCT FROM $3 END) "
	"AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.volume_id = $1 AND NOT s.deleted) "
	"RETURNING id";

/* Cinder's InvalidHost for a destination that is not a live, enabled service. */
static int no_service(struct action_ctx *a, const char *name)
{
	fault_reply(a->t.r, 400, "Invalid host: No available service named '%s'", name);
	return TXN_FAULT;
}

/* A copy of s in the action's arena, which lives as long as the request; NULL when full. */
static const char *arena_copy(struct action_ctx *a, const char *s)
{
	return pv_arena_strndup(&a->arena, s, strlen(s));
}

/* The name of the single pool of a "<host>@<backend>" service: the backend's. */
static const char *service_pool(const char *service_host)
{
	const char *at = strchr(service_host, '@');

	return at != NULL ? at + 1 : service_host;
}

/* The target of os-migrate_volume: a cluster may be named from 3.16. */
static int migrate_target(struct action_ctx *a, const char **host, const char **cluster)
{
	bool v316 = req_ver_ge(a->t.r, 3, 16);

	return params_cluster_host(a->t.r, action_arg(a, "host")->s,
				   v316 ? action_arg(a, "cluster")->s : NULL, v316, host, cluster);
}

int migrate_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	struct proto_args_migrate_volume *args = &a->rpc.migrate_volume;
	const char *host, *cluster, *params[4];
	char name[VOL_TEXT], dest[2 * VOL_TEXT + 1], *pool;
	PGresult *res = NULL;
	struct schedule_service svc;
	bool found, lock = action_arg(a, "lock_volume")->b, updated;
	int rc;

	if (migrate_target(a, &host, &cluster) != 0)
		return TXN_FAULT;
	/* The service is looked up at the backend level of the name, as Cinder's
	 * extract_host(name, 'backend') does; a pool, when named, must be the backend's. */
	util_strlcpy(name, host != NULL ? host : cluster, sizeof(name));
	pool = strchr(name, '#');
	if (pool != NULL)
		*pool++ = '\0';
	rc = schedule_find_service(db, host != NULL ? name : NULL, host != NULL ? NULL : name,
				   &svc, &found);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	if (!found || (pool != NULL && strcmp(pool, service_pool(svc.host)) != 0))
		return no_service(a, host != NULL ? host : cluster);

	/* Even when a host was named, a service in a cluster makes it a cluster migration. */
	params[0] = row->id;
	params[1] = svc.host;
	params[2] = svc.cluster_name[0] != '\0' ? svc.cluster_name : NULL;
	params[3] = lock ? "true" : "false";
	rc = db_exec(db, sql_migrate_start, 4, params, &res);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, row->id);
	updated = PQntuples(res) > 0;
	PQclear(res);
	if (!updated)
		return ACTION_INVALID_VOLUME(a, "Volume %s status must be available or in-use, must "
					     "not be migrating, have snapshots, be replicated, be "
					     "part of a group and destination host/cluster must be "
					     "different than the current one", row->id);

	/* The scheduler's backend state names the pool: "<host>@<backend>#<pool>". */
	snprintf(dest, sizeof(dest), "%s#%s", svc.host, service_pool(svc.host));
	args->host.host = arena_copy(a, dest);
	args->host.cluster_name = params[2] != NULL ? arena_copy(a, params[2]) : NULL;
	if (args->host.host == NULL || (params[2] != NULL && args->host.cluster_name == NULL))
		return txn_internal(&a->t);
	args->force_host_copy = action_arg(a, "force_host_copy")->b;
	log_info("migrating volume %s from %s to %s (force_host_copy=%s, lock_volume=%s)",
		 row->id, row->host, args->host.host, args->force_host_copy ? "true" : "false",
		 lock ? "true" : "false");
	return DB_OK;
}

/* ---- os-migrate_volume_completion ---- */

static bool migrating(const struct vol_row *row)
{
	return row->migration_status[0] != '\0';
}

int migrate_completion_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *src = &a->vol->row;
	const char *new_id = action_arg(a, "new_volume")->s;
	char expected[VOL_STATUS_MAX];
	int rc;

	if (a->other == NULL && (a->other = malloc(sizeof(*a->other))) == NULL)
		return txn_internal(&a->t);
	rc = vol_get(db, new_id, false, a->other);
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !view_visible(a->t.r, a->other))) {
		fault_volume_not_found(a->t.r, new_id);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, new_id);
	if (!migrating(src) && !migrating(a->other)) {
		/* Cinder detaches the source's attachments and attaches the destination in their
		 * place here (a swap done by the compute service outside any migration). volmgr
		 * moves no attachment outside a migration: an attached source is refused rather
		 * than left attached to a volume the compute host no longer uses. */
		if (src->nattachments == 0 || action_arg(a, "error")->b)
			return DB_OK;
		return ACTION_INVALID_VOLUME(a, "Volume %s is attached and neither it nor volume %s "
					     "is being migrated: volmgr does not move attachments "
					     "outside a migration.", src->id, new_id);
	}
	if (!migrating(src))
		return ACTION_INVALID_VOLUME(a, "Source volume not mid-migration.");
	if (!migrating(a->other))
		return ACTION_INVALID_VOLUME(a, "Destination volume not mid-migration.");
	snprintf(expected, sizeof(expected), "target:%s", src->id);
	if (strcmp(a->other->migration_status, expected) != 0)
		return ACTION_INVALID_VOLUME(a, "Destination has migration_status %s, expected %s.",
					     a->other->migration_status, expected);
	return DB_OK;
}

/* The manager's refusals are Cinder's Invalid exceptions, whose text is the whole message. */
static const char *const completion_400[] = { "InvalidVolume", "InvalidInput", NULL };
static const struct action_failure_map completion_map = { NULL, completion_400, NULL, false };

/* The call's result is the id of the volume the caller keeps. */
static void completion_done(struct action_ctx *a, json_t *result)
{
	if (!json_is_string(result)) {
		log_error("migrate_volume_completion for volume %s: the result is no volume id",
			  a->vol->row.id);
		json_decref(result);
		fault_reply(a->t.r, 500, "%s", FAULT_MSG_INTERNAL);
		return;
	}
	req_reply(a->t.r, 200, json_pack("{s:o}", "save_volume_id", result));
}

void migrate_completion_after(struct action_ctx *a)
{
	struct proto_volume_fields fields;

	if (!migrating(&a->vol->row) && !migrating(a->other)) {
		req_reply(a->t.r, 200, json_pack("{s:s}", "save_volume_id", a->other->id));
		return;
	}
	/* The message is built before action_call returns: fields may live on this stack. */
	vol_to_proto_fields(a->other, &fields);
	a->rpc.migrate_volume_completion.new_volume.fields = &fields;
	a->rpc.migrate_volume_completion.error = action_arg(a, "error")->b;
	log_info("completing the migration of volume %s to %s (error=%s)", a->vol->row.id,
		 a->other->id, a->rpc.migrate_volume_completion.error ? "true" : "false");
	action_call(a, PROTO_M_MIGRATE_VOLUME_COMPLETION, &completion_map, completion_done);
}
