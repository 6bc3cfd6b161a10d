/*
 * pending_extend.c - the admin metadata and the row of a pending extend (see pending_extend.h).
 */
#include "core/pending_extend.h"

#include <jansson.h>
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
