/*
 * volumes.c - the volume routes: create, show, list and delete (Cinder's v3 volumes
 * controller and its volume API), and manage (Cinder's volume manage extension), which is a
 * create whose row starts "managing" on the service the request names and whose cast is
 * manage_existing. Backend choice is schedule.c's, the list query listing.c's, the argument
 * checks validate.c's.
 *
 * Create casts create_volume straight to the backend schedule_pick_backend finds (of the
 * name the type's volume_backend_name asks for, as Cinder's capabilities filter does). With no
 * live backend the volume is created in status "error" with the user message Cinder's
 * scheduler would leave, and the answer is still 202, as Cinder's API answers before its
 * scheduler fails.
 *
 * Create is the one cast that cannot be published inside the transaction that makes its row:
 * the manager could take the message before the commit and find no volume (an inserted row
 * is invisible until then, whereas an updated row stays locked, so the manager's SELECT ...
 * FOR UPDATE waits for the commit). So create commits the volume and its quota first, then
 * publishes, and when the publish fails it undoes the volume (soft-deleted, quota given back,
 * as Cinder's create flow reverts) and answers 503, unless the manager already took the cast
 * (an unconfirmed publish may still have been delivered): then the create stands, 202.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "core/notification.h"
#include "core/quota.h"
#include "core/settings.h"
#include "core/snapshot.h"
#include "core/usermsg.h"
#include "core/volume.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/cast.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/image.h"
#include "api-shim/listing.h"
#include "api-shim/policy.h"
#include "api-shim/schedule.h"
#include "api-shim/shim.h"
#include "api-shim/snapshots.h"
#include "api-shim/txn.h"
#include "api-shim/validate.h"
#include "api-shim/view.h"
#include "proto/json.h"
#include "api-shim/vtype.h"

/* The cast arguments Cinder's API sends for a create: it lets the scheduler reschedule it. */
static const union proto_args create_args = { .create_volume = { .allow_reschedule = true } };
static const struct policy delete_policy = { "volume:delete", POLICY_ADMIN_OR_OWNER };
static const struct policy force_delete_policy = { "volume:force_delete", POLICY_ADMIN_API };

/* ======================================================================== create */

/* Room for the reference a manage casts: a small JSON object. */
#define CREATE_ARENA_CAP (64 * 1024)

/* Soft-deletes a volume and gives its quota back (volumes -1, gigabytes -size and their
 * per-type forms, reserved and committed at once, as Cinder's delete does for a volume that
 * never reached a backend). Returns DB_OK or a core/db status. */
static int release_volume(db_conn *db, const struct vol_row *row)
{
	struct quota_delta q[QUOTA_VOLUME_DELTAS];
	struct quota_over over;
	int n, rc;

	/* Unlike Cinder, also for a volume whose manage failed: its API committed volumes 1
	 * (docs/differences.md). */
	if (row->use_quota) {
		n = quota_volume_deltas(row->volume_type_name, -1, -row->size, q);
		rc = quota_reserve_and_commit(db, &shim_quota_defaults, row->project_id, q, n,
					      &over);
		if (rc != DB_OK)
			return rc;
	}
	return vol_soft_delete(db, row->id);
}

struct create_req {
	struct txn_ctx t;            /* first: the transaction's argument */
	int size;
	const char *name;
	const char *description;
	const char *type_name;
	const char *az;
	const json_t *metadata;      /* an object, or NULL */
	bool multiattach;
	struct vol_full *vol;        /* the new volume, for the reply */
	json_t *reply;
	char id[37];
	char host[VOL_STR];          /* "" when no backend was found */
	bool stands;                 /* the undo found the volume taken by the manager */
	json_t *body;                /* the request's body, which the fields above point into */
	struct cast_send send;       /* the create_volume cast, after the commit */
	/* A manage (POST os-volume-manage): the row is "managing" and the cast manage_existing
	 * carries ref. */
	bool manage;
	bool bootable;
	const char *host_arg;        /* the host or cluster named (one is NULL) */
	const char *cluster_arg;
	char cluster[VOL_TEXT];      /* the service's cluster, "" when none */
	struct param_value arg[PARAMS_MAX];
	struct pv_arena arena;       /* room for the ref the cast carries */
	struct image_source image;   /* the image it is created from (image.h) */
	struct create_source src;    /* the snapshot or volume it is created from */
};

/* The status a new row has until its manager takes it. */
static const char *create_pending_status(const struct create_req *c)
{
	return c->manage ? VOL_S_MANAGING : VOL_S_CREATING;
}

/* Sources volmgr cannot create from. */
static const char *const unsupported_sources[] = {
	"consistencygroup_id", "backup_id", "group_id", NULL,
};

