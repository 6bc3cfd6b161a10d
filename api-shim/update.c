/*
 * update.c - actions that change a volume's own attributes, as Cinder's volume API update does
 * (policy volume:update; a volume in maintenance cannot be updated).
 */
#include <string.h>

#include "common/log.h"
#include "core/volume.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"

static const char sql_set_bootable[] =
	"UPDATE volumes SET bootable = $2::boolean, updated_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1 AND NOT deleted";

/* os-set_bootable: the flag alone, in the database; nothing reaches the manager. */
int bootable_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	bool bootable = action_arg(a, "bootable")->b;
	const char *params[] = { row->id, bootable ? "true" : "false" };

	if (strcmp(row->status, "maintenance") == 0)
		return ACTION_INVALID_VOLUME(a, "The volume cannot be updated during maintenance.");
	int rc = db_exec(db, sql_set_bootable, 2, params, NULL);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, row->id);
	log_info("volume %s: bootable set to %s", row->id, params[1]);
	return DB_OK;
}
