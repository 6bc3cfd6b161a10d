/*
 * pending_extend.c - the admin metadata and the row of a pending extend (see pending_extend.h).
 */
#include "core/pending_extend.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/volume.h"
#include "proto/names.h"

int pending_extend_parse_reservations(const char *text, char out[][37], int max, int *n)
{
	json_error_t jerr;
	json_t *list = json_loads(text, JSON_DECODE_ANY, &jerr);
	int rc = PENDING_EXTEND_OK;

	*n = 0;
	if (list == NULL)
		return PENDING_EXTEND_NOT_JSON;
	if (!json_is_array(list)) {
		json_decref(list);
		return PENDING_EXTEND_NOT_LIST;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *s = json_string_value(json_array_get(list, i));

		if (s == NULL || strlen(s) > 36 || *n == max) {
			rc = PENDING_EXTEND_BAD_ELEMENT;
			continue;
		}
		memcpy(out[*n], s, strlen(s) + 1);
		(*n)++;
	}
	json_decref(list);
	return rc;
}

int pending_extend_format_reservations(const char *const *uuids, int n, char *out,
				       size_t outlen)
{
	json_t *list = json_array();

	for (int i = 0; list != NULL && i < n; i++)
		if (json_array_append_new(list, json_string(uuids[i])) != 0) {
			json_decref(list);
			list = NULL;
		}
	char *text = list != NULL ? json_dumps(list, 0) : NULL;
	json_decref(list);
	int rc = text != NULL && strlen(text) < outlen ? 0 : -1;
	if (rc == 0)
		memcpy(out, text, strlen(text) + 1);
	free(text);
	return rc;
}

int pending_extend_record(db_conn *db, const char *volume_id, const char *project_id,
			  int new_size, const char *reservations, const char *instance_uuid,
			  int timeout_s)
{
	char size[16], timeout[16];

	snprintf(size, sizeof(size), "%d", new_size);
	snprintf(timeout, sizeof(timeout), "%d", timeout_s);
	const char *params[] = { volume_id, project_id, size, reservations, instance_uuid,
				 timeout };
	return db_exec(db,
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

static const char pending_sql_delete[] = "DELETE FROM volmgr_pending_extends WHERE volume_id = $1";

int pending_extend_clear_keys(db_conn *db, const char *volume_id)
{
	int rc = vol_admin_md_delete(db, volume_id, ADMIN_MD_EXTEND_NEW_SIZE);

	return rc == DB_OK ? vol_admin_md_delete(db, volume_id, ADMIN_MD_EXTEND_RESERVATIONS) : rc;
}

int pending_extend_clear(db_conn *db, const char *volume_id)
{
	const char *params[1] = { volume_id };
	int rc = db_exec(db, pending_sql_delete, 1, params, NULL);

	return rc == DB_OK ? pending_extend_clear_keys(db, volume_id) : rc;
}