static int create_schema(struct shim_request *r, const json_t *body, struct create_req *c)
{
	static const char *const top_keys[] = { "volume", "OS-SCH-HNT:scheduler_hints", NULL };
	static const char *const string_fields[] = {
		"name", "description", "display_name", "display_description", NULL,
	};
	const json_t *vol, *v;

	if (validate_object(r, NULL, body) != 0)
		return -1;
	vol = json_object_get(body, "volume");
	if (vol != NULL && validate_object(r, "volume", vol) != 0)
		return -1;
	if (validate_required(r, NULL, body, (const char *const[]){ "volume", NULL }) != 0 ||
	    validate_no_extra(r, NULL, body, top_keys) != 0)
		return -1;
	for (const char *const *f = string_fields; *f != NULL; f++) {
		v = json_object_get(vol, *f);
		if (v != NULL && validate_name(r, *f, v) != 0)
			return -1;
	}
	v = json_object_get(vol, "volume_type");
	if (v != NULL && validate_string_or_null(r, "volume_type", v,
						 VALIDATE_NAME_MAX_CHARS) != 0)
		return -1;
	c->metadata = json_object_get(vol, "metadata");
	if (validate_metadata(r, "metadata", c->metadata) != 0)
		return -1;
	v = json_object_get(vol, "size");
	if (v != NULL && validate_volume_size(r, "size", v, true, &c->size) != 0)
		return -1;
	if (v == NULL)
		c->size = -1;
	v = json_object_get(vol, "availability_zone");
	if (v != NULL && validate_availability_zone(r, "availability_zone", v) != 0)
		return -1;
	if (validate_boolean(r, "multiattach", json_object_get(vol, "multiattach"), true,
			     &c->multiattach) != 0)
		return -1;
	for (const char *const *f = unsupported_sources; *f != NULL; f++) {
		v = json_object_get(vol, *f);
		if (v != NULL && !json_is_null(v)) {
			fault_reply(r, 400, "Invalid input received: creating a volume from %s is "
				    "not supported.", *f);
			return -1;
		}
	}
	if (image_source_parse(r, vol, &c->image) != 0 ||
	    snapshots_create_source_schema(r, vol, &c->src) != 0)
		return -1;
	/* Cinder's check_exclusive_options, which names every source it weighs. */
	if ((c->image.id != NULL) + (c->src.snapshot_id != NULL) +
	    (c->src.source_volid != NULL) > 1) {
		fault_reply(r, 400, "Invalid input received: May specify only one of backup, "
			    "imageRef, snapshot, source volume");
		return -1;
	}
	if (c->size < 0 && c->src.snapshot_id == NULL && c->src.source_volid == NULL) {
		fault_reply(r, 400, "Invalid input received: Volume size 'None' must be an integer "
			    "and greater than 0");
		return -1;
	}
	/* Cinder maps name/description onto display_name/display_description. */
	c->name = json_string_value(json_object_get(vol, "name"));
	if (json_object_get(vol, "name") == NULL)
		c->name = json_string_value(json_object_get(vol, "display_name"));
	c->description = json_string_value(json_object_get(vol, "description"));
	if (json_object_get(vol, "description") == NULL)
		c->description = json_string_value(json_object_get(vol, "display_description"));
	c->type_name = json_string_value(json_object_get(vol, "volume_type"));
	c->az = json_string_value(json_object_get(vol, "availability_zone"));
	if (c->metadata != NULL && json_is_null(c->metadata))
		c->metadata = NULL;
	return 0;
}

static const char sql_metadata_insert[] =
	"INSERT INTO volume_metadata (created_at, updated_at, deleted, volume_id, key, value) "
	"VALUES (now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, $1, $2, $3)";

/* Quota for a new volume (Cinder's QuotaReserveTask): the per-volume limit, then volumes and
 * gigabytes with their per-type forms, reserved and committed at once. */
static int create_quota(db_conn *db, struct create_req *c, const struct vol_type *type)
{
	struct shim_request *r = c->t.r;
	struct quota_delta d[QUOTA_VOLUME_DELTAS];
	struct quota_over over;
	int n, rc;
	long limit;

	rc = quota_get_limit(db, &shim_quota_defaults, r->auth.project_id,
			     QUOTA_RES_PER_VOLUME_GIGABYTES, &limit);
	if (rc != DB_OK)
		return rc;
	if (limit >= 0 && c->size > limit) {
		fault_quota(r, "VolumeSizeExceedsLimit", "Requested volume size %dG is larger than "
			    "maximum allowed limit %ldG.", c->size, limit);
		return TXN_FAULT;
	}
	n = quota_volume_deltas(type->name, 1, c->size, d);
	memset(&over, 0, sizeof(over));
	rc = quota_reserve_and_commit(db, &shim_quota_defaults, r->auth.project_id, d, n, &over);
	if (rc == QUOTA_OVER || rc == QUOTA_OVERFLOW) {
		if (strncmp(over.resource, QUOTA_RES_VOLUMES, strlen(QUOTA_RES_VOLUMES)) == 0)
			fault_quota(r, "VolumeLimitExceeded", "Maximum number of volumes allowed (%ld) "
				    "exceeded for quota '%s'.", over.limit, over.resource);
		else
			fault_quota(r, "VolumeSizeExceedsAvailableQuota", "Requested volume or "
				    "snapshot exceeds allowed gigabytes quota. Requested %dG, quota is "
				    "%ldG and %ldG has been consumed.", c->size, over.limit,
				    over.in_use + over.reserved);
		return TXN_FAULT;
	}
	return rc;
}

