/*
 * volume.c - volumes, their metadata, attachments and types, with Cinder's columns, naive
 * UTC timestamps and soft delete (cinder.db.sqlalchemy.api).
 *
 * Cinder sets created_at, deleted and the other defaults from Python, so every insert here
 * names them; an update sets updated_at (SQLAlchemy's onupdate) except a soft delete, which
 * keeps it, as Cinder's delete() does.
 */
#include "core/volume.h"
#include "core/columns.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbarray.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "proto/names.h"

/* Statements are prepared with inferred parameter types: a parameter that appears where no
 * column fixes its type (a select list, IS NULL) carries a cast to the type of its other uses,
 * or the server deduces two types for it. */

void vol_copy_cols(const PGresult *r, int row, int first, const struct vol_col *cols,
			  int ncols, void *dst)
{
	for (int i = 0; i < ncols; i++)
		utf8_strlcpy((char *)dst + cols[i].off, PQgetisnull(r, row, first + i) ? "" :
			     PQgetvalue(r, row, first + i), cols[i].len);
}

static bool vol_bool(const PGresult *r, int row, int col, bool dflt)
{
	return PQgetisnull(r, row, col) ? dflt : PQgetvalue(r, row, col)[0] == 't';
}

/* Runs a statement that changes rows and returns how many it changed (or -1 on failure,
 * with *rc set). */
static long vol_exec_count(db_conn *db, const char *sql, int n, const char *const *p,
			   int *rc)
{
	PGresult *r;
	long count;

	*rc = db_exec(db, sql, n, p, &r);
	if (*rc != DB_OK)
		return -1;
	count = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return count;
}

/* Runs an update of one live row: DB_OK, VOL_NOT_FOUND when it matched nothing, or the
 * failure. */
int vol_update_one(db_conn *db, const char *sql, int n, const char *const *p)
{
	int rc;
	long count = vol_exec_count(db, sql, n, p, &rc);

	if (count < 0)
		return rc;
	return count > 0 ? DB_OK : VOL_NOT_FOUND;
}

/* "YYYY-MM-DDTHH:MM:SS.ffffff" -> "YYYY-MM-DDTHH:MM:SSZ"; "" stays "". */
void vol_iso_z(const char *iso, char out[24])
{
	out[0] = '\0';
	if (strlen(iso) >= 19)
		snprintf(out, 24, "%.19sZ", iso);
}

/* ---- volumes ---- */

/* The text columns first, in the order of vol_row_cols; then size and the booleans. */
#define VOL_COLUMNS \
	"SELECT v.id, v.user_id, v.project_id, v.host, v.cluster_name, v.availability_zone," \
	" v.status, v.previous_status, v.attach_status, v.migration_status, v.display_name," \
	" v.display_description, v.volume_type_id, t.name, " V_TS("v.created_at") ", " \
	V_TS("v.updated_at") ", " V_TS("v.launched_at") ", v.provider_location," \
	" v._name_id, v.snapshot_id, v.source_volid, v.size, v.bootable, v.multiattach," \
	" v.use_quota"
#define VOL_FROM " FROM volumes v LEFT JOIN volume_types t ON t.id = v.volume_type_id"
#define VOL_WHERE " WHERE v.id = $1 AND v.deleted = false"
#define VOL_NCOLUMNS (VOL_NTEXT + 4)

/* The columns of vol_attachment_cols, for an attachment table aliased a. */
#define VOL_ATTACHMENT_COLUMNS \
	"a.id, a.instance_uuid, a.attached_host, a.mountpoint, a.attach_status, a.attach_mode, " \
	V_TS("a.attach_time") ", CASE WHEN coalesce(a.connection_info, '') IN ('', '{}', 'null')" \
	" THEN '' ELSE 't' END"
/* Every live attachment row, whatever its attach_status, oldest first. */
#define VOL_ATTACHMENT_ORDER " ORDER BY a.created_at, a.id"

/*
 * Unlocked, the volume and its attachments come in one statement: one row per attachment, or
 * one row with null attachment columns. Locked, the attachments are read by a second
 * statement once the lock is granted: a statement that waited for the lock re-reads only the
 * volume row, so attachments joined into it would be those from before the transaction it
 * waited for (an attach that just committed would be missed).
 */
