/*
 * volumes.c - the volume routes: create, show, list and delete (Cinder's v3 volumes
 * controller and its volume API). Backend choice is schedule.c's, the list query listing.c's,
 * the argument checks validate.c's.
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

#include "common/log.h"
#include "common/util.h"
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
#include "api-shim/listing.h"
#include "api-shim/policy.h"
#include "api-shim/schedule.h"
#include "api-shim/shim.h"
#include "api-shim/snapshots.h"
#include "api-shim/txn.h"
#include "api-shim/validate.h"
#include "api-shim/view.h"
#include "api-shim/vtype.h"

/* The cast arguments Cinder's API sends for a create: it lets the scheduler reschedule it. */
static const union proto_args create_args = { .create_volume = { .allow_reschedule = true } };
static const struct policy delete_policy = { "volume:delete", POLICY_ADMIN_OR_OWNER };
static const struct policy force_delete_policy = { "volume:force_delete", POLICY_ADMIN_API };

/* ======================================================================== create */

/* Soft-deletes a volume and gives its quota back (volumes -1, gigabytes -size and their
 * per-type forms, reserved and committed at once, as Cinder's delete does for a volume that
 * never reached a backend). Returns DB_OK or a core/db status. */
static int release_volume(db_conn *db, const struct vol_row *row)
{
	struct quota_delta q[QUOTA_VOLUME_DELTAS];
	struct quota_over over;
	int n, rc;

	if (quota_volume_releases(row->use_quota, row->status)) {
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
	struct create_source src;    /* the snapshot or volume it is created from */
};

/* Sources volmgr cannot create from. */
static const char *const unsupported_sources[] = {
	"consistencygroup_id", "backup_id", "group_id", "imageRef", "image_id", NULL,
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
	if (create_source_schema(r, vol, &c->src) != 0)
		return -1;
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

	json_decref(c->reply);
	c->reply = NULL;
	/* The id is chosen once, before the first attempt: txn_run tries again after a lost
	 * connection, and when the lost one was the COMMIT's the first attempt may have
	 * committed. Finding the row then means it did, and inserting a second volume (whose
	 * twin would stay "creating" with its quota held) would be wrong. */
	rc = view_load(db, id, false, c->vol);
	if (rc == DB_OK) {
		log_warning("volume %s: committed by an attempt whose COMMIT was not confirmed", id);
		util_strlcpy(host, c->vol->row.host, sizeof(c->host));
		c->reply = view_volume_detail(r, c->vol);
		return c->reply != NULL ? DB_OK : txn_internal(&c->t);
	}
	if (rc != VOL_NOT_FOUND)
		return txn_fail(&c->t, rc, NULL);
	/* A volume made from a snapshot or a volume takes its size, type, zone and backend
	 * from there unless the request says otherwise (the backend never). */
	if (c->src.snapshot_id != NULL || c->src.source_volid != NULL) {
		rc = create_source_load(db, r, &c->src, &c->size);
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
	if (rc == DB_OK && c->src.host[0] != '\0')
		util_strlcpy(host, c->src.host, sizeof(c->host));
	else if (rc == DB_OK)
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
	rc = vol_insert(db, &nv);
	if (rc == DB_OK && c->metadata != NULL)
		rc = insert_metadata(db, id, c->metadata);
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
	if (rc == DB_OK)
		rc = view_load(db, id, false, c->vol);
	if (rc != DB_OK)
		return txn_fail(&c->t, rc, NULL);
	c->reply = view_volume_detail(r, c->vol);
	if (c->reply == NULL)
		return txn_internal(&c->t);
	return DB_OK;
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
	if (strcmp(c->vol->row.status, VOL_S_CREATING) != 0) {
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

void volumes_create(struct shim_request *r)
{
	struct create_req *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	c->t.r = r;
	r->state = c;
	r->state_free = create_free;
	c->body = req_json_body(r);
	if (c->body == NULL || create_schema(r, c->body, c) != 0)
		return;
	c->vol = malloc(sizeof(*c->vol));
	if (c->vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	util_uuid4(c->id);
	if (txn_run(&c->t, create_txn) != 0)
		return;
	/* The cast is built from the row the committed transaction read, so publishing it
	 * needs no database: an outage of the database from here on cannot leave the volume
	 * "creating" without its cast. */
	if (c->host[0] == '\0') {
		create_reply(c);
		return;
	}
	if (cast_volume_row(r, &c->send, PROTO_M_CREATE_VOLUME, &c->vol->row, &create_args,
			    create_cast_done) != 0 && create_undo(c))
		create_reply(c);
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

static bool migrating(const char *ms)
{
	return ms[0] != '\0' && strcmp(ms, "deleting") != 0 && strcmp(ms, "error") != 0 &&
	       strcmp(ms, "success") != 0;
}

/*
 * Cinder's volume API delete(force, cascade) for the locked row: a volume that never reached
 * a backend is removed at once with its quota (*cast false); otherwise it must not be
 * attached nor migrating, nor (without force) in a status other than deletable_statuses;
 * without cascade it must have no snapshots, with cascade (and without force) none in a
 * status other than available or error, and for a non-admin none of another project. It
 * then goes "deleting", with cascade its snapshots too, and args gets the delete_volume
 * cast's arguments (*cast true). Returns DB_OK, TXN_FAULT with the 400 set, or a db status.
 */
static int delete_begin(db_conn *db, struct txn_ctx *t, const struct vol_row *row, bool force,
			bool cascade, union proto_args *args, bool *cast)
{
	struct shim_request *r = t->r;
	struct snap_counts sc;
	bool ok;
	int rc;

	*cast = false;
	if (row->host[0] == '\0') {
		rc = release_volume(db, row);
		if (rc == DB_OK)
			log_info("volume %s had no host: deleted without a cast", row->id);
		return rc == DB_OK ? DB_OK : txn_fail(t, rc, row->id);
	}
	rc = snap_count_of_volume(db, row->id, row->project_id, &sc);
	if (rc != DB_OK)
		return rc;
	ok = strcmp(row->attach_status, VOL_AS_ATTACHED) != 0 && !migrating(row->migration_status);
	if (!cascade)
		ok = ok && sc.live == 0;
	else if (!force)
		ok = ok && sc.undeletable == 0 && (r->auth.is_admin || sc.other_project == 0);
	rc = VOL_CONFLICT;
	if (ok && force)
		rc = vol_set_status(db, row->id, VOL_S_DELETING, -1);
	else if (ok)
		rc = vol_cas_status(db, row->id, deletable_statuses, NDELETABLE, VOL_S_DELETING,
				    NULL);
	if (rc == VOL_CONFLICT) {
		fault_reply(r, 400, "Invalid volume: Volume %s must not be migrating, attached, "
			    "belong to a group, have snapshots, awaiting a transfer, or be "
			    "disassociated from snapshots after volume transfer.",
			    force ? "" : "status must be available or error or error_restoring or "
			    "error_extending or error_managing and");
		return TXN_FAULT;
	}
	if (rc == DB_OK && cascade)
		rc = snap_cascade_deleting(db, row->id, force);
	if (rc == VOL_CONFLICT) {
		fault_reply(r, 400, "Invalid volume: Failed to update snapshot.");
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(t, rc, row->id);
	memset(args, 0, sizeof(*args));
	args->delete_volume.cascade = cascade;
	*cast = true;
	return DB_OK;
}

static int delete_txn(db_conn *db, void *arg)
{
	struct delete_req *d = arg;
	struct shim_request *r = d->t.r;
	const struct vol_row *row = &d->vol->row;
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
	rc = delete_begin(db, &d->t, row, d->force, d->cascade, &args, &cast);
	if (rc != DB_OK || !cast)
		return rc;
	return cast_volume(&d->t, db, PROTO_M_DELETE_VOLUME, row->id, &args);
}

int volume_force_delete_body(db_conn *db, struct action_ctx *a)
{
	bool cast;
	int rc = delete_begin(db, &a->t, &a->vol->row, true, false, &a->rpc, &cast);

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