static int insert_metadata(db_conn *db, const char *id, const json_t *md)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)md, key, val) {
		const char *params[3] = { id, key, json_string_value(val) };
		int rc = db_exec(db, sql_metadata_insert, 3, params, NULL);

		if (rc != DB_OK)
			return rc;
	}
	return DB_OK;
}

/*
 * The id is chosen once, before the first attempt: txn_run tries again after a lost
 * connection, and when the lost one was the COMMIT's the first attempt may have committed.
 * Finding the row then means it did, and inserting a second volume (whose twin would stay
 * "creating" with its quota held) would be wrong. Returns VOL_NOT_FOUND when the attempt
 * is the first to commit, else what the transaction returns (c->reply set on DB_OK).
 */
static int create_committed_before(db_conn *db, struct create_req *c)
{
	int rc;

	json_decref(c->reply);
	c->reply = NULL;
	rc = view_load(db, c->id, false, c->vol);
	if (rc == DB_OK) {
		log_warning("volume %s: committed by an attempt whose COMMIT was not confirmed",
			    c->id);
		util_strlcpy(c->host, c->vol->row.host, sizeof(c->host));
		c->reply = view_volume_detail(c->t.r, c->vol);
		return c->reply != NULL ? DB_OK : txn_internal(&c->t);
	}
	return rc == VOL_NOT_FOUND ? rc : txn_fail(&c->t, rc, NULL);
}

/* The new row's metadata, then the row as the reply shows it. */
static int create_finish(db_conn *db, struct create_req *c)
{
	int rc = c->metadata != NULL ? insert_metadata(db, c->id, c->metadata) : DB_OK;

	if (rc == DB_OK)
		rc = view_load(db, c->id, false, c->vol);
	if (rc != DB_OK)
		return txn_fail(&c->t, rc, NULL);
	c->reply = view_volume_detail(c->t.r, c->vol);
	return c->reply != NULL ? DB_OK : txn_internal(&c->t);
}

static int create_txn(db_conn *db, void *arg)
{
	struct create_req *c = arg;
	struct shim_request *r = c->t.r;
	const char *az = c->az != NULL ? c->az : settings.storage_availability_zone;
	char *id = c->id, *host = c->host;
	struct vol_type type;
	struct vol_new nv;
	bool known;
	int rc;

	/* create_committed_before answers every outcome but "not found" itself. */
	rc = create_committed_before(db, c);
	if (rc != VOL_NOT_FOUND)
		return rc;
	/* A volume made from a snapshot or a volume takes its size, type, zone and backend
	 * from there unless the request says otherwise (the backend never). */
	if (c->src.snapshot_id != NULL || c->src.source_volid != NULL) {
		rc = snapshots_create_source_load(db, r, &c->src, &c->size);
		if (rc != DB_OK)
			return rc == TXN_FAULT ? rc : txn_fail(&c->t, rc, NULL);
		if (c->type_name == NULL)
			c->type_name = c->src.type_id;
		if (c->az == NULL)
			az = c->src.az;
	}
	rc = vtype_for_request(db, r, c->type_name, &type);
	if (rc == VOL_NOT_FOUND)
		return TXN_FAULT;
	if (rc != DB_OK)
		return rc;
	if (vtype_check_size(r, &type, c->size) != 0)
		return TXN_FAULT;
	rc = schedule_zone_known(db, az, &known);
	if (rc == DB_OK && !known) {
		fault_reply(r, 400, "Availability zone '%s' is invalid.", az);
		return TXN_FAULT;
	}
	/* Cinder's cloned_volume_same_az (true by default), after the zone's own check. */
	if (rc == DB_OK && c->src.host[0] != '\0' && strcmp(az, c->src.az) != 0) {
		fault_reply(r, 400, "Invalid input received: Volume must be in the same "
			    "availability zone as the %s", c->src.snapshot_id != NULL ? "snapshot" :
			    "source volume");
		return TXN_FAULT;
	}
	if (rc == DB_OK)
		rc = create_quota(db, c, &type);
	if (rc == DB_OK && c->src.host[0] != '\0') {
		util_strlcpy(host, c->src.host, sizeof(c->host));
		util_strlcpy(c->cluster, c->src.cluster_name, sizeof(c->cluster));
	} else if (rc == DB_OK)
		rc = type.has_backend_name ?
		     schedule_pick_named(db, az, type.backend_name, host, sizeof(c->host)) :
		     schedule_pick_backend(db, az, host, sizeof(c->host));
	if (rc != DB_OK)
		return rc;

	memset(&nv, 0, sizeof(nv));
	nv.id = id;
	nv.user_id = r->auth.user_id;
	nv.project_id = r->auth.project_id;
	nv.host = host[0] != '\0' ? host : NULL;
	nv.size = c->size;
	nv.availability_zone = az;
	nv.display_name = c->name;
	nv.display_description = c->description;
	nv.volume_type_id = type.id;
	nv.multiattach = c->multiattach || type.multiattach;
	nv.snapshot_id = c->src.snapshot_id;
	nv.source_volid = c->src.source_volid;
	nv.cluster_name = c->cluster[0] != '\0' ? c->cluster : NULL;
	rc = vol_insert(db, &nv);
	if (rc == DB_OK && host[0] == '\0') {
		/* What Cinder's scheduler leaves when no backend is valid. */
		log_warning("no live cinder-volume backend in zone %s: volume %s created in error",
			    az, id);
		rc = vol_set_status(db, id, VOL_S_ERROR, -1);
		if (rc == DB_OK)
			rc = usermsg_create(db, r->auth.project_id, r->request_id, id,
					    UMSG_ACTION_SCHEDULE_ALLOCATE_VOLUME,
					    UMSG_DETAIL_NO_BACKEND_AVAILABLE,
					    settings.message_ttl);
	}
	if (rc != DB_OK)
		return txn_fail(&c->t, rc, NULL);
	return create_finish(db, c);
}