static const char vol_sql_get[] =
	VOL_COLUMNS ", " VOL_ATTACHMENT_COLUMNS VOL_FROM
	" LEFT JOIN volume_attachment a ON a.volume_id = v.id AND a.deleted = false"
	VOL_WHERE VOL_ATTACHMENT_ORDER;
/* The type row is on the nullable side of the join, so only the volume is locked. */
static const char vol_sql_get_locked[] = VOL_COLUMNS VOL_FROM VOL_WHERE " FOR UPDATE OF v";
static const char vol_sql_attachments[] =
	"SELECT " VOL_ATTACHMENT_COLUMNS " FROM volume_attachment a"
	" WHERE a.volume_id = $1 AND a.deleted = false" VOL_ATTACHMENT_ORDER;

static const struct vol_col vol_row_cols[] = {
	VOL_COL(struct vol_row, id),
	VOL_COL(struct vol_row, user_id),
	VOL_COL(struct vol_row, project_id),
	VOL_COL(struct vol_row, host),
	VOL_COL(struct vol_row, cluster_name),
	VOL_COL(struct vol_row, availability_zone),
	VOL_COL(struct vol_row, status),
	VOL_COL(struct vol_row, previous_status),
	VOL_COL(struct vol_row, attach_status),
	VOL_COL(struct vol_row, migration_status),
	VOL_COL(struct vol_row, display_name),
	VOL_COL(struct vol_row, display_description),
	VOL_COL(struct vol_row, volume_type_id),
	VOL_COL(struct vol_row, volume_type_name),
	VOL_COL(struct vol_row, created_at),
	VOL_COL(struct vol_row, updated_at),
	VOL_COL(struct vol_row, launched_at),
	VOL_COL(struct vol_row, provider_location),
	VOL_COL(struct vol_row, name_id),
	VOL_COL(struct vol_row, snapshot_id),
	VOL_COL(struct vol_row, source_volid),
};
#define VOL_NTEXT ((int)(sizeof(vol_row_cols) / sizeof(vol_row_cols[0])))

static const struct vol_col vol_attachment_cols[] = {
	VOL_COL(struct vol_attachment, id),
	VOL_COL(struct vol_attachment, instance_uuid),
	VOL_COL(struct vol_attachment, attached_host),
	VOL_COL(struct vol_attachment, mountpoint),
	VOL_COL(struct vol_attachment, attach_status),
	VOL_COL(struct vol_attachment, attach_mode),
	VOL_COL(struct vol_attachment, attach_time),
	VOL_COL(struct vol_attachment, connected),
};
#define VOL_NATTACHMENT ((int)(sizeof(vol_attachment_cols) / sizeof(vol_attachment_cols[0])))

/* Copies the attachments of r, whose attachment columns start at column first, into out;
 * a row whose attachment id is null (the outer join's row of a volume without any) is none. */
static void vol_copy_attachments(const PGresult *r, int first, struct vol_row *out)
{
	out->nattachments = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		if (PQgetisnull(r, i, first))
			continue;
		if (out->nattachments < VOL_MAX_ATTACHMENTS)
			vol_copy_cols(r, i, first, vol_attachment_cols, VOL_NATTACHMENT,
				      &out->attachments[out->nattachments]);
		out->nattachments++;
	}
}

