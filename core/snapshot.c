/*
 * snapshot.c - snapshots and their metadata, with Cinder's columns, naive UTC timestamps and
 * soft delete (cinder.db.sqlalchemy.api), as core/volume.c does for volumes.
 */
#include "core/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbarray.h"
#include "common/util.h"
#include "core/columns.h"

/* The text columns first, in the order of snap_cols; then volume_size and use_quota. */
#define SNAP_SELECT \
	"SELECT id, volume_id, user_id, project_id, status, progress, display_name," \
	" display_description, volume_type_id, provider_location, group_snapshot_id, " \
	V_TS("created_at") ", " V_TS("updated_at") ", volume_size, use_quota FROM snapshots"

static const struct vol_col snap_cols[] = {
	VOL_COL(struct snap_row, id),
	VOL_COL(struct snap_row, volume_id),
	VOL_COL(struct snap_row, user_id),
	VOL_COL(struct snap_row, project_id),
	VOL_COL(struct snap_row, status),
	VOL_COL(struct snap_row, progress),
	VOL_COL(struct snap_row, display_name),
	VOL_COL(struct snap_row, display_description),
	VOL_COL(struct snap_row, volume_type_id),
	VOL_COL(struct snap_row, provider_location),
	VOL_COL(struct snap_row, group_snapshot_id),
	VOL_COL(struct snap_row, created_at),
	VOL_COL(struct snap_row, updated_at),
};

#define SNAP_NTEXT (int)(sizeof(snap_cols) / sizeof(snap_cols[0]))

static const char snap_sql_get[] = SNAP_SELECT " WHERE id = $1 AND deleted = false";
static const char snap_sql_get_locked[] =
	SNAP_SELECT " WHERE id = $1 AND deleted = false FOR UPDATE";

int snap_get(db_conn *db, const char *id, bool for_update, struct snap_row *out)
{
	const char *p[1] = { id };
	PGresult *r;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_exec(db, for_update ? snap_sql_get_locked : snap_sql_get, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return VOL_NOT_FOUND;
	}
	vol_copy_cols(r, 0, 0, snap_cols, SNAP_NTEXT, out);
	out->volume_size = atoi(PQgetvalue(r, 0, SNAP_NTEXT));
	out->use_quota = PQgetisnull(r, 0, SNAP_NTEXT + 1) ||
			 PQgetvalue(r, 0, SNAP_NTEXT + 1)[0] == 't';
	PQclear(r);
	vol_iso_z(out->created_at, out->created_at_z);
	vol_iso_z(out->updated_at, out->updated_at_z);
	return DB_OK;
}

static const char snap_sql_insert[] =
	"INSERT INTO snapshots (created_at, deleted, id, volume_id, user_id, project_id, status,"
	" progress, volume_size, display_name, display_description, volume_type_id, use_quota)"
	" VALUES (" V_NOW ", false, $1, $2, $3, $4, '" SNAP_S_CREATING "', '0%', $5::integer,"
	" $6, $7, $8, true)";

int snap_insert(db_conn *db, const char *id, const struct vol_row *v, const char *user_id,
		const char *project_id, const char *name, const char *description)
{
	char size[16];
	const char *p[8] = { id, v->id, user_id, project_id, size, name, description,
			     v->volume_type_id };

	snprintf(size, sizeof(size), "%d", v->size);
	return db_exec(db, snap_sql_insert, 8, p, NULL);
}

static const char snap_sql_cas[] =
	"UPDATE snapshots SET status = $2, progress = COALESCE($3, progress),"
	" updated_at = " V_NOW " WHERE id = $1 AND deleted = false"
	" AND ($4::text[] IS NULL OR status = ANY($4::text[]))";

int snap_cas_status(db_conn *db, const char *id, const char *const *from, int nfrom,
		    const char *to, const char *progress)
{
	char list[512];
	struct db_array a;
	const char *p[4] = { id, to, progress, NULL };
	int rc;

	db_array_init(&a, list, sizeof(list));
	for (int i = 0; i < nfrom; i++)
		db_array_add(&a, from[i]);
	if (nfrom > 0 && (p[3] = db_array_text(&a)) == NULL)
		return DB_REJECT;
	rc = vol_update_one(db, snap_sql_cas, 4, p);
	return rc == VOL_NOT_FOUND ? VOL_CONFLICT : rc;
}