/*
 * After a failed publish: the volume goes away again unless something already moved it on.
 * A volume no longer creating was taken by the manager (the cast reached the broker although
 * its confirm never reached us), so the create stands: c->stands is set and c->reply shows
 * the volume as it is now. Undoing nothing and answering 503 would make a client's retry
 * create a second volume.
 */
static int create_undo_txn(db_conn *db, void *arg)
{
	struct create_req *c = arg;
	int rc = view_load(db, c->id, true, c->vol);

	c->stands = false;
	if (rc == VOL_NOT_FOUND)
		return DB_OK;
	if (rc != DB_OK)
		return txn_fail(&c->t, rc, NULL);
	if (strcmp(c->vol->row.status, create_pending_status(c)) != 0) {
		json_decref(c->reply);
		c->reply = view_volume_detail(c->t.r, c->vol);
		if (c->reply == NULL)
			return txn_internal(&c->t);
		c->stands = true;
		return DB_OK;
	}
	rc = release_volume(db, &c->vol->row);
	return rc == DB_OK ? DB_OK : txn_fail(&c->t, rc, NULL);
}

/* Runs the undo. Returns true when the create stands after all (c->reply is the volume);
 * otherwise the publish failure stays the reply. */
static bool create_undo(struct create_req *c)
{
	struct shim_request *r = c->t.r;
	char *reply = r->reply_body;
	unsigned status = r->status;

	r->reply_body = NULL;
	if (txn_run(&c->t, create_undo_txn) != 0) {
		log_error("volume %s: its create could not be published nor undone", c->id);
	} else if (c->stands) {
		log_warning("volume %s: the publish of its create was not confirmed, but the manager "
			    "took it (status %s); answering 202", c->id, c->vol->row.status);
		free(reply);
		return true;
	} else {
		log_info("volume %s undone after the failed publish", c->id);
	}
	free(r->reply_body);
	r->reply_body = reply;
	r->status = status;
	r->retry_after = false;
	return false;
}


static void create_free(void *state)
{
	struct create_req *c = state;

	free(c->vol);
	json_decref(c->reply);
	json_decref(c->body);
	pv_arena_destroy(&c->arena);
	free(c);
}

static void create_reply(struct create_req *c)
{
	req_reply(c->t.r, 202, json_pack("{s:o}", "volume", c->reply));
	c->reply = NULL;
}

/* After the create_volume cast's wait: the answer, or the undo when it was not confirmed. */
static void create_cast_done(struct shim_request *r)
{
	struct create_req *c = r->state;

	if (c->send.failed) {
		fault_unavailable(r, c->send.err);
		if (!create_undo(c))
			return;
	}
	create_reply(c);
}

/* ======================================================================== manage */

/* Cinder's parameter_types.cinder_host pattern (as jsonschema quotes it). */
#define MANAGE_HOST_PATTERN "^[a-zA-Z0-9-._#@:/+\\[\\]]*$"

