/*
 * records.c - SQL for volmgr_notifications, volmgr_pool_stats and volmgr_pending_extends.
 */
#include "manager/records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/util.h"
#include "core/notification.h"
#include "core/settings.h"
#include "manager/mconf.h"

int rec_exec(db_conn *db, const char *sql, int nparams, const char *const *params,
	     long *affected)
{
	PGresult *res = NULL;
	int rc = db_exec(db, sql, nparams, params, &res);
	if (rc == DB_OK && affected != NULL)
		*affected = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return rc;
}

void rec_publisher(char out[REC_PUBLISHER_MAX])
{
	if (notification_enabled())
		snprintf(out, REC_PUBLISHER_MAX, "volume.%s", mconf.service_host);
	else
		out[0] = '\0';
}

/* Queues "<kind>.<suffix>" about id (notification_queue) from this service. */
static int rec_queue(db_conn *db, enum notification_subject subject, const char *suffix,
		     const char *id, const char *status, int size, const char *request_id)
{
	char event[64], publisher[REC_PUBLISHER_MAX];

	snprintf(event, sizeof(event), "%s.%s",
		 subject == NOTIFICATION_SNAPSHOT ? "snapshot" : "volume", suffix);
	rec_publisher(publisher);
	return notification_queue(db, event, publisher, subject, id, status, size, request_id);
}

int rec_notify(db_conn *db, const char *suffix, const struct vol_row *v, const char *status,
	       int size, const char *request_id)
{
	return rec_queue(db, NOTIFICATION_VOLUME, suffix, v->id, status, size, request_id);
}

int rec_notify_snapshot(db_conn *db, const char *suffix, const char *snapshot_id,
			const char *status, const char *request_id)
{
	return rec_queue(db, NOTIFICATION_SNAPSHOT, suffix, snapshot_id, status, 0, request_id);
}

void rec_pool_of(const struct vol_row *v, char host[VOL_TEXT], char pool[VOL_TEXT])
{
	const char *hash = strchr(v->host, '#');

	if (v->host[0] == '\0')
		util_strlcpy(host, mconf.service_host, VOL_TEXT);
	else
		snprintf(host, VOL_TEXT, "%.*s",
			 (int)(hash != NULL ? (size_t)(hash - v->host) : strlen(v->host)), v->host);
	if (hash != NULL && hash[1] != '\0')
		util_strlcpy(pool, hash + 1, VOL_TEXT);
	else
		util_strlcpy(pool, settings.backend[0] != '\0' ? settings.backend : "_pool0",
			     VOL_TEXT);
}

int rec_pool_add(db_conn *db, const struct vol_row *v, long delta)
{
	char host[VOL_TEXT], pool[VOL_TEXT], d[24];

	rec_pool_of(v, host, pool);
	snprintf(d, sizeof(d), "%ld", delta);

	const char *params[] = { host, pool, d };
	return rec_exec(db,
			"INSERT INTO volmgr_pool_stats (host, pool, allocated_capacity_gb) "
			"VALUES ($1, $2, $3::bigint) ON CONFLICT (host, pool) DO UPDATE SET "
			"allocated_capacity_gb = volmgr_pool_stats.allocated_capacity_gb + "
			"EXCLUDED.allocated_capacity_gb",
			3, params, NULL);
}

int rec_pending_postpone(db_conn *db, const char *volume_id, int timeout_s)
{
	char timeout[16];

	snprintf(timeout, sizeof(timeout), "%d", timeout_s);
	const char *params[] = { volume_id, timeout };
	return rec_exec(db,
			"UPDATE volmgr_pending_extends SET deadline = (now() AT TIME ZONE 'utc') + "
			"make_interval(secs => $2::integer) WHERE volume_id = $1",
			2, params, NULL);
}
