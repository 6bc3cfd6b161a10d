/*
 * snapshots.c - the snapshot routes: create, list, show, update and delete, and the
 * snapshot actions' bodies (Cinder's v3 snapshots controller, its snapshot actions and its
 * volume API, docs/cinder.md §17); the actions are rows of the action table (actions.c), the
 * metadata routes are snapshot_metadata.c's.
 *
 * Create and delete cast to the manager of the snapshot's volume from inside their
 * transaction. Create holds the volume's row lock (SELECT ... FOR UPDATE) until the cast was
 * confirmed and the snapshot committed: the manager locks the volume before it reads the
 * snapshot, so it cannot look for the new row before it is visible (manager/snapshot.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core/columns.h"
#include "core/quota.h"
#include "core/snapshot.h"
#include "core/volume.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/cast.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/listing.h"
#include "api-shim/policy.h"
#include "api-shim/schedule.h"
#include "api-shim/snapshots.h"
#include "api-shim/shim.h"
#include "api-shim/txn.h"
#include "api-shim/validate.h"
#include "api-shim/view.h"

#define OWNER(name) { name, POLICY_ADMIN_OR_OWNER }

static const struct policy get_policy = OWNER("volume:get_snapshot");
static const struct policy create_policy = OWNER("volume:create_snapshot");
static const struct policy update_policy = OWNER("volume:update_snapshot");
static const struct policy delete_policy = OWNER("volume:delete_snapshot");
static const struct policy extended_attributes = {
	"volume_extension:extended_snapshot_attributes", POLICY_ADMIN_OR_OWNER,
};

/* ======================================================================== views */

/* The columns of a snapshot's view, in the order of the C_ constants. */
#define SNAP_VIEW_SELECT \
	"SELECT s.id, " V_TS("s.created_at") ", " V_TS("s.updated_at") ", s.display_name," \
	" s.display_description, s.volume_id, s.status, s.volume_size," \
	" (SELECT coalesce(json_object_agg(m.key, m.value ORDER BY m.key), '{}')" \
	"  FROM snapshot_metadata m WHERE m.snapshot_id = s.id AND NOT m.deleted)::text," \
	" s.group_snapshot_id, s.user_id, s.use_quota IS NOT FALSE, s.project_id, s.progress"
#define SNAP_VIEW_FROM " FROM snapshots s WHERE NOT s.deleted"

enum { C_ID, C_CREATED, C_UPDATED, C_NAME, C_DESC, C_VOLUME, C_STATUS, C_SIZE, C_METADATA,
       C_GROUP, C_USER, C_QUOTA, C_PROJECT, C_PROGRESS };

static const char sql_view[] = SNAP_VIEW_SELECT SNAP_VIEW_FROM " AND s.id = $1";

static json_t *col_or_null(const PGresult *res, int i, int c)
{
	return PQgetisnull(res, i, c) ? json_null() : json_string(PQgetvalue(res, i, c));
}

/*
 * Cinder's snapshot view of row i: the summary (id, created_at, updated_at, name,
 * description, volume_id, status, size, metadata); the detail adds group_snapshot_id (3.14),
 * user_id (3.41), consumes_quota (3.65) and, where the policy allows (show and the detailed
 * list), os-extended-snapshot-attributes' project_id and progress. NULL on allocation
 * failure.
 */
static json_t *snap_view(const struct shim_request *r, const PGresult *res, int i, bool detail,
			 bool extended)
{
	json_t *v = json_object(), *md = json_loads(PQgetvalue(res, i, C_METADATA), 0, NULL);

	if (v == NULL || md == NULL) {
		json_decref(v);
		json_decref(md);
		return NULL;
	}
	json_object_set_new(v, "id", json_string(PQgetvalue(res, i, C_ID)));
	json_object_set_new(v, "created_at", view_time(PQgetvalue(res, i, C_CREATED)));
	json_object_set_new(v, "updated_at", view_time(PQgetvalue(res, i, C_UPDATED)));
	json_object_set_new(v, "name", col_or_null(res, i, C_NAME));
	json_object_set_new(v, "description", col_or_null(res, i, C_DESC));
	json_object_set_new(v, "volume_id", json_string(PQgetvalue(res, i, C_VOLUME)));
	json_object_set_new(v, "status", col_or_null(res, i, C_STATUS));
	json_object_set_new(v, "size", json_integer(atol(PQgetvalue(res, i, C_SIZE))));
	json_object_set_new(v, "metadata", md);
	if (!detail)
		return v;
	if (req_ver_ge(r, 3, 14))
		json_object_set_new(v, "group_snapshot_id", col_or_null(res, i, C_GROUP));
	if (req_ver_ge(r, 3, 41))
		json_object_set_new(v, "user_id", col_or_null(res, i, C_USER));
	if (req_ver_ge(r, 3, 65))
		json_object_set_new(v, "consumes_quota",
				    json_boolean(PQgetvalue(res, i, C_QUOTA)[0] == 't'));
	if (extended && policy_allowed(&r->auth, &extended_attributes,
				       PQgetvalue(res, i, C_PROJECT))) {
		json_object_set_new(v, "os-extended-snapshot-attributes:project_id",
				    col_or_null(res, i, C_PROJECT));
		json_object_set_new(v, "os-extended-snapshot-attributes:progress",
				    col_or_null(res, i, C_PROGRESS));
	}
	return v;
}