/* The host pattern and the metadata keys, which the argument kinds do not check. */
static int manage_postcheck(struct shim_request *r, const char *name, const json_t *obj)
{
	const char *host = json_string_value(json_object_get(obj, "host"));

	(void)name;
	if (host != NULL && host[strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789-._#@:/+[]")] != '\0') {
		validate_fail(r, "host", json_object_get(obj, "host"), "'%s' does not match '%s'",
			      host, MANAGE_HOST_PATTERN);
		return -1;
	}
	return validate_metadata(r, "metadata", json_object_get(obj, "metadata"));
}

/* Cinder's volume_manage_create schema (the properties in its order), and from 3.16 its
 * cluster. */
#define MANAGE_ARGS                                                                      \
	{ "description", PARAM_TEXT, .min = 0, .max = VALIDATE_NAME_MAX_CHARS,            \
	  .nullable = true },                                                             \
	{ "availability_zone", PARAM_TEXT, .min = 0, .max = VALIDATE_NAME_MAX_CHARS,      \
	  .nullable = true },                                                             \
	{ "bootable", PARAM_BOOLEAN },                                                    \
	{ "volume_type", PARAM_TEXT, .min = 0, .max = VALIDATE_NAME_MAX_CHARS,            \
	  .nullable = true },                                                             \
	{ "name", PARAM_TEXT, .min = 0, .max = VALIDATE_NAME_MAX_CHARS, .nullable = true }, \
	{ "host", PARAM_TEXT, .min = 1, .max = VALIDATE_NAME_MAX_CHARS, .nullable = true }, \
	{ "ref", PARAM_CONNECTOR, .required = true },                                     \
	{ "metadata", PARAM_OBJECT_OR_NULL }
static const struct param_spec manage_spec = {
	.postcheck = manage_postcheck, .args = { MANAGE_ARGS } };
static const struct param_spec manage_spec_v316 = {
	.postcheck = manage_postcheck, .args = {
		MANAGE_ARGS,
		{ "cluster", PARAM_TEXT, .min = 0, .max = VALIDATE_NAME_MAX_CHARS,
		  .nullable = true } } };

/* The order of the arguments above. */
enum { M_DESCRIPTION, M_AZ, M_BOOTABLE, M_TYPE, M_NAME, M_HOST, M_REF, M_METADATA, M_CLUSTER };

static const struct policy manage_policy = { "volume_extension:volume_manage",
					     POLICY_ADMIN_API };

/* Cinder strips a manage's name and description (and drops an empty one). */
static const char *manage_text(struct create_req *c, int i)
{
	char *s = (char *)c->arg[i].s;
	size_t n;

	if (s == NULL)
		return NULL;
	s += strspn(s, " \t\n\v\f\r");
	for (n = strlen(s); n > 0 && strchr(" \t\n\v\f\r", s[n - 1]) != NULL; n--)
		s[n - 1] = '\0';
	return s[0] != '\0' ? s : NULL;
}

static int manage_schema(struct shim_request *r, json_t *body, struct create_req *c)
{
	static const char *const top_keys[] = { "volume", NULL };
	bool v316 = req_ver_ge(r, 3, 16);
	const json_t *vol = json_object_get(body, "volume");

	if (validate_object(r, NULL, body) != 0 ||
	    (vol != NULL && params_parse(r, "volume", vol, v316 ? &manage_spec_v316 : &manage_spec,
					 c->arg) != 0) ||
	    validate_required(r, NULL, body, top_keys) != 0 ||
	    validate_no_extra(r, NULL, body, top_keys) != 0)
		return -1;
	if (params_cluster_host(r, c->arg[M_HOST].s, v316 ? c->arg[M_CLUSTER].s : NULL, v316,
				&c->host_arg, &c->cluster_arg) != 0)
		return -1;
	c->name = manage_text(c, M_NAME);
	c->description = manage_text(c, M_DESCRIPTION);
	c->type_name = c->arg[M_TYPE].s;
	c->az = c->arg[M_AZ].s;
	c->bootable = c->arg[M_BOOTABLE].b;
	c->metadata = c->arg[M_METADATA].j != NULL && !json_is_null(c->arg[M_METADATA].j) ?
		      c->arg[M_METADATA].j : NULL;
	c->size = 0;
	return 0;
}

/* Cinder's check_already_managed_volume: a source-name that is the name of a live volume's
 * store ("volume-<uuid>"). Returns DB_OK, TXN_FAULT with the 400 set, or a db status. */
static int manage_check_ref(db_conn *db, struct create_req *c)
{
	const char *name = json_string_value(json_object_get(c->arg[M_REF].j, "source-name"));
	struct vol_row *row;
	int rc;

	if (name == NULL || strncmp(name, "volume-", 7) != 0 || !util_is_uuid(name + 7))
		return DB_OK;
	row = malloc(sizeof(*row));
	if (row == NULL)
		return txn_internal(&c->t);
	rc = vol_get(db, name + 7, false, row);
	free(row);
	if (rc == VOL_NOT_FOUND)
		return DB_OK;
	if (rc != DB_OK)
		return txn_fail(&c->t, rc, NULL);
	fault_reply(c->t.r, 400, "Invalid volume: Unable to manage existing volume. The volume is "
		    "already managed");
	return TXN_FAULT;
}

/* The volume type a manage names (Cinder answers an unknown one 400), else the default. */
static int manage_type(db_conn *db, struct create_req *c, struct vol_type *type)
{
	int rc;

	if (c->type_name == NULL || c->type_name[0] == '\0') {
		rc = vtype_for_request(db, c->t.r, NULL, type);
		return rc == VOL_NOT_FOUND ? TXN_FAULT : rc;
	}
	rc = vol_type_find(db, c->type_name, type);
	if (rc == VOL_NOT_FOUND) {
		fault_reply(c->t.r, 400, "Invalid volume type: Cannot find requested '%s' volume "
			    "type", c->type_name);
		return TXN_FAULT;
	}
	return rc;
}

/* Cinder's _get_service_by_host_cluster: the live, enabled service of the host (at its backend
 * level) or cluster, as the volume's host ("<host>@<backend>#<pool>": the pool named, else the
 * backend's one pool, as Cinder's scheduler would set it). Returns DB_OK, TXN_FAULT with
 * Cinder's 400 set, or a db status. */
static int manage_service(db_conn *db, struct create_req *c, struct schedule_service *svc)
{
	const char *named = c->host_arg != NULL ? c->host_arg : c->cluster_arg;
	bool pool = strchr(named, '#') != NULL;
	const char *at;
	bool found, exists;
	int n, rc;

	rc = schedule_lookup_service(db, c->host_arg, c->cluster_arg, svc, &found, &exists);
	if (rc != DB_OK)
		return txn_fail(&c->t, rc, NULL);
	if (!found && !exists)
		fault_reply(c->t.r, 400, "%s '%s' not found", c->host_arg != NULL ? "Host" :
			    "Cluster", named);
	else if (!found)
		fault_reply(c->t.r, 400, "Service is unavailable at this time.");
	if (!found)
		return TXN_FAULT;
	at = strchr(svc->host, '@');
	n = c->host_arg != NULL && pool ?
	    snprintf(c->host, sizeof(c->host), "%s", c->host_arg) :
	    snprintf(c->host, sizeof(c->host), "%s#%s", svc->host, at != NULL ? at + 1 : svc->host);
	util_strlcpy(c->cluster, svc->cluster_name, sizeof(c->cluster));
	return n >= 0 && (size_t)n < sizeof(c->host) ? DB_OK : txn_internal(&c->t);
}

/* Cinder's manage flow on the API side: the checks, quota volumes 1 (size 0), the row in
 * "managing" on the service's host. */
static int manage_txn(db_conn *db, void *arg)
{
	struct create_req *c = arg;
	struct shim_request *r = c->t.r;
	struct schedule_service svc;
	struct vol_type type;
	struct vol_new nv;
	int rc;

	rc = create_committed_before(db, c);
	if (rc != VOL_NOT_FOUND)
		return rc;
	if (!policy_enforce(r, &manage_policy, r->auth.project_id))
		return TXN_FAULT;
	rc = manage_check_ref(db, c);
	if (rc == DB_OK)
		rc = manage_type(db, c, &type);
	if (rc == DB_OK)
		rc = manage_service(db, c, &svc);
	if (rc == DB_OK)
		rc = create_quota(db, c, &type);
	if (rc != DB_OK)
		return rc;
	memset(&nv, 0, sizeof(nv));
	nv.id = c->id;
	nv.user_id = r->auth.user_id;
	nv.project_id = r->auth.project_id;
	nv.host = c->host;
	nv.cluster_name = c->cluster[0] != '\0' ? c->cluster : NULL;
	nv.size = 0;
	nv.availability_zone = c->az != NULL ? c->az : svc.availability_zone;
	nv.display_name = c->name;
	nv.display_description = c->description;
	nv.volume_type_id = type.id;
	nv.multiattach = type.multiattach;
	nv.bootable = c->bootable;
	nv.status = VOL_S_MANAGING;
	rc = vol_insert(db, &nv);
	if (rc != DB_OK)
		return txn_fail(&c->t, rc, NULL);
	return create_finish(db, c);
}

/* The transaction, then the cast: create_volume (with the image to fill the volume from) or
 * manage_existing (with the reference to adopt), or the undo when the broker did not take it. */
static void create_go(struct create_req *c)
{
	struct shim_request *r = c->t.r;
	union proto_args args = create_args;

	if (txn_run(&c->t, c->manage ? manage_txn : create_txn) != 0)
		return;
	/* The cast is built from the row the committed transaction read, so publishing it
	 * needs no database: an outage of the database from here on cannot leave the volume
	 * "creating" without its cast. */
	if (c->host[0] == '\0') {
		create_reply(c);
		return;
	}
	args.create_volume.image_id = c->image.id;
	if (c->manage) {
		pv_arena_init(&c->arena, CREATE_ARENA_CAP);
		memset(&args, 0, sizeof(args));
		args.manage_existing.volume_id = c->id;
		args.manage_existing.ref = proto_pv_from_json(&c->arena, c->arg[M_REF].j);
		if (args.manage_existing.ref == NULL) {
			fault_reply(r, 500, FAULT_MSG_INTERNAL);
			if (create_undo(c))
				create_reply(c);
			return;
		}
	}
	if (cast_volume_row(r, &c->send, c->manage ? PROTO_M_MANAGE_EXISTING : PROTO_M_CREATE_VOLUME,
			    &c->vol->row, &args, create_cast_done) != 0 && create_undo(c))
		create_reply(c);
}

/* After the lookup of the image a create names (image.h). */
static void create_image_checked(struct shim_request *r)
{
	struct create_req *c = r->state;

	if (image_source_verdict(r, &c->image, c->size) == 0)
		create_go(c);
}

/* The route of a create (manage false) or a manage: validation, the transaction, then the
 * cast after the commit (or the undo when the broker did not take it). */
static void create_serve(struct shim_request *r, bool manage)
{
	struct create_req *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	c->t.r = r;
	c->manage = manage;
	r->state = c;
	r->state_free = create_free;
	c->body = req_json_body(r);
	if (c->body == NULL ||
	    (manage ? manage_schema(r, c->body, c) : create_schema(r, c->body, c)) != 0)
		return;
	c->vol = malloc(sizeof(*c->vol));
	if (c->vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	util_uuid4(c->id);
	/* A lookup that cannot be queued has its 503 set. */
	if (c->image.id == NULL)
		create_go(c);
	else if (image_source_lookup(r, &c->image, create_image_checked) != 0)
		log_warning("volume create from image %s: the image service was not asked",
			    c->image.id);
}

void volumes_create(struct shim_request *r)
{
	create_serve(r, false);
}

void volumes_manage(struct shim_request *r)
{
	create_serve(r, true);
}

/* ======================================================================== show */

struct show_req {
	struct txn_ctx t;
	const char *id;
	struct vol_full *vol;
};

static int show_txn(db_conn *db, void *arg)
{
	struct show_req *s = arg;
	int rc = view_load(db, s->id, false, s->vol);

	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !view_visible(s->t.r, &s->vol->row))) {
		fault_volume_not_found(s->t.r, s->id);
		return TXN_FAULT;
	}
	return rc;
}

