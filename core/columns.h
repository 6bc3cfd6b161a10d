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

/* Runs a statement that changes rows and returns how many it changed (or -1 on failure,
 * with *rc set). */
long vol_exec_count(db_conn *db, const char *sql, int n, const char *const *p, int *rc);

/* Runs an update of one live row: DB_OK, VOL_NOT_FOUND when it matched nothing, or the
 * failure. */
int vol_update_one(db_conn *db, const char *sql, int n, const char *const *p);

/* "YYYY-MM-DDTHH:MM:SS.ffffff" -> "YYYY-MM-DDTHH:MM:SSZ"; "" stays "". */
void vol_iso_z(const char *iso, char out[24]);

/* The key/value pairs sql (one parameter, the owner's id; columns key, value) selects, at
 * most max of them, in *n. */
struct vol_kv;
int vol_kv_list(db_conn *db, const char *sql, const char *owner_id, struct vol_kv *out,
		int max, int *n);

#endif
