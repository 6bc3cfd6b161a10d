/*
 * records.h - the manager's writes to volmgr's own tables (sql/002_volmgr_tables.sql):
 * volmgr_notifications, volmgr_pool_stats and volmgr_pending_extends.
 *
 * Every function runs inside the caller's transaction and returns DB_OK or a negative
 * db status. Timestamps are naive UTC, as in Cinder's tables.
 */
#ifndef VOLMGR_MANAGER_RECORDS_H
#define VOLMGR_MANAGER_RECORDS_H

#include "common/db.h"
#include "core/volume.h"
#include "manager/mconf.h"

/* Runs sql and discards its result; *affected (may be NULL) gets the row count. */
__attribute__((warn_unused_result))
int rec_exec(db_conn *db, const char *sql, int nparams, const char *const *params,
	     long *affected);

/*
 * Queues a usage notification "volume.<suffix>" for v (docs/cinder.md §2.5, §21) with
 * notification_queue: priority INFO, publisher rec_publisher, the payload of
 * _usage_from_volume as JSON with status and size overridden by the arguments (the values
 * after the change), built by the database function volmgr_usage_payload from v's row.
 */
__attribute__((warn_unused_result))
int rec_notify(db_conn *db, const char *suffix, const struct vol_row *v, const char *status,
	       int size, const char *request_id);

/*
 * Queues a usage notification "snapshot.<suffix>" for the snapshot snapshot_id (Cinder's
 * _usage_from_snapshot, built by volmgr_snapshot_usage_payload), with status the value after
 * the change, or NULL for the row's own. As rec_notify otherwise.
 */
__attribute__((warn_unused_result))
int rec_notify_snapshot(db_conn *db, const char *suffix, const char *snapshot_id,
			const char *status, const char *request_id);

/* The publisher_id of this service's notifications: "volume.<host>@<backend>"; "" when the
 * notification driver is noop, which the group commit's statements (finalize.sql) read as
 * "queue nothing". */
#define REC_PUBLISHER_MAX (MCONF_SERVICE_HOST_MAX + 8)
void rec_publisher(char out[REC_PUBLISHER_MAX]);

/* The pool stats key of v: host is the part of v->host before '#', else this service's
 * "<host>@<backend>"; pool the part after '#', else the backend name, else "_pool0". */
void rec_pool_of(const struct vol_row *v, char host[VOL_TEXT], char pool[VOL_TEXT]);

/* Adds delta GiB to the allocated capacity of v's pool (rec_pool_of), creating the row when
 * missing. */
__attribute__((warn_unused_result))
int rec_pool_add(db_conn *db, const struct vol_row *v, long delta);

/* Moves the deadline of volume_id's pending extend to now + timeout_s seconds (DB_OK when there
 * is none). */
__attribute__((warn_unused_result))
int rec_pending_postpone(db_conn *db, const char *volume_id, int timeout_s);

#endif
