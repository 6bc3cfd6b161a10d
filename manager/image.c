/*
 * image.c - the image service's bytes in the manager (docs/cinder.md §18): copy_volume_to_image
 * uploads a volume to the queued image the API created, reimage writes an image over a
 * volume, and create_volume with request_spec.image_id fills the new volume from its image,
 * as Cinder's volume manager does (raw images only: volmgr converts no format).
 *
 * The transfers run on the consumer's thread inside the handler's transaction, bounded by
 * [glance] image_transfer_timeout (docs/differences.md): the volume's row stays locked while
 * its bytes move, and the messages of other volumes wait for the transfer to end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "core/glance.h"
#include "core/glance_md.h"
#include "core/settings.h"
#include "core/usermsg.h"
#include "manager/handlers.h"
#include "proto/names.h"

#define IMG_ERR_MAX 512
/* The most image properties copied into a volume's image metadata. */
#define IMG_MD_MAX 64

/* Glance's base image properties (its image schema): the others are the image's custom
 * properties, which Cinder copies into the volume's image metadata. */
static const char *const glance_base_props[] = {
	"id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
	"os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "container_format",
	"disk_format", "created_at", "updated_at", "tags", "direct_url", "min_ram", "min_disk",
	"self", "file", "schema", "locations", "stores", NULL,
};

/* The base properties Cinder keeps (volume_utils' IMAGE_ATTRIBUTES). */
static const char *const glance_kept_props[] = {
	"checksum", "container_format", "disk_format", "min_disk", "min_ram", "size", NULL,
};

static bool listed(const char *key, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(key, *list) == 0)
			return true;
	return false;
}

/* A property's value as Cinder's str() writes it into the metadata; NULL for null. The
 * caller frees it. */
static char *img_value_text(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_true(v))
		return strdup("True");
	if (json_is_false(v))
		return strdup("False");
	if (json_is_null(v))
		return NULL;
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/*
 * The volume's image metadata from image (Cinder's get_volume_image_metadata): image_id,
 * image_name, the kept base properties and every custom property that is not null; with
 * replace, the volume's other image metadata goes (a reimage).
 */
static int img_capture_metadata(db_conn *db, const char *volume_id, const json_t *image,
				bool replace)
{
	const char *keys[IMG_MD_MAX];
	char *values[IMG_MD_MAX];
	const char *key;
	json_t *val;
	int n = 0, rc;

	keys[n] = "image_id";
	values[n++] = strdup(glance_str(image, "id", ""));
	if (glance_str(image, "name", "")[0] != '\0') {
		keys[n] = "image_name";
		values[n++] = strdup(glance_str(image, "name", ""));
	}
	json_object_foreach((json_t *)image, key, val) {
		if (n == IMG_MD_MAX)
			break;
		if (listed(key, glance_base_props) && !listed(key, glance_kept_props))
			continue;
		values[n] = img_value_text(val);
		if (values[n] != NULL)
			keys[n++] = key;
	}
	rc = DB_OK;
	for (int i = 0; i < n; i++)
		if (values[i] == NULL)
			rc = DB_REJECT; /* out of memory */
	if (rc == DB_OK)
		rc = gmd_set(db, volume_id, keys, (const char *const *)values, n, replace);
	for (int i = 0; i < n; i++)
		free(values[i]);
	return rc;
}

static const char img_sql_bootable[] =
	"UPDATE volumes SET bootable = true, updated_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1 AND deleted = false";

/*
 * Writes image image_id over v's store: the image must be active, raw and no larger than
 * the volume. On success the volume is bootable and its image metadata is the image's
 * (replacing the old with replace). Returns DB_OK, a negative db status, or JOB_SKIP with
 * err saying why the image could not be written (nothing in the database changed).
 */
static int img_write_volume(db_conn *db, const struct vol_row *v, const char *image_id,
			    bool replace, char *err, size_t errlen)
{
	long long max = (long long)v->size * VOL_GIB, got = 0;
	json_t *image = NULL;
	int fd = -1, rc = JOB_SKIP;

	if (glance_image_show(NULL, image_id, &image, err, errlen) != GLANCE_OK)
		goto out;
	if (strcmp(glance_str(image, "status", ""), "active") != 0) {
		snprintf(err, errlen, "Image %s is not active.", image_id);
		goto out;
	}
	if (strcmp(glance_str(image, "disk_format", ""), "raw") != 0) {
		snprintf(err, errlen, "Image %s is unacceptable: disk format %s: volmgr writes raw "
			 "images only", image_id, glance_str(image, "disk_format", "(none)"));
		goto out;
	}
	if (glance_int(image, "size", 0) > max) {
		snprintf(err, errlen, "Size of specified image %lldGB is larger than volume size "
			 "%dGB.", (glance_int(image, "size", 0) + VOL_GIB - 1) / VOL_GIB, v->size);
		goto out;
	}
	if (job_driver->image_target(v, &fd, err, errlen) != DRV_OK)
		goto out;
	if (glance_image_download(NULL, image_id, fd, max, &got, err, errlen) != GLANCE_OK) {
		close(fd);
		goto out;
	}
	if (job_driver->image_close(v, fd, err, errlen) != DRV_OK)
		goto out;
	rc = img_capture_metadata(db, v->id, image, replace);
	if (rc == DB_OK)
		rc = db_exec(db, img_sql_bootable, 1, (const char *[]){ v->id }, NULL);
	if (rc == DB_OK)
		log_info("Volume %s: image %s written (%lld bytes).", v->id, image_id, got);
out:
	json_decref(image);
	return rc;
}