/* Cinder's SnapshotNotFound. */
static int snap_not_found(struct shim_request *r, const char *id)
{
	fault_reply(r, 404, "Snapshot %s could not be found.", id);
	return TXN_FAULT;
}

int snapshots_load_visible(db_conn *db, struct txn_ctx *t, const char *id, bool for_update,
			   struct snap_row *s)
{
	int rc = strlen(id) < sizeof(s->id) ? snap_get(db, id, for_update, s) : VOL_NOT_FOUND;

	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !policy_allowed(&t->r->auth, &get_policy,
								  s->project_id)))
		return snap_not_found(t->r, id);
	return rc;
}

/* The detail view of snapshot id as it stands in the transaction, in *out. */
static int snap_view_load(db_conn *db, struct txn_ctx *t, const char *id, bool extended,
			  json_t **out)
{
	const char *p[1] = { id };
	PGresult *res;
	int rc = db_exec(db, sql_view, 1, p, &res);

	if (rc != DB_OK)
		return rc;
	json_decref(*out);
	*out = PQntuples(res) > 0 ? snap_view(t->r, res, 0, true, extended) : NULL;
	PQclear(res);
	if (*out == NULL)
		return txn_internal(t);
	return DB_OK;
}

/* ======================================================================== create */

static void snap_req_free(void *state)
{
	struct snap_req *s = state;

	json_decref(s->body);
	json_decref(s->reply);
	free(s->vol);
	free(s);
}

struct snap_req *snapshots_req_new(struct shim_request *r, bool with_volume)
{
	struct snap_req *s = calloc(1, sizeof(*s));

	if (s != NULL && with_volume && (s->vol = malloc(sizeof(*s->vol))) == NULL) {
		free(s);
		s = NULL;
	}
	if (s == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return NULL;
	}
	s->t.r = r;
	s->id = r->ncaptures > 1 ? r->captures[1] : NULL;
	s->key = r->ncaptures > 2 ? r->captures[2] : NULL;
	r->state = s;
	r->state_free = snap_req_free;
	return s;
}

/* Since 3.66 a snapshot of an in-use volume needs no force, and force false is refused. */
#define SNAPSHOT_IN_USE_FLAG_MSG \
	"Since microversion 3.66 the 'force' flag is invalid for this request.  For backward " \
	"compatability, however, when the 'force' flag is passed with a value evaluating to " \
	"True, it is silently ignored."

/* The envelope both write schemas share: the body is an object with exactly the key
 * "snapshot", whose value is an object that s->snapshot then points at. Returns 0, or -1
 * with the fault set. */
static int snapshot_envelope(struct shim_request *r, struct snap_req *s)
{
	static const char *const top[] = { "snapshot", NULL };

	if (validate_object(r, NULL, s->body) != 0 ||
	    validate_required(r, NULL, s->body, top) != 0 ||
	    validate_no_extra(r, NULL, s->body, top) != 0)
		return -1;
	s->snapshot = json_object_get(s->body, "snapshot");
	return validate_object(r, "snapshot", s->snapshot);
}

/* Cinder's create schema (api/schemas/snapshots.py) and the controller's force rule. */
static int create_schema(struct shim_request *r, struct snap_req *s)
{
	static const char *const keys[] = { "name", "display_name", "description", "volume_id",
					    "force", "metadata", NULL };
	static const char *const names[] = { "name", "display_name", "description", NULL };
	const json_t *v;

	if (snapshot_envelope(r, s) != 0)
		return -1;
	for (const char *const *k = names; *k != NULL; k++) {
		v = json_object_get(s->snapshot, *k);
		if (v != NULL && validate_name(r, *k, v) != 0)
			return -1;
	}
	v = json_object_get(s->snapshot, "volume_id");
	if (v != NULL && !json_is_null(v) &&
	    (!json_is_string(v) || !util_is_uuid(json_string_value(v)))) {
		char repr[VALIDATE_REPR_MAX];

		validate_pyrepr(v, repr, sizeof(repr));
		validate_fail(r, "volume_id", v, "%s is not valid under any of the given schemas",
			      repr);
		return -1;
	}
	v = json_object_get(s->snapshot, "force");
	if (validate_boolean(r, "force", v, false, &s->force) != 0)
		return -1;
	s->metadata = json_object_get(s->snapshot, "metadata");
	if (validate_metadata(r, "metadata", s->metadata) != 0)
		return -1;
	if (validate_required(r, "snapshot", s->snapshot, (const char *const[]){ "volume_id",
										NULL }) != 0 ||
	    validate_no_extra(r, "snapshot", s->snapshot, keys) != 0)
		return -1;
	if (v != NULL && !s->force && req_ver_ge(r, 3, 66)) {
		fault_reply(r, 400, SNAPSHOT_IN_USE_FLAG_MSG);
		return -1;
	}
	s->volume_id = json_string_value(json_object_get(s->snapshot, "volume_id"));
	if (s->volume_id == NULL)
		s->volume_id = "None";
	/* Cinder maps name onto display_name. */
	v = json_object_get(s->snapshot, "name");
	if (v == NULL)
		v = json_object_get(s->snapshot, "display_name");
	s->name = json_string_value(v);
	s->description = json_string_value(json_object_get(s->snapshot, "description"));
	if (s->metadata != NULL && json_is_null(s->metadata))
		s->metadata = NULL;
	return 0;
}