int vol_get(db_conn *db, const char *id, bool for_update, struct vol_row *out)
{
	const char *p[1] = { id };
	PGresult *r;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_exec(db, for_update ? vol_sql_get_locked : vol_sql_get, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return VOL_NOT_FOUND;
	}
	vol_copy_cols(r, 0, 0, vol_row_cols, VOL_NTEXT, out);
	out->size = PQgetisnull(r, 0, VOL_NTEXT) ? 0 : atoi(PQgetvalue(r, 0, VOL_NTEXT));
	out->bootable = vol_bool(r, 0, VOL_NTEXT + 1, false);
	out->multiattach = vol_bool(r, 0, VOL_NTEXT + 2, false);
	out->use_quota = vol_bool(r, 0, VOL_NTEXT + 3, true);
	vol_iso_z(out->created_at, out->created_at_z);
	vol_iso_z(out->updated_at, out->updated_at_z);
	vol_iso_z(out->launched_at, out->launched_at_z);
	if (!for_update) {
		vol_copy_attachments(r, VOL_NCOLUMNS, out);
		PQclear(r);
		return DB_OK;
	}
	PQclear(r);
	rc = db_exec(db, vol_sql_attachments, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	vol_copy_attachments(r, 0, out);
	PQclear(r);
	return DB_OK;
}

/* values as a PostgreSQL array literal for a text[] parameter. Returns 0, or -1 if it does
 * not fit. */
static int vol_text_array(const char *const *values, int n, char *buf, size_t len)
{
	struct db_array a;

	db_array_init(&a, buf, len);
	for (int i = 0; i < n; i++)
		db_array_add(&a, values[i]);
	return db_array_text(&a) != NULL ? 0 : -1;
}

static const char vol_sql_cas_status[] =
	"UPDATE volumes SET status = $2, previous_status = COALESCE($3, previous_status),"
	" updated_at = " V_NOW " WHERE id = $1 AND deleted = false AND status = ANY($4::text[])";

int vol_cas_status(db_conn *db, const char *id, const char *const *from, int nfrom,
		   const char *to, const char *set_previous)
{
	char from_list[2048];
	const char *p[4] = { id, to, set_previous, from_list };
	int rc;
	long count;

	if (nfrom < 1 || vol_text_array(from, nfrom, from_list, sizeof(from_list)) != 0)
		return DB_REJECT;
	count = vol_exec_count(db, vol_sql_cas_status, 4, p, &rc);
	if (count < 0)
		return rc;
	return count > 0 ? DB_OK : VOL_CONFLICT;
}

static const char vol_sql_set_status[] =
	"UPDATE volumes SET status = $2, size = COALESCE($3::integer, size),"
	" updated_at = " V_NOW " WHERE id = $1 AND deleted = false";

int vol_set_status(db_conn *db, const char *id, const char *status, int size)
{
	char sz[16];
	const char *p[3] = { id, status, size >= 0 ? sz : NULL };

	snprintf(sz, sizeof(sz), "%d", size);
	return vol_update_one(db, vol_sql_set_status, 3, p);
}

/* The values Cinder's create flow and scheduler leave on a new volume that volmgr does not
 * take from the caller: use_quota and shared_targets true, replication disabled. */
static const char vol_sql_insert[] =
	"INSERT INTO volumes (created_at, deleted, id, user_id, project_id, host, size,"
	" availability_zone, status, attach_status, scheduled_at, display_name,"
	" display_description, volume_type_id, bootable, multiattach, replication_status,"
	" shared_targets, use_quota, cluster_name, snapshot_id, source_volid)"
	" VALUES (" V_NOW ", false, $1, $2, $3, $4, $5::integer, $6, $12, '"
	VOL_AS_DETACHED "', CASE WHEN $4::varchar IS NULL THEN NULL ELSE " V_NOW " END, $7, $8, $9,"
	" $10::boolean, $11::boolean, 'disabled', true, true, $13, $14, $15)";

int vol_insert(db_conn *db, const struct vol_new *v)
{
	char size[16];
	const char *p[15] = { v->id, v->user_id, v->project_id, v->host, size,
			      v->availability_zone, v->display_name, v->display_description,
			      v->volume_type_id, v->bootable ? "true" : "false",
			      v->multiattach ? "true" : "false",
			      v->status != NULL ? v->status : VOL_S_CREATING, v->cluster_name,
			      v->snapshot_id, v->source_volid };

	snprintf(size, sizeof(size), "%d", v->size);
	return db_exec(db, vol_sql_insert, 15, p, NULL);
}

static const char vol_sql_destroy[] =
	"UPDATE volumes SET status = '" VOL_S_DELETED "', deleted = true, deleted_at = " V_NOW ","
	" terminated_at = " V_NOW ", migration_status = NULL WHERE id = $1 AND deleted = false";

/* The rows Cinder's volume_destroy soft-deletes with the volume (VOLUME_DEPENDENT_MODELS, less
 * the transfers table volmgr does not create). */
static const char *const vol_sql_destroy_dependents[] = {
	"UPDATE volume_metadata SET deleted = true, deleted_at = " V_NOW
	" WHERE volume_id = $1 AND deleted = false",
	"UPDATE volume_admin_metadata SET deleted = true, deleted_at = " V_NOW
	" WHERE volume_id = $1 AND deleted = false",
	"UPDATE snapshots SET deleted = true, deleted_at = " V_NOW
	" WHERE volume_id = $1 AND deleted = false",
	"UPDATE volume_glance_metadata SET deleted = true, deleted_at = " V_NOW
	" WHERE volume_id = $1 AND deleted = false",
	"UPDATE volume_attachment SET deleted = true, deleted_at = " V_NOW
	" WHERE volume_id = $1 AND deleted = false",
};

int vol_soft_delete(db_conn *db, const char *id)
{
	const char *p[1] = { id };
	int rc = vol_update_one(db, vol_sql_destroy, 1, p);

	for (size_t i = 0; rc == DB_OK && i < sizeof(vol_sql_destroy_dependents) /
			   sizeof(vol_sql_destroy_dependents[0]); i++)
		rc = db_exec(db, vol_sql_destroy_dependents[i], 1, p, NULL);
	return rc;
}

static const char vol_sql_mark_created[] =
	"UPDATE volumes SET status = '" VOL_S_AVAILABLE "', launched_at = " V_NOW ","
	" provider_location = COALESCE($2, provider_location), updated_at = " V_NOW
	" WHERE id = $1 AND deleted = false";

int vol_mark_created(db_conn *db, const char *id, const char *provider_location)
{
	const char *p[2] = { id, provider_location };

	return vol_update_one(db, vol_sql_mark_created, 2, p);
}

/* ---- admin metadata and metadata ---- */

static const char vol_sql_admin_md_get[] =
	"SELECT value FROM volume_admin_metadata WHERE volume_id = $1 AND key = $2"
	" AND deleted = false ORDER BY id DESC LIMIT 1";

int vol_admin_md_get(db_conn *db, const char *volume_id, const char *key, char *buf, size_t len)
{
	const char *p[2] = { volume_id, key };
	PGresult *r;
	int rc;

	rc = db_exec(db, vol_sql_admin_md_get, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return VOL_NOT_FOUND;
	}
	utf8_strlcpy(buf, PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0), len);
	PQclear(r);
	return DB_OK;
}

