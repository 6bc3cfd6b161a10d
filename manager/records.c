/*
 * records.c - SQL for volmgr_notifications, volmgr_pool_stats and volmgr_pending_extends.
 */
#include "manager/records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/util.h"
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
	snprintf(out, REC_PUBLISHER_MAX, "volume.%s", mconf.service_host);
}

int rec_notify(db_conn *db, const char *suffix, const struct vol_row *v, const char *status,
	       int size, const char *request_id)
{
	char event[64], publisher[REC_PUBLISHER_MAX], sz[16];

	snprintf(event, sizeof(event), "volume.%s", suffix);
	snprintf(sz, sizeof(sz), "%d", size);
	rec_publisher(publisher);
	/* The payload comes from the row itself (sql/005_volmgr_usage_payloads.sql): the
	 * group commit builds its payloads with the same query, for a whole batch at once. */
	const char *params[] = { event, publisher, v->id, status, sz, request_id };
	return rec_exec(db,
			"INSERT INTO volmgr_notifications (event_type, publisher_id, priority, "
			"payload, request_id, created_at) "
			"SELECT $1, $2, 'INFO', volmgr_usage_payload($3, $4, $5::integer), $6, "
			"now() AT TIME ZONE 'utc'",
			6, params, NULL);
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
