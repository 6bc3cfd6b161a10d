/*
 * image.c - the image actions of a volume (docs/cinder.md §18): its image metadata
 * (os-set_image_metadata, os-unset_image_metadata, os-show_image_metadata, as Cinder's
 * volume_image_metadata extension serves them), os-volume_upload_image and os-reimage, and
 * the image a new volume is created from. Every call to the image service runs on the
 * OFFLOAD_IMAGE pool while the request is suspended.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "core/glance.h"
#include "core/glance_md.h"
#include "core/status.h"
#include "core/volume.h"
#include "proto/json.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"
#include "api-shim/image.h"
#include "api-shim/offload.h"
#include "api-shim/shim.h"
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
	if (rc == DB_OK)
		rc = md_load(db, a);
	if (rc != DB_OK)
		return rc;
	/* The spec bounded the body's count (validate_metadata), this the total. */
	if (validate_metadata_total(a->t.r, a->vol->imd, a->vol->nimd, md, false) != 0)
		return TXN_FAULT;
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

/* ======================================================================== image checks */

/* Cinder's volume_utils.check_image_metadata of image for a volume of size GiB: 0, or -1 with
 * its 400 set. */
__attribute__((warn_unused_result))
static int image_check_for_volume(struct shim_request *r, const json_t *image, int size)
{
	const char *id = glance_str(image, "id", "");
	long long bytes = glance_int(image, "size", 0), gib = (bytes + VOL_GIB - 1) / VOL_GIB;
	long long min_disk = glance_int(image, "min_disk", 0);
	long long virtual_gib = (glance_int(image, "virtual_size", 0) + VOL_GIB - 1) / VOL_GIB;

	/* Cinder's volume_utils.check_image_metadata, in its order. */
	if (strcmp(glance_str(image, "status", ""), "active") != 0)
		fault_reply(r, 400, "Invalid input received: Image %s is not active.", id);
	else if (gib > size)
		fault_reply(r, 400, "Invalid input received: Size of specified image %lldGB is "
			    "larger than volume size %dGB.", gib, size);
	else if (size < min_disk)
		fault_reply(r, 400, "Invalid input received: Volume size %dGB cannot be smaller "
			    "than the image minDisk size %lldGB.", size, min_disk);
	else if (virtual_gib > size)
		fault_reply(r, 400, "Image %s is unacceptable: Image virtual size is %lldGB and "
			    "doesn't fit in a volume of size %dGB.", id, virtual_gib, size);
	else
		return 0;
	return -1;
}

/* ======================================================================== os-reimage */

static const struct policy reimage_policy = { "volume:reimage", POLICY_ADMIN_OR_OWNER };
static const struct policy reimage_reserved_policy = { "volume:reimage_reserved",
						       POLICY_ADMIN_OR_OWNER };

const struct policy *reimage_policy_for(const struct action_ctx *a)
{
	return strcmp(a->vol->row.status, VOL_S_RESERVED) == 0 ? &reimage_reserved_policy :
								  &reimage_policy;
}

/* On an OFFLOAD_IMAGE thread: the image the action names. */
static void image_lookup_work(void *arg, bool cancelled)
{
	struct action_ctx *a = arg;

	if (cancelled) {
		a->image_status = GLANCE_FAILED;
		snprintf(a->image_err, sizeof(a->image_err), "the service is stopping");
		return;
	}
	a->image_status = glance_image_show(a->t.r->auth_token, action_arg(a, "image_id")->s,
					    &a->image, a->image_err, sizeof(a->image_err));
}

static void image_looked_up(struct shim_request *r)
{
	action_begin(r->state);
}

void reimage_before(struct action_ctx *a)
{
	if (offload_run(OFFLOAD_IMAGE, a->t.r, image_lookup_work, a, image_looked_up) != 0)
		fault_unavailable(a->t.r, "the image service's queue is full");
}