/* Cinder's metadata delete: the live row of the key soft-deleted. */
#define VOL_SQL_MD_DELETE(table) \
	"UPDATE " table " SET deleted = true, deleted_at = " V_NOW \
	" WHERE volume_id = $1 AND key = $2 AND deleted = false"

static int vol_md_write(db_conn *db, const char *sql, const char *volume_id, const char *key,
			const char *value)
{
	const char *p[3] = { volume_id, key, value };

	return db_exec(db, sql, value != NULL ? 3 : 2, p, NULL);
}

int vol_admin_md_set(db_conn *db, const char *volume_id, const char *key, const char *value)
{
	return vol_md_write(db, V_SQL_KV_SET("volume_admin_metadata", "volume_id"), volume_id, key,
			    value);
}

int vol_admin_md_delete(db_conn *db, const char *volume_id, const char *key)
{
	return vol_md_write(db, VOL_SQL_MD_DELETE("volume_admin_metadata"), volume_id, key, NULL);
}

int vol_metadata_set(db_conn *db, const char *volume_id, const char *key, const char *value)
{
	return vol_md_write(db, V_SQL_KV_SET("volume_metadata", "volume_id"), volume_id, key,
			    value);
}

int vol_metadata_delete(db_conn *db, const char *volume_id, const char *key)
{
	return vol_md_write(db, VOL_SQL_MD_DELETE("volume_metadata"), volume_id, key, NULL);
}

int vol_kv_list(db_conn *db, const char *sql, const char *volume_id, struct vol_kv *out,
		int max, int *n)
{
	static const struct vol_col cols[] = { VOL_COL(struct vol_kv, key),
					       VOL_COL(struct vol_kv, value) };
	const char *p[1] = { volume_id };
	PGresult *r;
	int rc;

	*n = 0;
	rc = db_exec(db, sql, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && *n < max; i++)
		vol_copy_cols(r, i, 0, cols, 2, &out[(*n)++]);
	PQclear(r);
	return DB_OK;
}

int vol_admin_md_list(db_conn *db, const char *volume_id, struct vol_kv *out, int max, int *n)
{
	return vol_kv_list(db, "SELECT key, value FROM volume_admin_metadata"
			   " WHERE volume_id = $1 AND deleted = false ORDER BY id",
			   volume_id, out, max, n);
}

int vol_metadata_list(db_conn *db, const char *volume_id, struct vol_kv *out, int max, int *n)
{
	return vol_kv_list(db, "SELECT key, value FROM volume_metadata"
			   " WHERE volume_id = $1 AND deleted = false ORDER BY id",
			   volume_id, out, max, n);
}