void volumes_show(struct shim_request *r)
{
	struct show_req s = { .t = { .r = r }, .id = r->captures[1] };

	if (strlen(s.id) >= VOL_STR) {
		fault_volume_not_found(r, s.id);
		return;
	}
	s.vol = malloc(sizeof(*s.vol));
	if (s.vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	if (txn_run(&s.t, show_txn) == 0) {
		json_t *v = view_volume_detail(r, s.vol);

		if (v == NULL)
			fault_reply(r, 500, FAULT_MSG_INTERNAL);
		else
			req_reply(r, 200, json_pack("{s:o}", "volume", v));
	}
	free(s.vol);
}

/* ======================================================================== list */

void volumes_list(struct shim_request *r)
{
	listing_volumes(r, false);
}

void volumes_list_detail(struct shim_request *r)
{
	listing_volumes(r, true);
}

/* ======================================================================== delete */

struct delete_req {
	struct txn_ctx t;
	const char *id;
	struct vol_full *vol;
	bool cascade, force;
};

static const char *const deletable_statuses[] = {
	VOL_S_AVAILABLE, VOL_S_ERROR, "error_restoring", VOL_S_ERROR_EXTENDING, "error_managing",
};

#define NDELETABLE (int)(sizeof(deletable_statuses) / sizeof(deletable_statuses[0]))

int volumes_notify(db_conn *db, const struct shim_request *r, const char *event_type,
		   const char *volume_id, const char *status, int size)
{
	char publisher[256], st[VOL_STR];
	int rc = DB_OK;

	if (status == NULL) {
		struct vol_row *v = malloc(sizeof(*v));

		if (v == NULL)
			return DB_RETRY;
		rc = vol_get(db, volume_id, true, v);
		if (rc == DB_OK) {
			util_strlcpy(st, v->status, sizeof(st));
			size = v->size;
			status = st;
		}
		free(v);
	}
	/* A volume that is gone has nothing to report. */
	if (rc == VOL_NOT_FOUND)
		return DB_OK;
	/* The manager's relay publishes it after the commit. */
	snprintf(publisher, sizeof(publisher), "volume.%s", cfg_common.host);
	return rc != DB_OK ? rc : notification_queue(db, event_type, publisher,
						     NOTIFICATION_VOLUME, volume_id, status,
						     size, r->request_id);
}

static bool migrating(const char *ms)
{
	return ms[0] != '\0' && strcmp(ms, "deleting") != 0 && strcmp(ms, "error") != 0 &&
	       strcmp(ms, "success") != 0;
}

int volumes_delete_begin(db_conn *db, struct txn_ctx *t, const struct vol_row *row,
			 const struct volumes_delete_opts *o, union proto_args *args, bool *cast)
{
	struct shim_request *r = t->r;
	struct snap_counts sc;
	const char *to;
	bool ok;
	int rc;

	*cast = false;
	/* A volume that never reached a backend is removed at once, its quota given back
	 * (Cinder's delete of a volume without host, unmanaged or not). */
	if (row->host[0] == '\0') {
		/* Cinder's API notifies the delete of a volume without host itself. */
		rc = volumes_notify(db, r, "volume.delete.start", row->id, row->status, row->size);
		if (rc == DB_OK)
			rc = release_volume(db, row);
		if (rc == DB_OK)
			rc = volumes_notify(db, r, "volume.delete.end", row->id, VOL_S_DELETED,
					    row->size);
		if (rc == DB_OK)
			log_info("volume %s had no host: deleted without a cast", row->id);
		return rc == DB_OK ? DB_OK : txn_fail(t, rc, row->id);
	}
	if (!o->unmanage_only) {
		rc = schedule_check_not_frozen(db, r, row->id);
		if (rc != DB_OK)
			return rc;
	}
	rc = snap_count_of_volume(db, row->id, row->project_id, &sc);
	if (rc != DB_OK)
		return rc;
	ok = strcmp(row->attach_status, VOL_AS_ATTACHED) != 0 && !migrating(row->migration_status);
	if (!o->cascade)
		ok = ok && sc.live == 0;
	else if (!o->force)
		ok = ok && sc.undeletable == 0 && (r->auth.is_admin || sc.other_project == 0);
	to = strcmp(row->status, VOL_S_ERROR_MANAGING) == 0 ? VOL_S_ERROR_MANAGING_DELETING :
	     o->unmanage_only ? VOL_S_UNMANAGING : VOL_S_DELETING;
	rc = VOL_CONFLICT;
	if (ok && o->force)
		rc = vol_set_status(db, row->id, to, -1);
	else if (ok)
		rc = vol_cas_status(db, row->id, deletable_statuses, NDELETABLE, to, NULL);
	if (rc == VOL_CONFLICT) {
		fault_reply(r, 400, "Invalid volume: Volume %s must not be migrating, attached, "
			    "belong to a group, have snapshots, awaiting a transfer, or be "
			    "disassociated from snapshots after volume transfer.",
			    o->force ? "" : "status must be available or error or error_restoring or "
			    "error_extending or error_managing and");
		return TXN_FAULT;
	}
	if (rc == DB_OK && o->cascade)
		rc = snap_cascade_deleting(db, row->id, o->force);
	if (rc == VOL_CONFLICT) {
		fault_reply(r, 400, "Invalid volume: Failed to update snapshot.");
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(t, rc, row->id);
	memset(args, 0, sizeof(*args));
	args->delete_volume.cascade = o->cascade;
	args->delete_volume.unmanage_only = o->unmanage_only;
	*cast = true;
	return DB_OK;
}

static int delete_txn(db_conn *db, void *arg)
{
	struct delete_req *d = arg;
	struct shim_request *r = d->t.r;
	const struct vol_row *row = &d->vol->row;
	const struct volumes_delete_opts o = { .force = d->force, .cascade = d->cascade };
	union proto_args args;
	bool cast;
	int rc;

	rc = view_load(db, d->id, true, d->vol);
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !view_visible(r, row))) {
		fault_volume_not_found(r, d->id);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&d->t, rc, d->id);
	if (!policy_enforce(r, &delete_policy, row->project_id) ||
	    (d->force && !policy_enforce(r, &force_delete_policy, row->project_id)))
		return TXN_FAULT;
	rc = volumes_delete_begin(db, &d->t, row, &o, &args, &cast);
	if (rc != DB_OK || !cast)
		return rc;
	return cast_volume(&d->t, db, PROTO_M_DELETE_VOLUME, row->id, &args);
}

int volumes_force_delete_body(db_conn *db, struct action_ctx *a)
{
	static const struct volumes_delete_opts o = { .force = true };
	bool cast;
	int rc = volumes_delete_begin(db, &a->t, &a->vol->row, &o, &a->rpc, &cast);

	a->skip_cast = !cast;
	return rc;
}

static void delete_free(void *state)
{
	struct delete_req *d = state;

	free(d->vol);
	free(d);
}

static void delete_committed(struct txn_ctx *t)
{
	req_reply(t->r, 202, NULL);
}

void volumes_delete(struct shim_request *r)
{
	struct delete_req *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	d->t.r = r;
	d->id = r->captures[1];
	r->state = d;
	r->state_free = delete_free;
	if (req_query_bool(r, "cascade", false, &d->cascade) != 0 ||
	    (req_ver_ge(r, 3, 23) && req_query_bool(r, "force", false, &d->force) != 0))
		return;
	if (strlen(d->id) >= VOL_STR) {
		fault_volume_not_found(r, d->id);
		return;
	}
	d->vol = malloc(sizeof(*d->vol));
	if (d->vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	txn_run_publishing(&d->t, delete_txn, delete_committed);
}