/* The answer to an image lookup that failed, as Cinder's glance client maps it. */
static int image_lookup_fault(struct action_ctx *a, const char *image_id)
{
	if (a->image_status == GLANCE_NOT_FOUND)
		fault_reply(a->t.r, 404, "Image %s could not be found.", image_id);
	else if (a->image_status == GLANCE_REFUSED)
		fault_reply(a->t.r, 400, "Invalid image metadata. Error: %s", a->image_err);
	else
		fault_unavailable(a->t.r, a->image_err);
	return TXN_FAULT;
}

int reimage_body(db_conn *db, struct action_ctx *a)
{
	static const char *const from[] = { VOL_S_AVAILABLE, VOL_S_ERROR, VOL_S_RESERVED };
	const struct vol_row *row = &a->vol->row;
	const char *image_id = action_arg(a, "image_id")->s;
	bool reserved = action_arg(a, "reimage_reserved")->b;
	int rc;

	if (row->nattachments > 1) {
		fault_reply(a->t.r, 409, "Cannot re-image a volume which is attached to more than "
			    "one server.");
		return TXN_FAULT;
	}
	rc = vol_cas_status(db, row->id, from, reserved ? 3 : 2, VOL_S_DOWNLOADING, row->status);
	if (rc == VOL_CONFLICT)
		return ACTION_INVALID_VOLUME(a, "Volume %s status must be %s, but current status "
					     "is %s.", row->id, reserved ?
					     "available or error or reserved" :
					     "available or error", row->status);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, row->id);
	if (a->image_status != GLANCE_OK)
		return image_lookup_fault(a, image_id);
	if (image_check_for_volume(a->t.r, a->image, row->size) != 0)
		return TXN_FAULT;
	a->rpc.reimage.volume_id = row->id;
	a->rpc.reimage.image_meta = proto_pv_from_json(&a->arena, a->image);
	if (a->rpc.reimage.image_meta == NULL)
		return txn_internal(&a->t);
	log_info("volume %s: reimage with image %s", row->id, image_id);
	return DB_OK;
}

/* ======================================================================== upload */

static const struct policy upload_public_policy = {
	"volume_extension:volume_actions:upload_public", POLICY_ADMIN_API,
};

/* Image properties Cinder never copies from a volume (glance_core_properties), and the
 * namespaces it filters out (GLANCE_RESERVED_NAMESPACES). */
static const char *const core_props[] = {
	"checksum", "container_format", "disk_format", "image_name", "image_id", "min_disk",
	"min_ram", "name", "size", NULL,
};
static const char *const reserved_prefixes[] = { "os_glance", "img_signature", NULL };

static bool upload_copies(const char *key)
{
	for (const char *const *p = core_props; *p != NULL; p++)
		if (strcmp(key, *p) == 0)
			return false;
	for (const char *const *p = reserved_prefixes; *p != NULL; p++)
		if (strncmp(key, *p, strlen(*p)) == 0)
			return false;
	return true;
}

int upload_body(db_conn *db, struct action_ctx *a)
{
	static const char *const from[] = { VOL_S_AVAILABLE, VOL_S_IN_USE };
	const struct vol_row *row = &a->vol->row;
	const struct param_value *visibility = action_arg(a, "visibility");
	/* Without Cinder's enable_force_upload the flag is ignored, as Cinder ignores it. */
	bool force = action_arg(a, "force")->b && api_cfg.enable_force_upload;
	int rc;

	if (visibility->s != NULL && strcmp(visibility->s, "public") == 0 &&
	    !policy_enforce(a->t.r, &upload_public_policy, row->project_id))
		return TXN_FAULT;
	rc = vol_cas_status(db, row->id, from, force ? 2 : 1, VOL_S_UPLOADING, row->status);
	if (rc == VOL_CONFLICT)
		return ACTION_INVALID_VOLUME(a, "Volume %s status must be %s", row->id,
					     force ? "available or in-use" : "available");
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, row->id);
	return md_load(db, a);
}

/* The new image's record (Cinder's image_metadata with the volume's custom image
 * properties merged in). NULL on allocation failure. */