/* ---- attachments ---- */

static const char vol_sql_mark_attached[] =
	"UPDATE volumes SET status = '" VOL_S_IN_USE "', attach_status = '" VOL_AS_ATTACHED "',"
	" updated_at = " V_NOW " WHERE id = $1 AND deleted = false";

/* An attachment is attached from the start (the legacy attach, volctl) or reserved (the
 * attachments API), when it has no attach time yet. */
static const char vol_sql_attachment_insert[] =
	"INSERT INTO volume_attachment (created_at, deleted, id, volume_id, attached_host,"
	" instance_uuid, mountpoint, attach_time, attach_mode, attach_status)"
	" VALUES (" V_NOW ", false, $1, $2, $3, $4, $5, CASE WHEN $7::varchar = '"
	VOL_AS_ATTACHED "' THEN " V_NOW " END, $6, $7)";

int vol_attach(db_conn *db, const char *volume_id, const char *instance_uuid,
	       const char *attached_host, const char *mountpoint, const char *mode,
	       char attachment_id[37])
{
	const char *vp[1] = { volume_id };
	const char *ap[7] = { attachment_id, volume_id, attached_host, instance_uuid, mountpoint,
			      mode != NULL ? mode : "rw", VOL_AS_ATTACHED };
	int rc;

	util_uuid4(attachment_id);
	rc = vol_update_one(db, vol_sql_mark_attached, 1, vp);
	if (rc == DB_OK)
		rc = db_exec(db, vol_sql_attachment_insert, 7, ap, NULL);
	if (rc == DB_OK)
		rc = vol_admin_md_set(db, volume_id, ADMIN_MD_ATTACHED_MODE, ap[5]);
	return rc;
}

int vol_attachment_reserve(db_conn *db, const char *volume_id, const char *instance_uuid,
			   const char *mode, char attachment_id[37])
{
	const char *ap[7] = { attachment_id, volume_id, NULL, instance_uuid, NULL, mode,
			      VOL_AS_RESERVED };

	util_uuid4(attachment_id);
	return db_exec(db, vol_sql_attachment_insert, 7, ap, NULL);
}

static const char vol_sql_attachment_volume[] =
	"SELECT volume_id FROM volume_attachment WHERE id = $1 AND deleted = false";

int vol_attachment_volume(db_conn *db, const char *attachment_id, char volume_id[37])
{
	const char *p[1] = { attachment_id };
	PGresult *r;
	int rc = db_exec(db, vol_sql_attachment_volume, 1, p, &r);

	if (rc != DB_OK)
		return rc;
	rc = PQntuples(r) == 0 ? VOL_NOT_FOUND : DB_OK;
	if (rc == DB_OK)
		utf8_strlcpy(volume_id, PQgetvalue(r, 0, 0), 37);
	PQclear(r);
	return rc;
}

static const char vol_sql_attachment_complete[] =
	"UPDATE volume_attachment SET attach_status = '" VOL_AS_ATTACHED "', updated_at = " V_NOW
	" WHERE id = $1 AND deleted = false";
static const char vol_sql_volume_complete[] =
	"UPDATE volumes SET status = '" VOL_S_IN_USE "', attach_status = '" VOL_AS_ATTACHED "',"
	" updated_at = " V_NOW " WHERE id = $1 AND deleted = false";

int vol_attachment_complete(db_conn *db, const char *volume_id, const char *attachment_id)
{
	const char *p[2] = { attachment_id, volume_id };
	int rc = vol_update_one(db, vol_sql_attachment_complete, 1, p);

	return rc == DB_OK ? vol_update_one(db, vol_sql_volume_complete, 1, p + 1) : rc;
}

/*
 * db.volume_detached: the attachment goes (detached, detach time), then the volume's
 * attach_status is the first of its remaining attachments' statuses in alphabetical order
 * (attached < attaching < detaching < reserved), error_* ones ignored, "detached" when none
 * remains; its status follows (in-use for attached, available for detached, else the same
 * word), except that a volume left detached while it migrates or uploads keeps its status.
 */
static const char vol_sql_attachment_detached[] =
	"UPDATE volume_attachment SET attach_status = '" VOL_AS_DETACHED "', detach_time = " V_NOW
	", updated_at = " V_NOW ", deleted = true, deleted_at = " V_NOW
	" WHERE id = $2 AND volume_id = $1 AND deleted = false";