/* Cinder's _create_snapshot_in_db_validate and the status check of create_snapshot_in_db.
 * Returns 0, or -1 with the 400 set. */
static int create_check(struct shim_request *r, const struct vol_row *v, bool in_use_ok)
{
	const char *why = NULL;
	char msg[512];

	if (v->host[0] == '\0')
		why = "The snapshot cannot be created because volume has not been scheduled to "
		      "any host.";
	else if (strcmp(v->status, "maintenance") == 0)
		why = "The snapshot cannot be created when the volume is in maintenance mode.";
	else if (v->migration_status[0] != '\0' &&
		 strcmp(v->migration_status, "success") != 0 &&
		 strcmp(v->migration_status, "error") != 0)
		why = "Snapshot cannot be created while volume is migrating.";
	else if (strcmp(v->status, VOL_S_ERROR) == 0)
		why = "The snapshot cannot be created when the volume is in error status.";
	else if (strncmp(v->status, "replica_", 8) == 0)
		why = "Snapshot of secondary replica is not allowed.";
	if (why == NULL && strcmp(v->status, VOL_S_AVAILABLE) != 0 &&
	    !(in_use_ok && strcmp(v->status, VOL_S_IN_USE) == 0)) {
		snprintf(msg, sizeof(msg), "Volume %s status must be %s, but current status is: %s.",
			 v->id, in_use_ok ? "available, in-use" : "available", v->status);
		why = msg;
	}
	if (why == NULL)
		return 0;
	fault_reply(r, 400, "Invalid volume: %s", why);
	return -1;
}

/* Quota for a new snapshot (Cinder's create_snapshot_in_db): snapshots 1 and gigabytes the
 * volume's size with their per-type forms, reserved and committed at once. */
static int create_quota(db_conn *db, struct shim_request *r, const struct vol_row *v)
{
	struct quota_delta d[QUOTA_VOLUME_DELTAS];
	struct quota_over over;
	int n = quota_snapshot_deltas(v->volume_type_name, 1, v->size, d);
	int rc;

	memset(&over, 0, sizeof(over));
	rc = quota_reserve_and_commit(db, &shim_quota_defaults, r->auth.project_id, d, n, &over);
	if (rc != QUOTA_OVER && rc != QUOTA_OVERFLOW)
		return rc;
	if (strstr(over.resource, QUOTA_RES_GIGABYTES) != NULL)
		fault_quota(r, "VolumeSizeExceedsAvailableQuota", "Requested volume or snapshot "
			    "exceeds allowed %s quota. Requested %dG, quota is %ldG and %ldG has "
			    "been consumed.", over.resource, v->size, over.limit,
			    over.in_use + over.reserved);
	else
		fault_quota(r, "SnapshotLimitExceeded", "Maximum number of snapshots allowed (%ld) "
			    "exceeded", over.limit);
	return TXN_FAULT;
}

/* Inserts the metadata of snapshot id. */
static int insert_metadata(db_conn *db, const char *id, const json_t *md)
{
	const char *key;
	json_t *val;
	int rc = DB_OK;

	json_object_foreach((json_t *)md, key, val) {
		rc = snap_md_set(db, id, key, json_string_value(val));
		if (rc != DB_OK)
			break;
	}
	return rc;
}

/* Reads snapshot id as the transaction left it into *row and points ref at its primitive
 * (f), for a cast built before the commit. */
static int snapshot_ref(db_conn *db, struct txn_ctx *t, const char *id, struct snap_row *row,
			struct proto_snapshot_fields *f, struct proto_snapshot_ref *ref)
{
	char copy[37];
	int rc;

	/* id may point into row, which snap_get clears first. */
	util_strlcpy(copy, id, sizeof(copy));
	rc = snap_get(db, copy, false, row);
	if (rc != DB_OK)
		return txn_fail(t, rc, NULL);
	snap_to_proto_fields(row, f);
	ref->id = row->id;
	ref->volume_id = row->volume_id;
	ref->fields = f;
	return DB_OK;
}