static json_t *upload_image_body(struct action_ctx *a)
{
	const char *cf = action_arg(a, "container_format")->s;
	const char *df = action_arg(a, "disk_format")->s;
	const struct param_value *visibility = action_arg(a, "visibility");
	const struct param_value *protect = action_arg(a, "protected");
	json_t *b = json_pack("{s:s, s:s, s:s}", "name", action_arg(a, "image_name")->s,
			      "container_format", cf != NULL ? cf : "bare",
			      "disk_format", df != NULL ? df : "raw");

	if (b == NULL)
		return NULL;
	/* From 3.1 (Cinder's UPLOAD_IMAGE_PARAMS), visibility and protected are always set. */
	if (req_ver_ge(a->t.r, 3, 1) &&
	    (json_object_set_new(b, "visibility", json_string(visibility->s != NULL ?
							      visibility->s : "private")) != 0 ||
	     json_object_set_new(b, "protected", json_boolean(protect->b)) != 0))
		goto fail;
	for (int i = 0; i < a->vol->nimd; i++) {
		const char *key = a->vol->imd[i].key;

		if (upload_copies(key) && json_object_get(b, key) == NULL &&
		    json_object_set_new(b, key, json_string(a->vol->imd[i].value)) != 0)
			goto fail;
	}
	return b;
fail:
	json_decref(b);
	return NULL;
}

/* On an OFFLOAD_IMAGE thread: the queued image in the image service. */
static void upload_create_work(void *arg, bool cancelled)
{
	struct action_ctx *a = arg;
	json_t *body;

	a->image_status = GLANCE_FAILED;
	if (cancelled) {
		snprintf(a->image_err, sizeof(a->image_err), "the service is stopping");
		return;
	}
	body = upload_image_body(a);
	if (body == NULL) {
		snprintf(a->image_err, sizeof(a->image_err), "out of memory");
		return;
	}
	a->image_status = glance_image_create(a->t.r->auth_token, body, &a->image, a->image_err,
					      sizeof(a->image_err));
	json_decref(body);
}

/* The volume back to the status the upload found, as Cinder rolls it back when the image
 * could not be created. */
static int upload_undo_txn(db_conn *db, void *arg)
{
	static const char *const from[] = { VOL_S_UPLOADING };
	struct action_ctx *a = arg;
	int rc = vol_cas_status(db, a->volume_id, from, 1, a->vol->row.status, NULL);

	return rc == DB_OK || rc == VOL_CONFLICT ? DB_OK : txn_fail(&a->t, rc, a->volume_id);
}

/* Undoes the upload and answers code with reason (the fault of the undo, if it failed). */
static void upload_undo(struct action_ctx *a, unsigned code, const char *reason)
{
	if (txn_run(&a->t, upload_undo_txn) != 0) {
		log_error("volume %s: the status of a failed upload could not be restored",
			  a->volume_id);
		return;
	}
	if (code == 503)
		fault_unavailable(a->t.r, reason);
	else
		fault_reply(a->t.r, code, "%s", reason);
}

/* Cinder's os-volume_upload_image answer. */
static json_t *upload_answer(const struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const json_t *img = a->image;
	/* Glance's fields as it answered them (O?: a missing one is null). */
	json_t *o = json_pack("{s:s, s:o, s:s, s:o, s:i, s:{s:s, s:s}, s:s, s:O?, s:O?, s:O?}",
			      "id", row->id, "updated_at", view_time(row->updated_at),
			      "status", VOL_S_UPLOADING,
			      "display_description", row->display_description[0] != '\0' ?
			      json_string(row->display_description) : json_null(),
			      "size", row->size,
			      "volume_type", "id", row->volume_type_id,
			      "name", row->volume_type_name,
			      "image_id", glance_str(img, "id", ""),
			      "container_format", json_object_get(img, "container_format"),
			      "disk_format", json_object_get(img, "disk_format"),
			      "image_name", json_object_get(img, "name"));

	/* Cinder adds these two when the image service named them (Glance v2 always does). */
	if (o != NULL && json_object_get(img, "protected") != NULL)
		json_object_set(o, "protected", json_object_get(img, "protected"));
	if (o != NULL && json_object_get(img, "visibility") != NULL)
		json_object_set(o, "visibility", json_object_get(img, "visibility"));
	return o != NULL ? json_pack("{s:o}", "os-volume_upload_image", o) : NULL;
}

