/*
 * glance_md.c - the rows of volume_glance_metadata (see glance_md.h), with Cinder's columns,
 * naive UTC timestamps and soft delete.
 */
#include "core/glance_md.h"

#include <stdlib.h>

#include "common/dbarray.h"
#include "core/columns.h"
#include "core/status.h"

static const char gmd_sql_list[] =
	"SELECT key, value FROM volume_glance_metadata"
	" WHERE volume_id = $1 AND deleted = false ORDER BY id";

/* Cinder's table has no unique key: the update of a live row, else one insert. */
static const char gmd_sql_set[] = V_SQL_KV_SET("volume_glance_metadata", "volume_id");

/* Cinder's delete keeps updated_at as it was. */
static const char gmd_sql_delete_others[] =
	"UPDATE volume_glance_metadata SET deleted = true, deleted_at = " V_NOW
	" WHERE volume_id = $1 AND deleted = false AND NOT (key = ANY ($2::varchar[]))";

static const char gmd_sql_delete[] =
	"UPDATE volume_glance_metadata SET deleted = true, deleted_at = " V_NOW
	" WHERE volume_id = $1 AND key = $2 AND deleted = false";

int gmd_list(db_conn *db, const char *volume_id, struct vol_kv *out, int max, int *n)
{
	return vol_kv_list(db, gmd_sql_list, volume_id, out, max, n);
}

int gmd_set(db_conn *db, const char *volume_id, const char *const *keys,
	    const char *const *values, int n, bool replace)
{
	int rc = DB_OK;

	if (replace) {
		/* Each key is at most VOL_TEXT bytes, doubled at worst by escaping. */
		size_t cap = (size_t)n * (2 * VOL_TEXT + 3) + 3;
		char *buf = malloc(cap);
		struct db_array keep;
		const char *p[2] = { volume_id, NULL };

		if (buf == NULL)
			return DB_REJECT;
		db_array_init(&keep, buf, cap);
		for (int i = 0; i < n; i++)
			db_array_add(&keep, keys[i]);
		p[1] = db_array_text(&keep);
		rc = p[1] != NULL ? db_exec(db, gmd_sql_delete_others, 2, p, NULL) : DB_REJECT;
		free(buf);
	}
	for (int i = 0; rc == DB_OK && i < n; i++) {
		const char *p[3] = { volume_id, keys[i], values[i] };

		rc = db_exec(db, gmd_sql_set, 3, p, NULL);
	}
	return rc;
}

int gmd_delete(db_conn *db, const char *volume_id, const char *key)
{
	const char *p[2] = { volume_id, key };
	PGresult *r;
	int rc = db_exec(db, gmd_sql_delete, 2, p, &r);

	if (rc != DB_OK)
		return rc;
	rc = atoi(PQcmdTuples(r)) > 0 ? DB_OK : VOL_NOT_FOUND;
	PQclear(r);
	return rc;
}
