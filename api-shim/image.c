/*
 * image.c - the image actions of a volume (docs/cinder.md §18): its image metadata
 * (os-set_image_metadata, os-unset_image_metadata, os-show_image_metadata, as Cinder's
 * volume_image_metadata extension serves them).
 */
#include <string.h>

#include "common/log.h"
#include "core/glance_md.h"
#include "core/status.h"
#include "core/volume.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"
#include "api-shim/validate.h"

/* Cinder's GlanceMetadataNotFound, a 404. */
static int glance_md_not_found(struct action_ctx *a)
{
	fault_reply(a->t.r, 404, "Glance metadata for volume/snapshot %s cannot be found.",
		    a->volume_id);
	return TXN_FAULT;
}

/* Cinder's volume API refuses to change the metadata of a volume in these statuses;
 * verb is "Updating" or "Deleting". */
static int md_status_check(struct action_ctx *a, const char *verb)
{
	const char *status = a->vol->row.status;

	if (strcmp(status, "maintenance") != 0 && strcmp(status, "uploading") != 0)
		return DB_OK;
	return ACTION_INVALID_VOLUME(a, "%s volume metadata is not allowed for volumes in %s "
				     "status.", verb, status);
}

/* Loads the volume's image metadata into a->vol->imd. */
static int md_load(db_conn *db, struct action_ctx *a)
{
	int rc = gmd_list(db, a->volume_id, a->vol->imd, VIEW_MAX_KV, &a->vol->nimd);

	return rc == DB_OK ? DB_OK : txn_fail(&a->t, rc, a->volume_id);
}

int image_md_set_body(db_conn *db, struct action_ctx *a)
{
	const json_t *md = action_arg(a, "metadata")->j;
	const char *keys[VALIDATE_METADATA_MAX], *values[VALIDATE_METADATA_MAX];
	const char *key;
	json_t *val;
	int n = 0, rc;

	rc = md_status_check(a, "Updating");
	if (rc != DB_OK)
		return rc;
	/* The spec bounded the count (validate_metadata). */
	json_object_foreach((json_t *)md, key, val) {
		keys[n] = key;
		values[n++] = json_string_value(val);
	}
	rc = gmd_set(db, a->volume_id, keys, values, n, false);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, a->volume_id);
	log_info("volume %s: %d image metadata items set", a->volume_id, n);
	return md_load(db, a);
}

int image_md_show_body(db_conn *db, struct action_ctx *a)
{
	int rc = md_load(db, a);

	if (rc == DB_OK && a->vol->nimd == 0)
		return glance_md_not_found(a);
	return rc;
}

int image_md_unset_body(db_conn *db, struct action_ctx *a)
{
	const char *key = action_arg(a, "key")->s;
	int rc = image_md_show_body(db, a);

	if (rc != DB_OK)
		return rc;
	rc = md_status_check(a, "Deleting");
	if (rc != DB_OK)
		return rc;
	rc = gmd_delete(db, a->volume_id, key);
	if (rc == VOL_NOT_FOUND)
		return glance_md_not_found(a);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, a->volume_id);
	log_info("volume %s: image metadata %s removed", a->volume_id, key);
	return DB_OK;
}

void image_md_reply(struct action_ctx *a)
{
	json_t *md = view_kv_object(a->vol->imd, a->vol->nimd);
	json_t *body = md != NULL ? json_pack("{s:o}", "metadata", md) : NULL;

	if (body == NULL) {
		fault_reply(a->t.r, 500, "%s", FAULT_MSG_INTERNAL);
		return;
	}
	req_reply(a->t.r, 200, body);
}