static int create_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	struct shim_request *r = s->t.r;
	struct proto_snapshot_fields f;
	union proto_args args;
	int rc;

	rc = strlen(s->volume_id) < VOL_STR ? vol_get(db, s->volume_id, true, s->vol) :
	     VOL_NOT_FOUND;
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !view_visible(r, s->vol))) {
		fault_volume_not_found(r, s->volume_id);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&s->t, rc, s->volume_id);
	if (!policy_enforce(r, &create_policy, s->vol->project_id))
		return TXN_FAULT;
	rc = schedule_check_not_frozen(db, r, s->vol->id);
	if (rc != DB_OK)
		return rc;
	if (create_check(r, s->vol, s->force || req_ver_ge(r, 3, 66)) != 0)
		return TXN_FAULT;
	rc = create_quota(db, r, s->vol);
	if (rc == DB_OK)
		rc = snap_insert(db, s->new_id, s->vol, r->auth.user_id, r->auth.project_id,
				 s->name, s->description);
	if (rc == DB_OK && s->metadata != NULL)
		rc = insert_metadata(db, s->new_id, s->metadata);
	if (rc == DB_OK)
		rc = snap_view_load(db, &s->t, s->new_id, false, &s->reply);
	if (rc != DB_OK)
		return rc == TXN_FAULT ? rc : txn_fail(&s->t, rc, NULL);
	memset(&args, 0, sizeof(args));
	rc = snapshot_ref(db, &s->t, s->new_id, &s->snap, &f, &args.create_snapshot.snapshot);
	return rc == DB_OK ? cast_volume(&s->t, db, PROTO_M_CREATE_SNAPSHOT, s->vol->id, &args) :
	       rc;
}

/* After a commit: the reply the transaction built. */
static void snap_committed(struct txn_ctx *t)
{
	struct snap_req *s = (struct snap_req *)t;

	if (s->reply == NULL) {
		req_reply(t->r, s->status, NULL);
		return;
	}
	req_reply(t->r, s->status, json_pack("{s:o}", "snapshot", s->reply));
	s->reply = NULL;
}

void snapshots_create(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, true);

	if (s == NULL)
		return;
	s->body = req_json_body(r);
	if (s->body == NULL || create_schema(r, s) != 0)
		return;
	util_uuid4(s->new_id);
	s->status = 202;
	txn_run_publishing(&s->t, create_txn, snap_committed);
}

/* ======================================================================== show, update */

static int show_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	int rc = snapshots_load_visible(db, &s->t, s->id, false, &s->snap);

	return rc == DB_OK ? snap_view_load(db, &s->t, s->id, true, &s->reply) : rc;
}

void snapshots_show(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s == NULL)
		return;
	s->status = 200;
	if (txn_run(&s->t, show_txn) == 0)
		snap_committed(&s->t);
}

/* Cinder's update schema: name, description, display_name, display_description, at least
 * one of them. */
static int update_schema(struct shim_request *r, struct snap_req *s)
{
	static const char *const keys[] = { "name", "description", "display_name",
					    "display_description", NULL };
	const json_t *v;
	bool any = false;

	if (snapshot_envelope(r, s) != 0)
		return -1;
	for (const char *const *k = keys; *k != NULL; k++) {
		v = json_object_get(s->snapshot, *k);
		any = any || v != NULL;
		if (v != NULL && validate_name(r, *k, v) != 0)
			return -1;
	}
	if (validate_no_extra(r, "snapshot", s->snapshot, keys) != 0)
		return -1;
	if (!any) {
		char repr[VALIDATE_REPR_MAX];

		validate_pyrepr(s->snapshot, repr, sizeof(repr));
		fault_reply(r, 400, "Invalid input for field/attribute snapshot. Value: %s. %s is "
			    "not valid under any of the given schemas", repr, repr);
		return -1;
	}
	/* name wins over display_name, description over display_description, as Cinder's
	 * controller maps them. */
	for (int i = 0; i < 2; i++) {
		const char *key = i == 0 ? "name" : "description";
		const char *old = i == 0 ? "display_name" : "display_description";

		v = json_object_get(s->snapshot, key);
		if (v == NULL)
			v = json_object_get(s->snapshot, old);
		if (v == NULL)
			continue;
		if (i == 0) {
			s->name = json_string_value(v);
			s->name_set = true;
		} else {
			s->description = json_string_value(v);
			s->description_set = true;
		}
	}
	return 0;
}

static int update_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	int rc = snapshots_load_visible(db, &s->t, s->id, true, &s->snap);

	if (rc != DB_OK)
		return rc;
	if (!policy_enforce(s->t.r, &update_policy, s->snap.project_id))
		return TXN_FAULT;
	/* An update to null clears the column: the empty string stands for it here. */
	rc = snap_update_names(db, s->id, s->name_set ? (s->name != NULL ? s->name : "") : NULL,
			       s->description_set ? (s->description != NULL ? s->description : "")
						  : NULL);
	if (rc != DB_OK)
		return txn_fail(&s->t, rc, NULL);
	return snap_view_load(db, &s->t, s->id, false, &s->reply);
}