/* A user message of action for v's project with the request of job. */
static int img_message(db_conn *db, struct job *job, const struct vol_row *v,
		       const char *action, const char *detail)
{
	return usermsg_create(db, v->project_id, job->msg->ctx.request_id, v->id, action, detail,
			      settings.message_ttl);
}

int img_fill_created(db_conn *db, struct job *job, const struct vol_row *v)
{
	const char *image_id = job->args.create_volume.image_id;
	char err[IMG_ERR_MAX];
	int rc;

	if (image_id == NULL)
		return DB_OK;
	rc = img_write_volume(db, v, image_id, false, err, sizeof(err));
	if (rc != JOB_SKIP)
		return rc;
	/* Cinder's create flow: the volume in error, and a user message saying why. */
	log_error("Volume %s: creating it from image %s failed: %s", v->id, image_id, err);
	job_failed(job, "image_error");
	rc = vol_set_status(db, v->id, VOL_S_ERROR, -1);
	if (rc == DB_OK)
		rc = img_message(db, job, v, UMSG_ACTION_COPY_IMAGE_TO_VOLUME,
				 strstr(err, "is larger than volume size") != NULL ?
				 UMSG_DETAIL_NOT_ENOUGH_SPACE_FOR_IMAGE : UMSG_DETAIL_UNKNOWN_ERROR);
	return rc == DB_OK ? JOB_SKIP : rc;
}

/* A string of an image_meta argument (the image's id, its disk format), copied into out
 * ("" when absent or too long). */
static void img_meta_str(const struct pv *image_meta, const char *key, char *out, size_t len)
{
	const struct pv *v = pv_get(image_meta, key);

	out[0] = '\0';
	if (v != NULL && v->type == PV_STR && v->n < len)
		snprintf(out, len, "%.*s", (int)v->n, v->u.s);
}

/* The status an upload leaves: in-use when attached, else available (Cinder's
 * volume_update_status_based_on_attachment). */
static int img_upload_done(db_conn *db, const struct vol_row *v)
{
	static const char *const from[] = { VOL_S_UPLOADING };
	bool attached = strcmp(v->attach_status, VOL_AS_ATTACHED) == 0;
	int rc = vol_cas_status(db, v->id, from, 1, attached ? VOL_S_IN_USE : VOL_S_AVAILABLE,
				NULL);

	return rc == VOL_CONFLICT ? DB_OK : rc;
}

/* Whether image_id is already active with len bytes: the upload of an earlier delivery of
 * the message whose COMMIT was lost, which Glance would refuse to take again (409). */
static bool img_already_uploaded(const char *image_id, long long len)
{
	char err[IMG_ERR_MAX];
	json_t *image = NULL;
	bool done;

	if (glance_image_show(NULL, image_id, &image, err, sizeof(err)) != GLANCE_OK)
		return false;
	done = strcmp(glance_str(image, "status", ""), "active") == 0 &&
	       glance_int(image, "size", -1) == len;
	json_decref(image);
	return done;
}

/* Sends v's bytes to image_id, unless an earlier delivery did. Returns GLANCE_OK, or another
 * status with err set. */
static int img_upload(const struct vol_row *v, const char *image_id, char *err, size_t errlen)
{
	long long len;
	int fd, rc;

	if (job_driver->image_source(v, &fd, &len, err, errlen) != DRV_OK)
		return GLANCE_FAILED;
	if (img_already_uploaded(image_id, len)) {
		log_warning("Volume %s: image %s is already active with its %lld bytes (an earlier "
			    "delivery uploaded it); not sent again", v->id, image_id, len);
		rc = GLANCE_OK;
	} else {
		rc = glance_image_upload(NULL, image_id, fd, len, err, errlen);
	}
	close(fd);
	return rc;
}

