/*
 * snapshot.h - the snapshot rows both daemons read and write: snapshots and snapshot_metadata,
 * with Cinder's columns and soft delete (docs/cinder.md §17).
 *
 * Every function runs on the caller's connection, normally inside db_transaction.
 * Status convention: DB_OK, a negative db status, or VOL_NOT_FOUND or VOL_CONFLICT
 * (core/status.h), as core/volume.h.
 */
#ifndef VOLMGR_CORE_SNAPSHOT_H
#define VOLMGR_CORE_SNAPSHOT_H

#include <stdbool.h>
#include "common/db.h"
#include "core/status.h"
#include "core/volume.h"
#include "proto/schema.h"

/* Cinder's SnapshotStatus values volmgr sets. */
#define SNAP_S_CREATING "creating"
#define SNAP_S_AVAILABLE "available"
#define SNAP_S_DELETING "deleting"
#define SNAP_S_DELETED "deleted"
#define SNAP_S_ERROR "error"
#define SNAP_S_ERROR_DELETING "error_deleting"
#define SNAP_S_RESTORING "restoring"
#define SNAP_S_UNMANAGING "unmanaging"

struct snap_row {
	char id[37];
	char volume_id[37];
	char user_id[VOL_STR];
	char project_id[VOL_STR];
	char status[VOL_STATUS_MAX];
	char progress[VOL_TEXT];
	char display_name[VOL_TEXT];
	char display_description[VOL_TEXT];
	char volume_type_id[37];
	char provider_location[VOL_TEXT];
	char group_snapshot_id[37];   /* "" when null */
	char created_at[32];          /* ISO "YYYY-MM-DDTHH:MM:SS.ffffff", "" when null */
	char updated_at[32];
	char created_at_z[24];        /* as a primitive's DateTime, "" when null */
	char updated_at_z[24];
	int volume_size;
	bool use_quota;
};

/* Loads the live snapshot id, locked until the transaction ends with for_update.
 * Returns DB_OK, VOL_NOT_FOUND or a negative db status. */
__attribute__((warn_unused_result))
int snap_get(db_conn *db, const char *id, bool for_update, struct snap_row *out);

/* Inserts snapshot id of volume v in status "creating", progress "0%", volume_size v's size
 * and v's type, for user and project (Cinder's create_snapshot_in_db). */
__attribute__((warn_unused_result))
int snap_insert(db_conn *db, const char *id, const struct vol_row *v, const char *user_id,
		const char *project_id, const char *name, const char *description);

/* Compare-and-swap of the status (updated_at = now) where the live row's status is one of
 * from[0..nfrom) (nfrom 0: any). progress is set too unless NULL. DB_OK, VOL_CONFLICT when
 * no row matched, or a negative status. */
__attribute__((warn_unused_result))
int snap_cas_status(db_conn *db, const char *id, const char *const *from, int nfrom,
		    const char *to, const char *progress);

/* Marks a created snapshot: "creating" becomes "available", progress "100%",
 * provider_location location. VOL_CONFLICT when it is not creating. */
__attribute__((warn_unused_result))
int snap_mark_created(db_conn *db, const char *id, const char *location);

/* For a cascading delete of volume_id: every live snapshot of it goes "deleting" (with
 * force whatever its status, else from available, error or deleting), none that belongs to
 * a group. VOL_CONFLICT, with nothing changed, when one cannot. */
__attribute__((warn_unused_result))
int snap_cascade_deleting(db_conn *db, const char *volume_id, bool force);

/* What a volume's delete and retype need to know of its live snapshots: how many there are,
 * how many are in neither available nor error, how many belong to a project other than
 * project_id, and how many of project_id's count for its quota (use_quota not false) with
 * their summed volume_size. */
struct snap_counts {
	long live, undeletable, other_project, quota_count, quota_gigabytes;
};
__attribute__((warn_unused_result))
int snap_count_of_volume(db_conn *db, const char *volume_id, const char *project_id,
			 struct snap_counts *out);

/* Sets display_name and display_description (NULL leaves a column as it is). */
__attribute__((warn_unused_result))
int snap_update_names(db_conn *db, const char *id, const char *name, const char *description);

/* Soft-deletes the snapshot (status "deleted", deleted_at = now) and its metadata rows. */
__attribute__((warn_unused_result))
int snap_soft_delete(db_conn *db, const char *id);

/* The id of volume_id's newest live snapshot by created_at (Cinder's
 * get_latest_snapshot_for_volume), "" when it has none. */
__attribute__((warn_unused_result))
int snap_latest(db_conn *db, const char *volume_id, char id[37]);

/* The ids of volume_id's live snapshots (at most max), in *n. */
__attribute__((warn_unused_result))
int snap_of_volume(db_conn *db, const char *volume_id, char (*ids)[37], int max, int *n);

/* Snapshot metadata: list (at most max pairs, by key), set (insert or update the live row
 * of key), delete (soft; VOL_NOT_FOUND when key has no live row), and delete of every key
 * not in keys[0..nkeys) (a replace). */
__attribute__((warn_unused_result))
int snap_md_list(db_conn *db, const char *id, struct vol_kv *out, int max, int *n);
__attribute__((warn_unused_result))
int snap_md_set(db_conn *db, const char *id, const char *key, const char *value);
__attribute__((warn_unused_result))
int snap_md_delete(db_conn *db, const char *id, const char *key);
__attribute__((warn_unused_result))
int snap_md_delete_others(db_conn *db, const char *id, const char *const *keys, int nkeys);

/* The Snapshot primitive fields of row (pointers into row). */
void snap_to_proto_fields(const struct snap_row *row, struct proto_snapshot_fields *f);

#endif