void snapshots_update(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s == NULL)
		return;
	s->body = req_json_body(r);
	if (s->body == NULL || update_schema(r, s) != 0)
		return;
	s->status = 200;
	if (txn_run(&s->t, update_txn) == 0)
		snap_committed(&s->t);
}

/* ======================================================================== delete */

/*
 * Cinder's delete_snapshot: snapshot s (locked) goes "deleting" where its status is available
 * or error (any status with force) and it belongs to no group; s is read again and rpc gets
 * the delete_snapshot arguments (pointing into s and f) for the cast. Returns DB_OK,
 * TXN_FAULT with the 400 set, or a db status.
 */
static int snapshot_delete_start(db_conn *db, struct txn_ctx *t, struct snap_row *s,
				 bool force, union proto_args *rpc,
				 struct proto_snapshot_fields *f)
{
	static const char *const deletable[] = { SNAP_S_AVAILABLE, SNAP_S_ERROR };
	int rc = VOL_CONFLICT;

	if (s->group_snapshot_id[0] == '\0')
		rc = snap_cas_status(db, s->id, deletable, force ? 0 : 2, SNAP_S_DELETING, NULL);
	if (rc == VOL_CONFLICT) {
		fault_reply(t->r, 400, "Invalid snapshot: Snapshot %s must not be part of a "
			    "group.", force ? "" : "status must be available or error and");
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(t, rc, NULL);
	memset(rpc, 0, sizeof(*rpc));
	return snapshot_ref(db, t, s->id, s, f, &rpc->delete_snapshot.snapshot);
}

static int delete_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	struct proto_snapshot_fields f;
	union proto_args args;
	int rc = snapshots_load_visible(db, &s->t, s->id, true, &s->snap);

	if (rc != DB_OK)
		return rc;
	if (!policy_enforce(s->t.r, &delete_policy, s->snap.project_id))
		return TXN_FAULT;
	rc = schedule_check_not_frozen(db, s->t.r, s->snap.volume_id);
	if (rc != DB_OK)
		return rc;
	rc = snapshot_delete_start(db, &s->t, &s->snap, false, &args, &f);
	return rc == DB_OK ? cast_volume(&s->t, db, PROTO_M_DELETE_SNAPSHOT, s->snap.volume_id,
					 &args) : rc;
}

void snapshots_delete(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s == NULL)
		return;
	s->status = 202;
	txn_run_publishing(&s->t, delete_txn, snap_committed);
}

/* ======================================================================== list */

/* Sort keys of the snapshot list: the model's columns volmgr keeps. */
static const struct listing_sort_key sort_keys[] = {
	{ "created_at", "s.created_at" }, { "updated_at", "s.updated_at" }, { "id", "s.id" },
	{ "name", "s.display_name" }, { "display_name", "s.display_name" },
	{ "status", "s.status" }, { "volume_id", "s.volume_id" }, { "size", "s.volume_size" },
};

/* The filters of Cinder's resource_filters.json for snapshots. */
static const char *const filter_keys[] = { "name", "status", "volume_id", "metadata",
					   "availability_zone", NULL };
/* The query parameters that are not filters. */
static const char *const paging_keys[] = { "sort", "sort_key", "sort_dir", "limit", "offset",
					   "marker", "all_tenants", "with_count", "project_id",
					   NULL };

/* metadata is compared as a whole: every pair asked for must be among the snapshot's. */
#define SNAP_LIST_WHERE \
	" AND ($1::text IS NULL OR s.project_id = $1) AND ($2::text IS NULL OR s.status = $2)" \
	" AND ($3::text IS NULL OR s.volume_id = $3) AND ($4::text IS NULL OR" \
	" s.display_name = $4) AND ($5::jsonb IS NULL OR (SELECT coalesce(jsonb_object_agg(" \
	"m.key, m.value), '{}') FROM snapshot_metadata m WHERE m.snapshot_id = s.id" \
	" AND NOT m.deleted) @> $5::jsonb)"

static const char sql_list_marker[] = "SELECT 1" SNAP_VIEW_FROM SNAP_LIST_WHERE " AND s.id = $6";
static const char sql_list_count[] = "SELECT count(*)" SNAP_VIEW_FROM SNAP_LIST_WHERE;

struct snap_list {
	struct txn_ctx t;             /* first: the transaction's argument */
	bool detail;
	bool with_count;
	long count;
	struct listing_page page;
	const char *params[8];        /* project, status, volume, name, metadata, marker,
				       * limit, offset */
	char *metadata;               /* the metadata filter as JSON, or NULL */
	json_t *items;
	char last_id[37];
	int returned;
};