static void upload_cast_done(struct shim_request *r)
{
	struct action_ctx *a = r->state;
	json_t *answer;

	if (a->send.failed) {
		upload_undo(a, 503, a->send.err);
		return;
	}
	answer = upload_answer(a);
	if (answer == NULL) {
		fault_reply(r, 500, "%s", FAULT_MSG_INTERNAL);
		return;
	}
	log_info("volume %s: uploading to image %s", a->volume_id, glance_str(a->image, "id", ""));
	req_reply(r, 202, answer);
}

static void upload_created(struct shim_request *r)
{
	struct action_ctx *a = r->state;

	if (a->image_status != GLANCE_OK) {
		upload_undo(a, a->image_status == GLANCE_FAILED ? 503 : 400, a->image_err);
		return;
	}
	memset(&a->rpc, 0, sizeof(a->rpc));
	a->rpc.copy_volume_to_image.volume_id = a->volume_id;
	a->rpc.copy_volume_to_image.image_meta = proto_pv_from_json(&a->arena, a->image);
	if (a->rpc.copy_volume_to_image.image_meta == NULL) {
		upload_undo(a, 500, FAULT_MSG_INTERNAL);
		return;
	}
	if (cast_volume_row(r, &a->send, PROTO_M_COPY_VOLUME_TO_IMAGE, &a->vol->row, &a->rpc,
			    upload_cast_done) != 0)
		upload_undo(a, 503, "the copy_volume_to_image cast could not be built");
}

void upload_after(struct action_ctx *a)
{
	if (offload_run(OFFLOAD_IMAGE, a->t.r, upload_create_work, a, upload_created) != 0)
		upload_undo(a, 503, "the image service's queue is full");
}

/* ======================================================================== create */

int image_source_parse(struct shim_request *r, const json_t *vol, struct image_source *src)
{
	const json_t *ref = json_object_get(vol, "imageRef");
	const char *s, *slash;

	/* Cinder's API renames image_id to imageRef. */
	if (ref == NULL)
		ref = json_object_get(vol, "image_id");
	src->id = NULL;
	if (ref == NULL || json_is_null(ref))
		return 0;
	s = json_string_value(ref);
	if (s == NULL) {
		fault_reply(r, 400, "Invalid imageRef provided.");
		return -1;
	}
	/* A reference the compute API made is a URL whose last element is the id. */
	slash = strrchr(s, '/');
	src->id = slash != NULL ? slash + 1 : s;
	return 0;
}

static void source_work(void *arg, bool cancelled)
{
	struct image_source *src = arg;

	if (cancelled) {
		src->status = GLANCE_FAILED;
		return;
	}
	src->status = glance_image_show(src->token, src->id, &src->image, src->err,
					sizeof(src->err));
}

int image_source_lookup(struct shim_request *r, struct image_source *src, req_resume_fn next)
{
	src->token = r->auth_token;
	src->status = GLANCE_FAILED;
	src->image = NULL;
	if (offload_run(OFFLOAD_IMAGE, r, source_work, src, next) != 0) {
		fault_unavailable(r, "the image service's queue is full");
		return -1;
	}
	return 0;
}

int image_source_verdict(struct shim_request *r, struct image_source *src, int size)
{
	int rc = -1;

	/* Cinder's _image_uuid_from_ref answers any failure to find the image alike. */
	if (src->status != GLANCE_OK) {
		log_info("image %s: %s", src->id, src->err);
		fault_reply(r, 400, "Invalid image identifier or unable to access requested "
			    "image.");
	} else {
		rc = image_check_for_volume(r, src->image, size);
	}
	json_decref(src->image);
	src->image = NULL;
	return rc;
}