/* After a failed upload, Cinder deletes the image while it is still queued or saving: an
 * active one is someone's (a redelivered message of a finished upload). */
static void img_delete_unfinished(const char *image_id)
{
	char err[IMG_ERR_MAX];
	json_t *image = NULL;

	if (glance_image_show(NULL, image_id, &image, err, sizeof(err)) != GLANCE_OK)
		return;
	const char *status = glance_str(image, "status", "");
	if ((strcmp(status, "queued") == 0 || strcmp(status, "saving") == 0) &&
	    glance_image_delete(NULL, image_id, err, sizeof(err)) != GLANCE_OK)
		log_warning("image %s: not deleted after the failed upload: %s", image_id, err);
	json_decref(image);
}

int h_copy_volume_to_image(db_conn *db, struct job *job)
{
	const struct proto_args_copy_volume_to_image *a = &job->args.copy_volume_to_image;
	char err[IMG_ERR_MAX], image_id[37], format[32];
	struct vol_row v;
	int rc;

	rc = job_load_volume(db, job, a->volume_id, VOL_S_UPLOADING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	img_meta_str(a->image_meta, "id", image_id, sizeof(image_id));
	img_meta_str(a->image_meta, "disk_format", format, sizeof(format));
	if (image_id[0] == '\0') {
		snprintf(err, sizeof(err), "image_meta has no id");
		rc = GLANCE_FAILED;
	} else if (format[0] != '\0' && strcmp(format, "raw") != 0) {
		snprintf(err, sizeof(err), "disk format %s: volmgr uploads raw images only", format);
		rc = GLANCE_REFUSED;
	} else {
		rc = img_upload(&v, image_id, err, sizeof(err));
	}
	if (rc == GLANCE_OK) {
		log_info("Volume %s: uploaded to image %s.", v.id, image_id);
		job_outcome(job, "uploaded");
		return img_upload_done(db, &v);
	}
	log_error("Volume %s: upload to image %s failed: %s", v.id, image_id, err);
	job_failed(job, "upload_error");
	img_delete_unfinished(image_id);
	rc = img_message(db, job, &v, UMSG_ACTION_COPY_VOLUME_TO_IMAGE,
			 UMSG_DETAIL_FAILED_TO_UPLOAD_VOLUME);
	return rc == DB_OK ? img_upload_done(db, &v) : rc;
}

int h_copy_volume_to_image_failed(db_conn *db, struct job *job)
{
	struct vol_row v;
	int rc = job_load_volume(db, job, job->args.copy_volume_to_image.volume_id,
				 VOL_S_UPLOADING, &v);

	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	log_error("Volume %s: upload to image failed for good; status restored.", v.id);
	return img_upload_done(db, &v);
}

/* A reimage that failed: status error, previous_status what it was (Cinder's reimage). */
static int img_reimage_error(db_conn *db, const struct vol_row *v)
{
	static const char *const from[] = { VOL_S_DOWNLOADING };
	int rc = vol_cas_status(db, v->id, from, 1, VOL_S_ERROR, VOL_S_DOWNLOADING);

	return rc == VOL_CONFLICT ? DB_OK : rc;
}

int h_reimage(db_conn *db, struct job *job)
{
	const struct proto_args_reimage *a = &job->args.reimage;
	static const char *const from[] = { VOL_S_DOWNLOADING };
	char err[IMG_ERR_MAX], image_id[37];
	struct vol_row v;
	int rc;

	rc = job_load_volume(db, job, a->volume_id, VOL_S_DOWNLOADING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	img_meta_str(a->image_meta, "id", image_id, sizeof(image_id));
	rc = img_write_volume(db, &v, image_id, true, err, sizeof(err));
	if (rc == DB_OK) {
		/* The status the API found, as Cinder's manager puts it back. */
		const char *back = v.previous_status[0] != '\0' ? v.previous_status :
				   VOL_S_AVAILABLE;

		job_outcome(job, "reimaged");
		rc = vol_cas_status(db, v.id, from, 1, back, NULL);
		return rc == VOL_CONFLICT ? DB_OK : rc;
	}
	if (rc != JOB_SKIP)
		return rc;
	log_error("Volume %s: reimage with image %s failed: %s", v.id, image_id, err);
	job_failed(job, "image_error");
	return img_reimage_error(db, &v);
}

int h_reimage_failed(db_conn *db, struct job *job)
{
	struct vol_row v;
	int rc = job_load_volume(db, job, job->args.reimage.volume_id, VOL_S_DOWNLOADING, &v);

	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	log_error("Volume %s: reimage failed for good; status set to %s.", v.id, VOL_S_ERROR);
	return img_reimage_error(db, &v);
}