static int list_txn(db_conn *db, void *arg)
{
	struct snap_list *l = arg;
	char sql[2048];
	PGresult *res;
	int rc;

	if (l->params[5] != NULL) {
		rc = listing_marker_check(db, l->t.r, sql_list_marker, 6, l->params, l->params[5]);
		if (rc != DB_OK)
			return rc;
	}
	if (l->with_count) {
		rc = db_exec(db, sql_list_count, 5, l->params, &res);
		if (rc != DB_OK)
			return rc;
		l->count = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	snprintf(sql, sizeof(sql), "WITH numbered AS (" SNAP_VIEW_SELECT ", row_number() OVER "
		 "(ORDER BY %s) AS rn" SNAP_VIEW_FROM SNAP_LIST_WHERE ") SELECT * FROM numbered "
		 "WHERE rn > COALESCE((SELECT rn FROM numbered WHERE id = $6), 0) ORDER BY rn "
		 "LIMIT $7::integer OFFSET $8::integer", l->page.order);
	rc = db_exec(db, sql, 8, l->params, &res);
	if (rc != DB_OK)
		return rc;
	json_decref(l->items);
	l->items = json_array();
	l->returned = PQntuples(res);
	for (int i = 0; i < l->returned && l->items != NULL; i++) {
		json_t *v = snap_view(l->t.r, res, i, l->detail, l->detail);

		if (v == NULL || json_array_append_new(l->items, v) != 0) {
			json_decref(l->items);
			l->items = NULL;
		}
	}
	if (l->returned > 0)
		util_strlcpy(l->last_id, PQgetvalue(res, l->returned - 1, C_ID),
			     sizeof(l->last_id));
	PQclear(res);
	return l->items != NULL ? DB_OK : txn_internal(&l->t);
}

/*
 * The metadata filter as python-cinderclient sends it (Python's repr of a dict,
 * "{'k': 'v'}") or as JSON, into JSON text in *out (malloc'd). Returns 0, or -1 with a 400
 * set.
 */
static int metadata_filter(struct shim_request *r, const char *q, char **out)
{
	char *text = strdup(q);
	json_t *md = NULL;

	*out = NULL;
	if (text == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return -1;
	}
	/* Cinder reads it with ast.literal_eval; single quotes are its only difference from
	 * JSON for a dict of strings. */
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	md = json_loads(text, 0, NULL);
	free(text);
	if (md == NULL || !json_is_object(md)) {
		json_decref(md);
		fault_reply(r, 400, "Invalid input received: Invalid filter keys: metadata");
		return -1;
	}
	*out = json_dumps(md, JSON_COMPACT);
	json_decref(md);
	if (*out == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return -1;
	}
	return 0;
}

static void list(struct shim_request *r, bool detail)
{
	struct snap_list l = { .t = { .r = r }, .detail = detail };
	bool all_tenants = false;
	char bad[512];
	json_t *out;

	if (!r->auth.is_admin && req_ver_ge(r, 3, 33) &&
	    listing_unknown_keys(r, filter_keys, paging_keys, bad, sizeof(bad)) > 0) {
		fault_reply(r, 400, "Invalid filters %s are found in query options.", bad);
		return;
	}
	if (req_query_bool(r, "all_tenants", false, &all_tenants) != 0 ||
	    listing_page_parse(r, sort_keys, sizeof(sort_keys) / sizeof(sort_keys[0]), "s.id",
			       &l.page) != 0)
		return;
	if (req_ver_ge(r, 3, 45) && req_query_bool(r, "with_count", false, &l.with_count) != 0)
		return;
	if (req_query(r, "metadata") != NULL &&
	    metadata_filter(r, req_query(r, "metadata"), &l.metadata) != 0)
		return;
	/* Non-admins see their project; admins theirs, or every project with all_tenants
	 * (optionally narrowed by project_id). */
	l.params[0] = r->auth.is_admin && all_tenants ? req_query(r, "project_id") :
		      r->auth.project_id;
	l.params[1] = req_query(r, "status");
	l.params[2] = req_query(r, "volume_id");
	l.params[3] = req_query(r, "name");
	l.params[4] = l.metadata;
	l.params[5] = req_query(r, "marker");
	l.params[6] = l.page.limit_text;
	l.params[7] = l.page.offset_text;
	if (txn_run(&l.t, list_txn) != 0) {
		json_decref(l.items);
		free(l.metadata);
		return;
	}
	free(l.metadata);
	out = listing_result(r, "snapshots", l.items, detail, &l.page, l.returned, l.last_id);
	if (out != NULL && l.with_count)
		json_object_set_new(out, "count", json_integer(l.count));
	req_reply(r, 200, out);
}

void snapshots_list(struct shim_request *r)
{
	list(r, false);
}

void snapshots_list_detail(struct shim_request *r)
{
	list(r, true);
}

/* ======================================================================== actions */

/* cinder.objects.fields.SnapshotStatus.ALL, in Cinder's order (the message prints them). */
const char *const snapshot_statuses[] = {
	"error", "available", "creating", "deleting", "deleted", "updating", "error_deleting",
	"unmanaging", "backing-up", "restoring", NULL,
};

/* os-reset_status: the status as given, whatever it was (SnapshotAdminController). */
int snapshot_reset_body(db_conn *db, struct action_ctx *a)
{
	int rc = snap_cas_status(db, a->snap.id, NULL, 0, a->arg[0].s, NULL);

	return rc == DB_OK ? DB_OK : txn_fail(&a->t, rc, NULL);
}

/* os-force_delete: Cinder's delete_snapshot with force, then the row's cast. */
int snapshot_force_delete_body(db_conn *db, struct action_ctx *a)
{
	return snapshot_delete_start(db, &a->t, &a->snap, true, &a->rpc, &a->snap_fields);
}

/* The progress format of os-update_snapshot_status: an integer percentage 0..100 ("" and
 * null are no progress). */
int snapshot_update_status_check(struct shim_request *r, const char *name, const json_t *obj)
{
	const char *p = json_string_value(json_object_get(obj, "progress"));
	size_t n = p != NULL ? strlen(p) : 0;
	char *end;
	long v;

	(void)name;
	if (n == 0)
		return 0;
	/* Cinder's int(progress[:-1]): everything but the last character is the number. */
	v = strtol(p, &end, 10);
	if (n == 1 || end != p + n - 1) {
		fault_reply(r, 400, "Invalid input received: progress must be an integer "
			    "percentage");
		return -1;
	}
	if (v < 0 || v > 100 || p[n - 1] != '%') {
		fault_reply(r, 400, "Invalid input received: progress must be an integer "
			    "percentage between 0 and 100");
		return -1;
	}
	return 0;
}

/* os-update_snapshot_status: the transitions Cinder allows, for a driver that creates or
 * deletes a snapshot outside the manager (creating to creating, available or error;
 * deleting to deleting or error_deleting). */
int snapshot_update_status_body(db_conn *db, struct action_ctx *a)
{
	const char *cur = a->snap.status, *to = a->arg[0].s, *progress = a->arg[1].s;
	bool creating = strcmp(cur, SNAP_S_CREATING) == 0;
	bool deleting = strcmp(cur, SNAP_S_DELETING) == 0;
	int rc;

	if (!creating && !deleting) {
		fault_reply(a->t.r, 400, "Snapshot status %s not allowed for "
			    "update_snapshot_status", cur);
		return TXN_FAULT;
	}
	if (!(creating && (strcmp(to, SNAP_S_CREATING) == 0 ||
			   strcmp(to, SNAP_S_AVAILABLE) == 0 || strcmp(to, SNAP_S_ERROR) == 0)) &&
	    !(deleting && (strcmp(to, SNAP_S_DELETING) == 0 ||
			   strcmp(to, SNAP_S_ERROR_DELETING) == 0))) {
		fault_reply(a->t.r, 400, "Provided snapshot status %s not allowed for snapshot "
			    "with status %s.", to, cur);
		return TXN_FAULT;
	}
	rc = snap_cas_status(db, a->snap.id, NULL, 0, to,
			     progress != NULL && progress[0] != '\0' ? progress : NULL);
	return rc == DB_OK ? DB_OK : txn_fail(&a->t, rc, NULL);
}

/*
 * revert (3.40, Cinder's volumes controller and volume API revert_to_snapshot): only to the
 * volume's latest snapshot, of the volume's size; the volume "available" becomes
 * "reverting" and the snapshot "available" "restoring" (409 otherwise), then the
 * revert_to_snapshot cast. The volume is locked (the action's), then the snapshot, in the
 * manager's order.
 */
int revert_body(db_conn *db, struct action_ctx *a)
{
	static const char *const available[] = { VOL_S_AVAILABLE };
	const struct vol_row *v = &a->vol->row;
	const char *want = json_string_value(json_object_get(a->params, "snapshot_id"));
	char latest[37];
	int rc;

	if (!json_is_object(a->params)) {
		fault_reply(a->t.r, 400, "Missing required element 'revert' in request body.");
		return TXN_FAULT;
	}
	rc = snap_latest(db, v->id, latest);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	if (latest[0] == '\0') {
		fault_reply(a->t.r, 400, "Volume %s doesn't have any snapshots.", v->id);
		return TXN_FAULT;
	}
	if (want == NULL || strcmp(want, latest) != 0) {
		fault_reply(a->t.r, 400, "Specified snapshot %s is None or not the latest one of "
			    "volume %s.", want != NULL ? want : "None", v->id);
		return TXN_FAULT;
	}
	rc = snap_get(db, latest, true, &a->snap);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	if (v->size != a->snap.volume_size) {
		fault_reply(a->t.r, 400, "Can't revert volume %s to its latest snapshot %s. The "
			    "volume size must be equal to the snapshot size.", v->id, latest);
		return TXN_FAULT;
	}
	rc = vol_cas_status(db, v->id, available, 1, VOL_S_REVERTING, NULL);
	if (rc == VOL_CONFLICT) {
		fault_reply(a->t.r, 409, "Invalid volume: Can't revert volume %s to its latest "
			    "snapshot %s. Volume's status must be 'available'.", v->id, latest);
		return TXN_FAULT;
	}
	if (rc == DB_OK)
		rc = snap_cas_status(db, latest, (const char *const[]){ SNAP_S_AVAILABLE }, 1,
				     SNAP_S_RESTORING, NULL);
	if (rc == VOL_CONFLICT) {
		fault_reply(a->t.r, 409, "Invalid snapshot: Can't revert volume %s to its latest "
			    "snapshot %s. Snapshot's status must be 'available'.", v->id, latest);
		return TXN_FAULT;
	}
	if (rc == DB_OK)
		rc = snapshot_ref(db, &a->t, latest, &a->snap, &a->snap_fields,
				  &a->rpc.revert_to_snapshot.snapshot);
	if (rc != DB_OK)
		return rc == TXN_FAULT ? rc : txn_fail(&a->t, rc, NULL);
	a->rpc.revert_to_snapshot.volume_id = v->id;
	return DB_OK;
}

/* ======================================================================== create sources */

int snapshots_create_source_load(db_conn *db, struct shim_request *r,
				 struct create_source *src, int *size)
{
	struct snap_row s;
	struct vol_row *v = malloc(sizeof(*v));
	const char *volume_id = src->source_volid;
	const char *status_fault = NULL;
	int rc = DB_OK;

	if (v == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return TXN_FAULT;
	}
	if (src->snapshot_id != NULL) {
		rc = strlen(src->snapshot_id) < sizeof(s.id) ?
		     snap_get(db, src->snapshot_id, false, &s) : VOL_NOT_FOUND;
		if (rc == VOL_NOT_FOUND || (rc == DB_OK && !policy_allowed(&r->auth, &get_policy,
									  s.project_id))) {
			rc = snap_not_found(r, src->snapshot_id);
			goto out;
		}
		if (rc != DB_OK)
			goto out;
		if (strcmp(s.status, SNAP_S_AVAILABLE) != 0)
			status_fault = "Invalid snapshot: Originating snapshot status must be one "
				       "of 'available' values";
		volume_id = s.volume_id;
	}
	rc = strlen(volume_id) < VOL_STR ? vol_get(db, volume_id, false, v) : VOL_NOT_FOUND;
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && src->snapshot_id == NULL &&
				    !view_visible(r, v))) {
		fault_volume_not_found(r, volume_id);
		rc = TXN_FAULT;
		goto out;
	}
	if (rc != DB_OK)
		goto out;
	if (src->snapshot_id == NULL && strcmp(v->status, VOL_S_AVAILABLE) != 0 &&
	    strcmp(v->status, VOL_S_IN_USE) != 0)
		status_fault = "Invalid volume: Originating source volume status must be one of "
			       "'available, in-use' values";
	if (status_fault != NULL) {
		fault_reply(r, 400, "%s", status_fault);
		rc = TXN_FAULT;
		goto out;
	}
	src->size = src->snapshot_id != NULL ? s.volume_size : v->size;
	if (*size < 0)
		*size = src->size;
	if (*size < src->size) {
		if (src->snapshot_id != NULL)
			fault_reply(r, 400, "Invalid input received: Volume size '%d'GB cannot be "
				    "smaller than the snapshot size %dGB. They must be >= original "
				    "snapshot size.", *size, src->size);
		else
			fault_reply(r, 400, "Invalid input received: Volume size '%d'GB cannot be "
				    "smaller than original volume size  %dGB. They must be >= "
				    "original volume size.", *size, src->size);
		rc = TXN_FAULT;
		goto out;
	}
	util_strlcpy(src->type_id, src->snapshot_id != NULL ? s.volume_type_id :
		     v->volume_type_id, sizeof(src->type_id));
	util_strlcpy(src->az, v->availability_zone, sizeof(src->az));
	util_strlcpy(src->host, v->host, sizeof(src->host));
	util_strlcpy(src->cluster_name, v->cluster_name, sizeof(src->cluster_name));
out:
	free(v);
	return rc;
}

/* One source field of a create: null or absent, or a uuid (parameter_types.optional_uuid). */
static int source_field(struct shim_request *r, const json_t *vol, const char *key,
			const char **out)
{
	const json_t *v = json_object_get(vol, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !util_is_uuid(json_string_value(v))) {
		char repr[VALIDATE_REPR_MAX];

		validate_pyrepr(v, repr, sizeof(repr));
		validate_fail(r, key, v, "%s is not valid under any of the given schemas", repr);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int snapshots_create_source_schema(struct shim_request *r, const json_t *vol,
				   struct create_source *src)
{
	memset(src, 0, sizeof(*src));
	return source_field(r, vol, "snapshot_id", &src->snapshot_id) != 0 ||
	       source_field(r, vol, "source_volid", &src->source_volid) != 0 ? -1 : 0;
}
