/*
 * columns.h - copying the text columns of a result row into the fixed buffers of a struct,
 * shared by the row modules of core (volume.c, snapshot.c) so that each table declares its
 * columns as a list instead of copying them one by one.
 */
#ifndef VOLMGR_CORE_COLUMNS_H
#define VOLMGR_CORE_COLUMNS_H

#include <stddef.h>
#include <libpq-fe.h>
#include "common/db.h"

/* A text column of a result copied into a fixed buffer of a struct. */
struct vol_col {
	size_t off;
	size_t len;
};
#define VOL_COL(type, field) { offsetof(type, field), sizeof(((type *)0)->field) }

/* Copies columns first .. first + ncols - 1 of a row into the fields cols name (NULL as "",
 * a longer value cut at a character boundary). */
void vol_copy_cols(const PGresult *r, int row, int first, const struct vol_col *cols,
		   int ncols, void *dst);

/* Cinder's naive UTC timestamps, and a timestamp column as text. */
#define V_NOW "(now() AT TIME ZONE 'utc')"
#define V_TS(col) "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"

/*
 * The upsert of a key/value table (volume and admin metadata, image metadata, snapshot
 * metadata, extra specs) whose owner column is owner: $1 the owner, $2 the key, $3 the value.
 * The live row of the key takes the value, its updated_at only when the value changes (as
 * Cinder's ORM writes only changed columns); without one a row is inserted.
 */
#define V_SQL_KV_SET(table, owner) \
	"WITH upd AS (UPDATE " table " SET value = $3, updated_at = " V_NOW \
	"  WHERE " owner " = $1 AND key = $2 AND deleted = false AND value IS DISTINCT FROM $3)" \
	" INSERT INTO " table " (created_at, deleted, " owner ", key, value)" \
	" SELECT " V_NOW ", false, $1::varchar, $2::varchar, $3::varchar" \
	" WHERE NOT EXISTS (SELECT 1 FROM " table \
	"  WHERE " owner " = $1 AND key = $2 AND deleted = false)"

/* Runs an update of one live row: DB_OK, VOL_NOT_FOUND when it matched nothing, or the
 * failure. */
__attribute__((warn_unused_result))
int vol_update_one(db_conn *db, const char *sql, int n, const char *const *p);

/* "YYYY-MM-DDTHH:MM:SS.ffffff" -> "YYYY-MM-DDTHH:MM:SSZ"; "" stays "". */
void vol_iso_z(const char *iso, char out[24]);

#endif
