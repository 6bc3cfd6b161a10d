/*
 * records.c - SQL for volmgr_notifications, volmgr_pool_stats and volmgr_pending_extends.
 */
#include "manager/records.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/util.h"
#include "manager/mconf.h"

#define REC_METADATA_MAX 64

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

/* A JSON string, or null for "" (the row's way of saying NULL). */
static json_t *rec_str(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *rec_attachments(const struct vol_row *v)
{
	json_t *list = json_array();
	int n = v->nattachments < VOL_MAX_ATTACHMENTS ? v->nattachments : VOL_MAX_ATTACHMENTS;

	for (int i = 0; list != NULL && i < n; i++) {
		const struct vol_attachment *a = &v->attachments[i];
		json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
				      "id", a->id, "volume_id", v->id,
				      "instance_uuid", rec_str(a->instance_uuid),
				      "attached_host", rec_str(a->attached_host),
				      "mountpoint", rec_str(a->mountpoint),
				      "attach_status", rec_str(a->attach_status),
				      "attach_mode", rec_str(a->attach_mode),
				      "attach_time", rec_str(a->attach_time));
		if (o == NULL || json_array_append_new(list, o) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

/* The volume's metadata as Cinder's notification lists it: [{"key": k, "value": v}, ...]. */
static int rec_metadata(db_conn *db, const char *volume_id, json_t **out)
{
	/* About 130 KiB: on the heap, not on a consumer thread's stack. */
	struct vol_kv *kv = malloc(REC_METADATA_MAX * sizeof(*kv));
	int n = 0;
	if (kv == NULL)
		return DB_REJECT;
	int rc = vol_metadata_list(db, volume_id, kv, REC_METADATA_MAX, &n);
	if (rc != DB_OK) {
		free(kv);
		return rc;
	}
	json_t *list = json_array();
	for (int i = 0; list != NULL && i < n; i++) {
		json_t *o = json_pack("{s:s, s:s}", "key", kv[i].key, "value", kv[i].value);
		if (o == NULL || json_array_append_new(list, o) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	free(kv);
	*out = list;
	return DB_OK;
}

int rec_notify(db_conn *db, const char *suffix, const struct vol_row *v, const char *status,
	       int size, const char *request_id)
{
	char now[32], event[64], publisher[MCONF_SERVICE_HOST_MAX + 8];
	json_t *metadata = NULL;
	int rc;

	util_now_iso(now);
	snprintf(event, sizeof(event), "volume.%s", suffix);
	snprintf(publisher, sizeof(publisher), "volume.%s", mconf.service_host);
	rc = rec_metadata(db, v->id, &metadata);
	if (rc != DB_OK)
		return rc;
	json_t *payload = json_pack(
		"{s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:s, s:s, s:s, s:n, s:i, s:n, s:n, s:n,"
		" s:o, s:o}",
		"tenant_id", v->project_id, "host", rec_str(v->host), "user_id", v->user_id,
		"availability_zone", rec_str(v->availability_zone), "volume_id", v->id,
		"volume_type", rec_str(v->volume_type_id),
		"display_name", rec_str(v->display_name),
		"launched_at", v->launched_at[0] != '\0' ? v->launched_at : now,
		"created_at", v->created_at[0] != '\0' ? v->created_at : now,
		"status", status, "snapshot_id", "size", size,
		"replication_status", "replication_extended_status", "replication_driver_data",
		"metadata", metadata != NULL ? metadata : json_array(),
		"volume_attachment", rec_attachments(v));
	char *text = payload != NULL ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	if (text == NULL)
		return DB_REJECT;   /* out of memory: retrying the message later cannot hurt */

	const char *params[] = { event, publisher, "INFO", text, request_id };
	rc = rec_exec(db,
		      "INSERT INTO volmgr_notifications (event_type, publisher_id, priority, "
		      "payload, request_id, created_at) "
		      "VALUES ($1, $2, $3, $4, $5, now() AT TIME ZONE 'utc')",
		      5, params, NULL);
	free(text);
	return rc;
}

int rec_pool_add(db_conn *db, const struct vol_row *v, long delta)
{
	char host[VOL_TEXT], pool[VOL_TEXT], d[24];
	const char *hash = strchr(v->host, '#');

	if (v->host[0] == '\0')
		util_strlcpy(host, mconf.service_host, sizeof(host));
	else
		snprintf(host, sizeof(host), "%.*s",
			 (int)(hash != NULL ? (size_t)(hash - v->host) : strlen(v->host)), v->host);
	if (hash != NULL && hash[1] != '\0')
		util_strlcpy(pool, hash + 1, sizeof(pool));
	else
		util_strlcpy(pool, cfg_common.backend[0] != '\0' ? cfg_common.backend : "_pool0",
			     sizeof(pool));
	snprintf(d, sizeof(d), "%ld", delta);

	const char *params[] = { host, pool, d };
	return rec_exec(db,
			"INSERT INTO volmgr_pool_stats (host, pool, allocated_capacity_gb) "
			"VALUES ($1, $2, $3::bigint) ON CONFLICT (host, pool) DO UPDATE SET "
			"allocated_capacity_gb = volmgr_pool_stats.allocated_capacity_gb + "
			"EXCLUDED.allocated_capacity_gb",
			3, params, NULL);
}

int rec_pending_insert(db_conn *db, const struct vol_row *v, int new_size,
		       const char *reservations, const char *instance_uuid, int timeout_s)
{
	char size[16], timeout[16];

	snprintf(size, sizeof(size), "%d", new_size);
	snprintf(timeout, sizeof(timeout), "%d", timeout_s);
	const char *params[] = { v->id, v->project_id, size, reservations, instance_uuid, timeout };
	return rec_exec(db,
			"INSERT INTO volmgr_pending_extends (volume_id, project_id, new_size, "
			"reservations, instance_uuid, started_at, deadline) "
			"VALUES ($1, $2, $3::integer, $4, $5, now() AT TIME ZONE 'utc', "
			"(now() AT TIME ZONE 'utc') + make_interval(secs => $6::integer)) "
			"ON CONFLICT (volume_id) DO UPDATE SET project_id = EXCLUDED.project_id, "
			"new_size = EXCLUDED.new_size, reservations = EXCLUDED.reservations, "
			"instance_uuid = EXCLUDED.instance_uuid, started_at = EXCLUDED.started_at, "
			"deadline = EXCLUDED.deadline",
			6, params, NULL);
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