static const char snap_sql_mark_created[] =
	"UPDATE snapshots SET status = '" SNAP_S_AVAILABLE "', progress = '100%',"
	" provider_location = $2, updated_at = " V_NOW
	" WHERE id = $1 AND deleted = false AND status = '" SNAP_S_CREATING "'";

int snap_mark_created(db_conn *db, const char *id, const char *location)
{
	const char *p[2] = { id, location };
	int rc = vol_update_one(db, snap_sql_mark_created, 2, p);

	return rc == VOL_NOT_FOUND ? VOL_CONFLICT : rc;
}

static const char snap_sql_cascade_blocked[] =
	"SELECT 1 FROM snapshots WHERE volume_id = $1 AND deleted = false AND"
	" (group_snapshot_id IS NOT NULL OR (NOT $2::boolean AND"
	"  status NOT IN ('" SNAP_S_AVAILABLE "', '" SNAP_S_ERROR "', '" SNAP_S_DELETING "')))"
	" LIMIT 1";
static const char snap_sql_cascade[] =
	"UPDATE snapshots SET status = '" SNAP_S_DELETING "', updated_at = " V_NOW
	" WHERE volume_id = $1 AND deleted = false";

int snap_cascade_deleting(db_conn *db, const char *volume_id, bool force)
{
	const char *p[2] = { volume_id, force ? "t" : "f" };
	PGresult *r;
	int rc = db_exec(db, snap_sql_cascade_blocked, 2, p, &r);

	if (rc != DB_OK)
		return rc;
	rc = PQntuples(r) > 0 ? VOL_CONFLICT : DB_OK;
	PQclear(r);
	return rc == DB_OK ? db_exec(db, snap_sql_cascade, 1, p, NULL) : rc;
}

/* A snapshot that counts for the quota of project $2, as the quota's sync counts it. */
#define SNAP_QUOTA_OF_2 "project_id = $2 AND use_quota IS NOT FALSE"
static const char snap_sql_counts[] =
	"SELECT count(*), count(*) FILTER (WHERE status IS NULL OR status NOT IN ('"
	SNAP_S_AVAILABLE "', '" SNAP_S_ERROR "')), count(*) FILTER (WHERE project_id IS"
	" DISTINCT FROM $2), count(*) FILTER (WHERE " SNAP_QUOTA_OF_2 "), COALESCE(sum("
	"volume_size) FILTER (WHERE " SNAP_QUOTA_OF_2 "), 0) FROM snapshots"
	" WHERE volume_id = $1 AND deleted = false";

int snap_count_of_volume(db_conn *db, const char *volume_id, const char *project_id,
			 struct snap_counts *out)
{
	const char *p[2] = { volume_id, project_id };
	PGresult *r;
	int rc = db_exec(db, snap_sql_counts, 2, p, &r);

	if (rc != DB_OK)
		return rc;
	out->live = atol(PQgetvalue(r, 0, 0));
	out->undeletable = atol(PQgetvalue(r, 0, 1));
	out->other_project = atol(PQgetvalue(r, 0, 2));
	out->quota_count = atol(PQgetvalue(r, 0, 3));
	out->quota_gigabytes = atol(PQgetvalue(r, 0, 4));
	PQclear(r);
	return DB_OK;
}

static const char snap_sql_update_names[] =
	"UPDATE snapshots SET display_name = CASE WHEN $4 THEN $2 ELSE display_name END,"
	" display_description = CASE WHEN $5 THEN $3 ELSE display_description END,"
	" updated_at = " V_NOW " WHERE id = $1 AND deleted = false";

int snap_update_names(db_conn *db, const char *id, const char *name, const char *description)
{
	const char *p[5] = { id, name, description, name != NULL ? "t" : "f",
			     description != NULL ? "t" : "f" };

	return vol_update_one(db, snap_sql_update_names, 5, p);
}

static const char snap_sql_destroy[] =
	"UPDATE snapshots SET status = '" SNAP_S_DELETED "', deleted = true,"
	" deleted_at = " V_NOW " WHERE id = $1 AND deleted = false";
