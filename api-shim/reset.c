/*
 * reset.c - os-reset_status (cinder.api.contrib.admin_actions VolumeAdminController and
 * the reset schema of cinder.api.schemas.admin_actions, docs/cinder.md §4.4).
 *
 * Besides Cinder's behaviour, a reset away from "extending" releases the pending extend, as the
 * extend-completion spec planned: its reservations are rolled back, both admin-metadata keys
 * removed and volmgr's pending-extend row deleted, in the same transaction as the reset.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/pending_extend.h"
#include "core/quota.h"
#include "core/volume.h"
#include "proto/names.h"
#include "proto/schema.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"

/* cinder.objects.fields.VolumeStatus.ALL, VolumeAttachStatus (attached, detached) and
 * VolumeMigrationStatus.ALL, in Cinder's order (the messages print them). */
const char *const reset_volume_statuses[] = {
	"creating", "available", "deleting", "error", "error_deleting", "error_managing",
	"managing", "attaching", "in-use", "detaching", "maintenance", "restoring-backup",
	"error_restoring", "reserved", "awaiting-transfer", "backing-up", "error_backing-up",
	"error_extending", "downloading", "uploading", "retyping", "extending", NULL,
};
const char *const reset_attach_statuses[] = { VOL_AS_ATTACHED, VOL_AS_DETACHED, NULL };
const char *const reset_migration_statuses[] = {
	"migrating", "error", "success", "completing", "none", "starting", NULL,
};

/* Python's truth value of a JSON value (NULL, as absent, is false). */
static bool py_truthy(const json_t *v)
{
	switch (v != NULL ? json_typeof(v) : JSON_NULL) {
	case JSON_OBJECT:
		return json_object_size(v) > 0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0.0;
	case JSON_TRUE:
		return true;
	case JSON_FALSE:
	case JSON_NULL:
		return false;
	}
	return false;
}

/* format validate_volume_reset_body: at least one of the fields is truthy. */
int reset_check(struct shim_request *r, const char *name, const json_t *params)
{
	static const char *const keys[] = { "status", "attach_status", "migration_status" };

	(void)name;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (py_truthy(json_object_get(params, keys[i])))
			return 0;
	fault_reply(r, 400, "Must specify 'status', 'attach_status' or 'migration_status' for "
		    "update.");
	return -1;
}

/* Reservation uuids of a JSON list text; what cannot be read is not rolled back (logged). */
static int parse_reservations(const char *text, char out[][37], int max)
{
	int n;

	if (pending_extend_parse_reservations(text, out, max, &n) != PENDING_EXTEND_OK)
		log_warning("pending extend: reservations '%s' are not a JSON list of uuids; %d "
			    "rolled back", text, n);
	return n;
}

static const char sql_pending_get[] =
	"SELECT reservations FROM volmgr_pending_extends WHERE volume_id = $1";

/* Rolls back the pending extend's reservations (from the admin metadata and from volmgr's
 * pending-extend row: rolling a reservation back twice is harmless) and removes both. */
static int release_pending_extend(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const char *params[1] = { row->id };
	char text[VOL_TEXT], uuids[2 * PROTO_MAX_RESERVATIONS][37];
	const char *ptrs[2 * PROTO_MAX_RESERVATIONS];
	PGresult *res = NULL;
	int n = 0, rc;

	rc = vol_admin_md_get(db, row->id, ADMIN_MD_EXTEND_RESERVATIONS, text, sizeof(text));
	if (rc == DB_OK)
		n += parse_reservations(text, uuids, PROTO_MAX_RESERVATIONS);
	else if (rc != VOL_NOT_FOUND)
		return txn_fail(&a->t, rc, NULL);
	rc = db_exec(db, sql_pending_get, 1, params, &res);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) > 0)
		n += parse_reservations(PQgetvalue(res, 0, 0), uuids + n, PROTO_MAX_RESERVATIONS);
	PQclear(res);
	for (int i = 0; i < n; i++)
		ptrs[i] = uuids[i];
	if (n > 0) {
		rc = quota_rollback(db, row->project_id, ptrs, n);
		if (rc != DB_OK)
			return rc;
	}
	rc = pending_extend_clear(db, row->id);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	log_info("reset of volume %s released its pending extend (%d reservations rolled "
			 "back)", row->id, n);
	return DB_OK;
}

/* Cinder's _clean_volume_attachment for attach_status "detached": the attachments are
 * detached (soft-deleted) and the attached_mode admin metadata removed. */
static const char sql_detach_all[] =
	"UPDATE volume_attachment SET attach_status = 'detached', "
	"detach_time = now() AT TIME ZONE 'utc', updated_at = now() AT TIME ZONE 'utc', "
	"deleted = true, deleted_at = now() AT TIME ZONE 'utc' "
	"WHERE volume_id = $1 AND NOT deleted";

/* db.volume_update with the given fields; $5 tells whether migration_status is set. */
static const char sql_reset[] =
	"UPDATE volumes SET status = COALESCE($2, status), "
	"attach_status = COALESCE($3, attach_status), "
	"migration_status = CASE WHEN $5::boolean THEN $4 ELSE migration_status END, "
	"updated_at = now() AT TIME ZONE 'utc' WHERE id = $1 AND NOT deleted";

/* Cinder removes the cleanup worker entry of the resource. */
static const char sql_worker_delete[] =
	"DELETE FROM workers WHERE resource_type = 'Volume' AND resource_id = $1";

int reset_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const char *status = action_arg(a, "status")->s;
	const char *attach = action_arg(a, "attach_status")->s;
	const char *migration = action_arg(a, "migration_status")->s;
	const char *params[5];
	int rc;

	if (strcmp(status, VOL_S_DELETING) == 0) {
		fault_reply(a->t.r, 400, "Cannot reset-state to %s", status);
		return TXN_FAULT;
	}
	if (strcmp(status, VOL_S_IN_USE) == 0 && row->nattachments == 0) {
		fault_reply(a->t.r, 400, "Cannot reset-state to in-use because volume does not have "
			    "any attachments.");
		return TXN_FAULT;
	}
	if (strcmp(row->status, VOL_S_EXTENDING) == 0 && status[0] != '\0' &&
	    strcmp(status, VOL_S_EXTENDING) != 0) {
		rc = release_pending_extend(db, a);
		if (rc != DB_OK)
			return rc;
	}
	params[0] = row->id;
	if (strcmp(attach, VOL_AS_DETACHED) == 0) {
		rc = db_exec(db, sql_detach_all, 1, params, NULL);
		if (rc == DB_OK)
			rc = vol_admin_md_delete(db, row->id, ADMIN_MD_ATTACHED_MODE);
		if (rc != DB_OK)
			return txn_fail(&a->t, rc, NULL);
	}
	params[1] = status[0] != '\0' ? status : NULL;
	params[2] = attach[0] != '\0' ? attach : NULL;
	params[3] = migration[0] != '\0' && strcmp(migration, "none") != 0 ? migration : NULL;
	params[4] = migration[0] != '\0' ? "true" : "false";
	rc = db_exec(db, sql_reset, 5, params, NULL);
	if (rc == DB_OK)
		rc = db_exec(db, sql_worker_delete, 1, params, NULL);
	if (rc == DB_OK)
		log_info("volume %s reset: status %s, attach_status %s, migration_status %s", row->id,
			 params[1] ? params[1] : "(unchanged)", params[2] ? params[2] : "(unchanged)",
			 migration[0] != '\0' ? migration : "(unchanged)");
	return rc;
}