static const char vol_sql_volume_detached[] =
	"UPDATE volumes SET attach_status = s.st, status = CASE WHEN s.st <> '" VOL_AS_DETACHED
	"' OR (coalesce(migration_status, '') = '' AND coalesce(status, '') <> 'uploading')"
	" OR migration_status IN ('success', 'error') THEN CASE s.st WHEN '" VOL_AS_ATTACHED
	"' THEN '" VOL_S_IN_USE "' WHEN '" VOL_AS_DETACHED "' THEN '" VOL_S_AVAILABLE "' ELSE s.st"
	" END ELSE status END, updated_at = " V_NOW
	" FROM (SELECT coalesce((SELECT attach_status FROM volume_attachment WHERE volume_id = $1"
	" AND deleted = false AND attach_status NOT LIKE 'error\\_%' ORDER BY attach_status"
	" LIMIT 1), '" VOL_AS_DETACHED "') AS st) s WHERE id = $1 AND deleted = false"
	" RETURNING volumes.status";

int vol_detached(db_conn *db, const char *volume_id, const char *attachment_id,
		 char status[VOL_STATUS_MAX])
{
	const char *p[2] = { volume_id, attachment_id };
	PGresult *r = NULL;
	int rc = DB_OK;

	if (attachment_id != NULL)
		rc = db_exec(db, vol_sql_attachment_detached, 2, p, NULL);
	if (rc == DB_OK)
		rc = db_exec(db, vol_sql_volume_detached, 1, p, &r);
	if (rc == DB_OK && status != NULL)
		utf8_strlcpy(status, PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "", VOL_STATUS_MAX);
	PQclear(r);
	if (rc == DB_OK)
		rc = vol_admin_md_delete(db, volume_id, ADMIN_MD_ATTACHED_MODE);
	return rc;
}

/* ---- volume types ---- */

#define VOL_SPEC_MIN_SIZE "provisioning:min_vol_size"
#define VOL_SPEC_MAX_SIZE "provisioning:max_vol_size"
#define VOL_SPEC_MULTIATTACH "multiattach"
#define VOL_SPEC_BACKEND_NAME "volume_backend_name"

/* A live type by id, else by name. */
/* The type and its extra specs: one row per spec, or one row with a null key. */
static const char vol_sql_type_find[] =
	"WITH t AS (SELECT id, name FROM volume_types"
	" WHERE (id = $1 OR name = $1) AND deleted = false"
	" ORDER BY (id = $1) DESC, created_at DESC LIMIT 1)"
	" SELECT t.id, t.name, s.key, s.value FROM t"
	" LEFT JOIN volume_type_extra_specs s ON s.volume_type_id = t.id AND s.deleted = false"
	" ORDER BY s.id";

/* A size limit extra spec: its integer value, or -1 when it is not a number (logged). */
static int vol_spec_size(const char *type_name, const char *key, const char *value)
{
	long v;

	if (util_parse_long(value, 0, 2147483647L, &v) != 0) {
		log_warning("volume type %s: extra spec %s=%s is not a size; ignored", type_name,
			    key, value);
		return -1;
	}
	return (int)v;
}

int vol_type_find(db_conn *db, const char *id_or_name, struct vol_type *out)
{
	char lookup[VOL_TEXT];
	const char *p[1] = { lookup };
	PGresult *r;
	int rc;

	/* id_or_name may point into *out (a lookup by out->id), which is cleared below. */
	if (util_strlcpy(lookup, id_or_name, sizeof(lookup)) >= sizeof(lookup))
		return VOL_NOT_FOUND;
	memset(out, 0, sizeof(*out));
	out->min_size = -1;
	out->max_size = -1;
	rc = db_exec(db, vol_sql_type_find, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return VOL_NOT_FOUND;
	}
	util_strlcpy(out->id, PQgetvalue(r, 0, 0), sizeof(out->id));
	utf8_strlcpy(out->name, PQgetvalue(r, 0, 1), sizeof(out->name));
	for (int i = 0; i < PQntuples(r) && !PQgetisnull(r, i, 2); i++) {
		const char *key = PQgetvalue(r, i, 2);
		const char *value = PQgetisnull(r, i, 3) ? "" : PQgetvalue(r, i, 3);

		/* Cinder skips an empty limit ("if min_size and ..."). */
		if (strcmp(key, VOL_SPEC_MIN_SIZE) == 0 && value[0] != '\0')
			out->min_size = vol_spec_size(out->name, key, value);
		else if (strcmp(key, VOL_SPEC_MAX_SIZE) == 0 && value[0] != '\0')
			out->max_size = vol_spec_size(out->name, key, value);
		else if (strcmp(key, VOL_SPEC_MULTIATTACH) == 0)
			out->multiattach = strcmp(value, "<is> True") == 0;
		else if (strcmp(key, VOL_SPEC_BACKEND_NAME) == 0) {
			out->has_backend_name = true;
			utf8_strlcpy(out->backend_name, value, sizeof(out->backend_name));
		}
	}
	PQclear(r);
	return DB_OK;
}