static const char snap_sql_destroy_metadata[] =
	"UPDATE snapshot_metadata SET deleted = true, deleted_at = " V_NOW
	" WHERE snapshot_id = $1 AND deleted = false";

int snap_soft_delete(db_conn *db, const char *id)
{
	const char *p[1] = { id };
	int rc = db_exec(db, snap_sql_destroy, 1, p, NULL);

	return rc == DB_OK ? db_exec(db, snap_sql_destroy_metadata, 1, p, NULL) : rc;
}

static const char snap_sql_of_volume[] =
	"SELECT id FROM snapshots WHERE volume_id = $1 AND deleted = false"
	" ORDER BY created_at DESC, id";

int snap_of_volume(db_conn *db, const char *volume_id, char (*ids)[37], int max, int *n)
{
	const char *p[1] = { volume_id };
	PGresult *r;
	int rc = db_exec(db, snap_sql_of_volume, 1, p, &r);

	*n = 0;
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && *n < max; i++)
		util_strlcpy(ids[(*n)++], PQgetvalue(r, i, 0), 37);
	PQclear(r);
	return DB_OK;
}

int snap_latest(db_conn *db, const char *volume_id, char id[37])
{
	int n;
	int rc = snap_of_volume(db, volume_id, (char (*)[37])id, 1, &n);

	if (rc == DB_OK && n == 0)
		id[0] = '\0';
	return rc;
}

int snap_md_list(db_conn *db, const char *id, struct vol_kv *out, int max, int *n)
{
	return vol_kv_list(db, "SELECT key, value FROM snapshot_metadata"
			   " WHERE snapshot_id = $1 AND deleted = false ORDER BY key",
			   id, out, max, n);
}

/* Cinder's snapshot metadata update, one key. */
static const char snap_sql_md_set[] = V_SQL_KV_SET("snapshot_metadata", "snapshot_id");

int snap_md_set(db_conn *db, const char *id, const char *key, const char *value)
{
	const char *p[3] = { id, key, value };

	return db_exec(db, snap_sql_md_set, 3, p, NULL);
}

int snap_md_delete(db_conn *db, const char *id, const char *key)
{
	const char *p[2] = { id, key };

	return vol_update_one(db, "UPDATE snapshot_metadata SET deleted = true,"
			      " deleted_at = " V_NOW " WHERE snapshot_id = $1 AND key = $2"
			      " AND deleted = false", 2, p);
}

static const char snap_sql_md_delete_others[] =
	"UPDATE snapshot_metadata SET deleted = true, deleted_at = " V_NOW
	" WHERE snapshot_id = $1 AND deleted = false AND NOT (key = ANY($2::text[]))";

int snap_md_delete_others(db_conn *db, const char *id, const char *const *keys, int nkeys)
{
	/* Keys are at most 255 characters of 4 bytes, quoted and escaped. */
	size_t cap = (size_t)nkeys * (2 * 4 * 255 + 3) + 3;
	char *buf = malloc(cap);
	struct db_array a;
	const char *p[2] = { id, NULL };
	int rc = DB_REJECT;

	if (buf == NULL)
		return rc;
	db_array_init(&a, buf, cap);
	for (int k = 0; k < nkeys; k++)
		db_array_add(&a, keys[k]);
	p[1] = db_array_text(&a);
	if (p[1] != NULL)
		rc = db_exec(db, snap_sql_md_delete_others, 2, p, NULL);
	free(buf);
	return rc;
}

void snap_to_proto_fields(const struct snap_row *row, struct proto_snapshot_fields *f)
{
#define NUL(s) ((s)[0] != '\0' ? (s) : NULL)
	memset(f, 0, sizeof(*f));
	f->id = row->id;
	f->user_id = NUL(row->user_id);
	f->project_id = NUL(row->project_id);
	f->volume_id = row->volume_id;
	f->status = row->status;
	f->progress = NUL(row->progress);
	f->volume_size = row->volume_size;
	f->display_name = NUL(row->display_name);
	f->display_description = NUL(row->display_description);
	f->volume_type_id = NUL(row->volume_type_id);
	f->provider_location = NUL(row->provider_location);
	f->use_quota = row->use_quota;
	f->created_at = NUL(row->created_at_z);
	f->updated_at = NUL(row->updated_at_z);
#undef NUL
}