int vol_type_default(db_conn *db, const char *name, struct vol_type *out)
{
	return vol_type_find(db, name != NULL && name[0] != '\0' ? name : DEFAULT_VOLUME_TYPE_NAME,
			     out);
}

static const char vol_sql_type_exists[] =
	"SELECT 1 FROM volume_types WHERE name = $1 AND deleted = false";

static const char vol_sql_type_insert[] =
	"INSERT INTO volume_types (created_at, deleted, id, name, is_public)"
	" VALUES (" V_NOW ", false, $1, $2, true)";

static const char vol_sql_spec_insert[] =
	"INSERT INTO volume_type_extra_specs (created_at, deleted, volume_type_id, key, value)"
	" VALUES (" V_NOW ", false, $1, $2, $3)";

#define VOL_MAX_SPECS 64

int vol_type_create(db_conn *db, const char *name, const char *const *specs, int nspecs,
		    char id[37])
{
	const char *p[2] = { name, NULL };
	PGresult *r;
	int rc;

	if (name == NULL || name[0] == '\0' || nspecs < 0 || nspecs > VOL_MAX_SPECS)
		return DB_REJECT;
	/* Keys are checked before anything is written: "key=value", key unique and non-empty. */
	for (int i = 0; i < nspecs; i++) {
		const char *eq = strchr(specs[i], '=');

		if (eq == NULL || eq == specs[i])
			return DB_REJECT;
		for (int j = 0; j < i; j++)
			if (strncmp(specs[j], specs[i], (size_t)(eq - specs[i]) + 1) == 0)
				return DB_REJECT;
	}
	rc = db_exec(db, vol_sql_type_exists, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) > 0) {
		PQclear(r);
		return DB_DUPLICATE;
	}
	PQclear(r);

	util_uuid4(id);
	p[0] = id;
	p[1] = name;
	rc = db_exec(db, vol_sql_type_insert, 2, p, NULL);
	for (int i = 0; i < nspecs && rc == DB_OK; i++) {
		const char *eq = strchr(specs[i], '=');
		char key[VOL_TEXT];
		const char *sp[3] = { id, key, eq + 1 };

		if ((size_t)(eq - specs[i]) >= sizeof(key))
			return DB_REJECT;
		memcpy(key, specs[i], (size_t)(eq - specs[i]));
		key[eq - specs[i]] = '\0';
		rc = db_exec(db, vol_sql_spec_insert, 3, sp, NULL);
	}
	return rc;
}

/* ---- primitives ---- */

static const char *vol_or_null(const char *s)
{
	return s[0] != '\0' ? s : NULL;
}

void vol_to_proto_fields(const struct vol_row *row, struct proto_volume_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->id = row->id;
	f->user_id = vol_or_null(row->user_id);
	f->project_id = vol_or_null(row->project_id);
	f->host = vol_or_null(row->host);
	f->cluster_name = vol_or_null(row->cluster_name);
	f->size = row->size;
	f->availability_zone = vol_or_null(row->availability_zone);
	f->status = vol_or_null(row->status);
	f->previous_status = vol_or_null(row->previous_status);
	f->attach_status = vol_or_null(row->attach_status);
	f->migration_status = vol_or_null(row->migration_status);
	f->display_name = vol_or_null(row->display_name);
	f->display_description = vol_or_null(row->display_description);
	f->volume_type_id = vol_or_null(row->volume_type_id);
	f->bootable = row->bootable;
	f->multiattach = row->multiattach;
	f->use_quota = row->use_quota;
	f->created_at = vol_or_null(row->created_at_z);
	f->updated_at = vol_or_null(row->updated_at_z);
	f->launched_at = vol_or_null(row->launched_at_z);
}
