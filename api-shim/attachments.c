/*
 * attachments.c - Cinder's attachments API (cinder.api.v3.attachments, the attachment_*
 * functions of cinder.volume.api, docs/cinder.md §14.1): the bodies and after steps of the
 * action rows that create, update, delete and complete attachments, and the attachment views
 * (show and the two lists).
 *
 * Create reserves in its transaction (the volume "reserved", an attachment row "reserved");
 * with a connector it then calls attachment_update, whose reply (the connection info) is
 * stored on the attachment and shown. Update makes the same call for an existing
 * attachment. Delete passes the 409 guard of bug 2004555 as os-detach does, calls
 * attachment_delete unless the attachment was only reserved, and then finishes the detach
 * (the attachment gone, the volume's statuses from the attachments that remain). Complete
 * marks the attachment attached and the volume in-use. Both front doors meet in the same
 * rows: an attachment made by os-attach can be deleted here, and one made here detached by
 * os-detach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/volume.h"
#include "proto/json.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/listing.h"
#include "api-shim/shim.h"
#include "api-shim/validate.h"

static const struct policy multiattach_bootable = {
	"volume:multiattach_bootable_volume", POLICY_ADMIN_OR_OWNER,
};

/* Cinder's mode when the caller names none: the manager then takes the connector's. */
#define ATT_MODE_UNSET "null"

/* ---- the views (cinder.api.v3.views.attachments) ---- */

/* The columns every view reads, for volume_attachment a joined with volumes v, plus the
 * volume's "format" admin metadata (show adds it to the connection info). */
#define ATT_VIEW_SELECT \
	"SELECT a.id, a.attach_status, a.instance_uuid, a.volume_id, " \
	"to_char(a.attach_time, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') AS attached_at, " \
	"to_char(a.detach_time, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') AS detached_at, a.attach_mode, " \
	"a.connection_info, (SELECT m.value FROM volume_admin_metadata m WHERE " \
	"m.volume_id = a.volume_id AND m.key = 'format' AND m.deleted = false LIMIT 1) AS format"
#define ATT_VIEW_FROM \
	" FROM volume_attachment a JOIN volumes v ON v.id = a.volume_id" \
	" WHERE a.deleted = false AND v.deleted = false"
#define ATT_VIEW_COLUMNS ATT_VIEW_SELECT ATT_VIEW_FROM

enum { C_ID, C_STATUS, C_INSTANCE, C_VOLUME, C_ATTACHED, C_DETACHED, C_MODE, C_INFO, C_FORMAT };

static json_t *col_or_null(const PGresult *res, int i, int col)
{
	return PQgetisnull(res, i, col) ? json_null() : json_string(PQgetvalue(res, i, col));
}

/* A time as the view normalizes it: "" when there is none. */
static json_t *col_time(const PGresult *res, int i, int col)
{
	return json_string(PQgetisnull(res, i, col) ? "" : PQgetvalue(res, i, col));
}

/* The stored connection info (JSON text) as a value; with_format adds the volume's "format"
 * admin metadata, as show does. */
static json_t *col_connection_info(const PGresult *res, int i, bool with_format)
{
	json_t *info;

	if (PQgetisnull(res, i, C_INFO))
		return json_null();
	info = json_loads(PQgetvalue(res, i, C_INFO), JSON_DECODE_ANY, NULL);
	if (info == NULL)
		return json_null(); /* not written by us or Cinder: shown as none */
	if (with_format && json_is_object(info) && !PQgetisnull(res, i, C_FORMAT))
		json_object_set_new(info, "format", json_string(PQgetvalue(res, i, C_FORMAT)));
	return info;
}

/* Row i of res as the summary or the detail view (flat). NULL on allocation failure. */
static json_t *att_view(const PGresult *res, int i, bool detail, bool with_format)
{
	json_t *o = json_pack("{s:s, s:o, s:o, s:s}", "id", PQgetvalue(res, i, C_ID),
			      "status", col_or_null(res, i, C_STATUS),
			      "instance", col_or_null(res, i, C_INSTANCE),
			      "volume_id", PQgetvalue(res, i, C_VOLUME));

	if (o == NULL || !detail)
		return o;
	if (json_object_set_new(o, "attached_at", col_time(res, i, C_ATTACHED)) != 0 ||
	    json_object_set_new(o, "detached_at", col_time(res, i, C_DETACHED)) != 0 ||
	    json_object_set_new(o, "attach_mode", col_or_null(res, i, C_MODE)) != 0 ||
	    json_object_set_new(o, "connection_info",
				col_connection_info(res, i, with_format)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Every row of res as views in an array. NULL on allocation failure. */
static json_t *att_views(const PGresult *res, bool detail)
{
	json_t *arr = json_array();

	for (int i = 0; arr != NULL && i < PQntuples(res); i++) {
		json_t *v = att_view(res, i, detail, false);

		if (v == NULL || json_array_append_new(arr, v) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- argument rules ---- */

/* A connector, however well-formed, is bounded: the manager stores it with the attachment. */
int attachment_connector_check(struct shim_request *r, const char *name, const json_t *obj)
{
	const json_t *c = json_object_get(obj, "connector");
	size_t len = json_is_object(c) ? json_dumpb(c, NULL, 0, JSON_COMPACT) : 0;

	(void)name;
	if (len <= PROTO_CONNECTOR_MAX)
		return 0;
	fault_reply(r, 400, "Invalid input received: Connector doesn't have required information: "
		    "the connector is larger than %d bytes", PROTO_CONNECTOR_MAX);
	return -1;
}

/* ---- create (attachment_create and _attachment_reserve) ---- */

/* Cinder refuses an attachment to a volume whose status contains "error". */
static bool in_error(const struct vol_row *row)
{
	return strstr(row->status, "error") != NULL;
}

/* An attachment of the volume to instance already exists: a reservation for the same
 * server is allowed (an instance migrating between hosts, LP bug 1694530). */
static bool same_instance(const struct vol_row *row, const char *instance)
{
	for (int i = 0; i < row->nattachments && i < VOL_MAX_ATTACHMENTS; i++)
		if (strcmp(row->attachments[i].instance_uuid, instance) == 0)
			return true;
	return false;
}

static int reserve(db_conn *db, struct action_ctx *a, const char *instance)
{
	static const char *const single[] = { VOL_S_AVAILABLE, "downloading" };
	static const char *const multi[] = { VOL_S_AVAILABLE, VOL_S_IN_USE, "downloading" };
	const struct vol_row *row = &a->vol->row;
	int rc = vol_cas_status(db, row->id, row->multiattach ? multi : single,
				row->multiattach ? 3 : 2, VOL_S_RESERVED, NULL);

	if (rc != VOL_CONFLICT)
		return action_status(a, rc);
	if (instance != NULL && (strcmp(row->status, VOL_S_IN_USE) == 0 ||
				 strcmp(row->status, VOL_S_RESERVED) == 0) &&
	    same_instance(row, instance))
		return DB_OK;
	return ACTION_INVALID_VOLUME(a, "Volume %s status must be %s to reserve, but the current "
				     "status is %s.", row->id, row->multiattach ?
				     "available or in-use or downloading" :
				     "available or downloading", row->status);
}

/* The mode the attachment records: "ro" for a volume flagged readonly (Cinder's deprecated
 * admin metadata wins), else the caller's (from 3.54), else "null". */
static int create_mode(db_conn *db, struct action_ctx *a, const char **mode)
{
	char readonly[VOL_TEXT];
	int rc = vol_admin_md_get(db, a->vol->row.id, ADMIN_MD_READONLY, readonly,
				  sizeof(readonly));

	*mode = ATT_MODE_UNSET;
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	if (rc == DB_OK && strcmp(readonly, "True") == 0)
		*mode = "ro";
	else if (req_ver_ge(a->t.r, 3, 54) && action_arg(a, "mode")->s != NULL)
		*mode = action_arg(a, "mode")->s;
	return DB_OK;
}

int attachment_create_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const char *instance = action_arg(a, "instance_uuid")->s, *mode;
	int rc;

	if (in_error(row))
		return ACTION_INVALID_VOLUME(a, "Volume attachments can not be created if the volume "
					     "is in an error state. The Volume %s currently has a "
					     "status of: %s ", row->id, row->status);
	if (row->multiattach && row->bootable && strcmp(row->status, VOL_S_IN_USE) == 0 &&
	    !policy_enforce(a->t.r, &multiattach_bootable, row->project_id))
		return TXN_FAULT;
	rc = reserve(db, a, instance);
	if (rc != DB_OK)
		return rc;
	rc = create_mode(db, a, &mode);
	if (rc == DB_OK)
		rc = vol_attachment_reserve(db, row->id, instance, mode, a->attachment_buf);
	a->attachment_id = a->attachment_buf;
	return rc == DB_OK ? DB_OK : txn_fail(&a->t, rc, NULL);
}

/* ---- the answer of create and update: the stored connection info and the detail view ---- */

static const char sql_save_info[] =
	"UPDATE volume_attachment SET connection_info = $2, updated_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1 AND deleted = false";
static const char sql_show[] =
	ATT_VIEW_COLUMNS " AND a.id = $1 AND ($2::text IS NULL OR v.project_id = $2)";

struct att_save {
	struct txn_ctx t;             /* first: the transaction's argument */
	const char *id;
	char *info;                   /* the connection info as JSON text */
	json_t *view;
};

static int save_txn(db_conn *db, void *arg)
{
	struct att_save *s = arg;
	const char *params[] = { s->id, s->info };
	PGresult *res;
	int rc = db_exec(db, sql_save_info, 2, params, NULL);

	if (rc == DB_OK)
		rc = db_exec(db, sql_show, 2, (const char *[]){ s->id, NULL }, &res);
	if (rc != DB_OK)
		return rc;
	json_decref(s->view);
	s->view = PQntuples(res) == 1 ? att_view(res, 0, true, false) : NULL;
	PQclear(res);
	/* Deleted by a concurrent request since the call: nothing left to show. */
	if (s->view == NULL)
		return txn_internal(&s->t);
	return DB_OK;
}

/* Stores info (stolen) as the attachment's connection info, as Cinder's API saves the
 * object after the call, and answers 200 with the detail view. */
static void save_and_show(struct action_ctx *a, json_t *info)
{
	struct att_save s = { .t = { .r = a->t.r }, .id = a->attachment_id };

	s.info = json_dumps(info, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(info);
	if (s.info == NULL) {
		fault_reply(a->t.r, 500, "%s", FAULT_MSG_INTERNAL);
		return;
	}
	if (txn_run(&s.t, save_txn) == 0)
		req_reply(a->t.r, 200, json_pack("{s:o}", "attachment", s.view));
	free(s.info);
}

static void connected(struct action_ctx *a, json_t *info)
{
	save_and_show(a, info);
}

/* The connector as an RPC value in the action's arena. Returns false with a 500 set. */
static bool rpc_update_args(struct action_ctx *a)
{
	const struct pv *c = proto_pv_from_json(&a->arena, action_arg(a, "connector")->j);

	if (c == NULL) {
		fault_reply(a->t.r, 500, "%s", FAULT_MSG_INTERNAL);
		return false;
	}
	memset(&a->rpc, 0, sizeof(a->rpc));
	a->rpc.attachment_update.connector = c;
	a->rpc.attachment_update.attachment_id = a->attachment_id;
	return true;
}

/* Cinder's create answers any failure of the call 500 with its message. */
static const struct action_failure_map create_map = {
	NULL, NULL, "Unable to create attachment for volume (%s).", true,
};

void attachment_create_after(struct action_ctx *a)
{
	const json_t *c = action_arg(a, "connector")->j;

	/* Without a connector (null or empty: Cinder tests its truth) the attachment stays
	 * reserved, with an empty connection info. */
	if (!json_is_object(c) || json_object_size(c) == 0) {
		json_t *info = json_object();

		if (info == NULL)
			fault_reply(a->t.r, 500, "%s", FAULT_MSG_INTERNAL);
		else
			save_and_show(a, info);
		return;
	}
	if (rpc_update_args(a))
		action_call(a, PROTO_M_ATTACHMENT_UPDATE, &create_map, connected);
}

/* ---- update (attachment_update) ---- */

static const char sql_connected_hosts[] =
	"SELECT count(*) FROM volume_attachment WHERE volume_id = $1 AND deleted = false AND "
	"coalesce(connection_info, '') NOT IN ('', '{}', 'null')";

/* Cinder answers update's refusals 500, as it does any CinderException there. */
#define UPDATE_FAILED "Unable to update attachment.(%s)."

/* A volume that may not be attached to several hosts already has a connection among its
 * several attachments ("duplicate connectors"). */
static int duplicate_connection(db_conn *db, const struct vol_row *row, bool *dup)
{
	const char *params[] = { row->id };
	struct vol_type type;
	PGresult *res;
	int rc;

	*dup = false;
	if (row->nattachments <= 1 || row->multiattach)
		return DB_OK;
	rc = row->volume_type_id[0] != '\0' ? vol_type_find(db, row->volume_type_id, &type) :
	     VOL_NOT_FOUND;
	if (rc == DB_OK && type.multiattach)
		return DB_OK;
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	rc = db_exec(db, sql_connected_hosts, 1, params, &res);
	if (rc != DB_OK)
		return rc;
	*dup = atol(PQgetvalue(res, 0, 0)) > 0;
	PQclear(res);
	return DB_OK;
}

int attachment_update_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	char reason[512];
	bool dup;
	int rc;

	if (in_error(row)) {
		snprintf(reason, sizeof(reason), "Invalid volume: Volume attachments can not be "
			 "updated if the volume is in an error state. The Volume %s currently has "
			 "a status of: %s ", row->id, row->status);
		fault_reply(a->t.r, 500, UPDATE_FAILED, reason);
		return TXN_FAULT;
	}
	rc = duplicate_connection(db, row, &dup);
	if (rc != DB_OK)
		return action_status(a, rc);
	if (dup) {
		snprintf(reason, sizeof(reason), "Invalid volume: duplicate connectors detected on "
			 "volume %s", row->id);
		fault_reply(a->t.r, 500, UPDATE_FAILED, reason);
		return TXN_FAULT;
	}
	return DB_OK;
}

static const struct action_failure_map update_map = { NULL, NULL, UPDATE_FAILED, true };

void attachment_update_after(struct action_ctx *a)
{
	if (rpc_update_args(a))
		action_call(a, PROTO_M_ATTACHMENT_UPDATE, &update_map, connected);
}

/* ---- delete (attachment_delete and Volume.finish_detach) ---- */

int attachment_delete_body(db_conn *db, struct action_ctx *a)
{
	return guard_body(db, a);
}

static const char sql_remaining[] = ATT_VIEW_COLUMNS " AND a.volume_id = $1 ORDER BY "
				    "a.created_at, a.id";

struct att_finish {
	struct txn_ctx t;             /* first: the transaction's argument */
	const struct action_ctx *a;
	json_t *remaining;
};

static int finish_txn(db_conn *db, void *arg)
{
	struct att_finish *f = arg;
	const char *params[] = { f->a->volume_id };
	PGresult *res;
	/* Cinder's API notifies the detach of an attachment that was only reserved, start and
	 * end; of any other, the manager's attachment_delete did (docs/differences.md). */
	bool reserved = strcmp(f->a->att->attach_status, VOL_AS_RESERVED) == 0;
	int rc = reserved ? volumes_notify(db, f->t.r, "volume.detach.start", f->a->volume_id,
					   NULL, 0) : DB_OK;

	if (rc == DB_OK)
		rc = vol_detached(db, f->a->volume_id, f->a->attachment_id, NULL);
	if (rc == DB_OK && reserved)
		rc = volumes_notify(db, f->t.r, "volume.detach.end", f->a->volume_id, NULL, 0);
	if (rc == DB_OK)
		rc = db_exec(db, sql_remaining, 1, params, &res);
	if (rc != DB_OK)
		return rc;
	json_decref(f->remaining);
	f->remaining = att_views(res, false);
	PQclear(res);
	return f->remaining != NULL ? DB_OK : txn_internal(&f->t);
}

/* The detach finished on the API side; the answer lists the attachments that remain. */
static void finish_detach(struct action_ctx *a, json_t *result)
{
	struct att_finish f = { .t = { .r = a->t.r }, .a = a };

	json_decref(result);
	if (txn_run(&f.t, finish_txn) == 0)
		req_reply(a->t.r, 200, json_pack("{s:o}", "attachments", f.remaining));
}

static const struct action_failure_map delete_map = { NULL, NULL, NULL, false };

/* A reserved attachment has no connection for the manager to end. */
static void delete_allowed(struct action_ctx *a)
{
	if (strcmp(a->att->attach_status, VOL_AS_RESERVED) == 0) {
		finish_detach(a, NULL);
		return;
	}
	memset(&a->rpc, 0, sizeof(a->rpc));
	a->rpc.attachment_delete.attachment_id = a->attachment_id;
	action_call(a, PROTO_M_ATTACHMENT_DELETE, &delete_map, finish_detach);
}

void attachment_delete_after(struct action_ctx *a)
{
	guard_check(a, delete_allowed);
}

/* ---- os-complete ---- */

int attachment_complete_body(db_conn *db, struct action_ctx *a)
{
	return action_status(a, vol_attachment_complete(db, a->volume_id, a->attachment_id));
}

/* ---- show and the lists ---- */

struct att_show {
	struct txn_ctx t;             /* first: the transaction's argument */
	json_t *view;
};

static int show_txn(db_conn *db, void *arg)
{
	struct att_show *s = arg;
	struct shim_request *r = s->t.r;
	const char *params[] = { r->captures[1], r->auth.is_admin ? NULL : r->auth.project_id };
	PGresult *res;
	int rc = db_exec(db, sql_show, 2, params, &res);

	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) == 1) {
		json_decref(s->view);
		s->view = att_view(res, 0, true, true);
		rc = s->view != NULL ? DB_OK : txn_internal(&s->t);
	} else {
		fault_reply(r, 404, "Volume attachment could not be found with filter: "
			    "attachment_id = %s.", r->captures[1]);
		rc = TXN_FAULT;
	}
	PQclear(res);
	return rc;
}

void attachments_show(struct shim_request *r)
{
	struct att_show s = { .t = { .r = r } };

	if (txn_run(&s.t, show_txn) == 0)
		req_reply(r, 200, json_pack("{s:o}", "attachment", s.view));
}

/* Sort keys of the attachment list: the model's columns volmgr keeps. */
static const struct listing_sort_key sort_keys[] = {
	{ "created_at", "a.created_at" }, { "updated_at", "a.updated_at" }, { "id", "a.id" },
	{ "volume_id", "a.volume_id" }, { "instance_uuid", "a.instance_uuid" },
	{ "attach_status", "a.attach_status" }, { "attach_mode", "a.attach_mode" },
	{ "attach_time", "a.attach_time" }, { "detach_time", "a.detach_time" },
};

/* The filters of Cinder's resource_filters.json for attachments, and the query's columns. */
static const char *const filter_keys[] = { "volume_id", "status", "instance_id",
					   "attach_status", NULL };
/* The query parameters that are not filters. */
static const char *const paging_keys[] = { "sort", "sort_key", "sort_dir", "limit", "offset",
					   "marker", "all_tenants", NULL };

#define ATT_LIST_WHERE \
	" AND ($1::text IS NULL OR v.project_id = $1) AND ($2::text IS NULL OR a.volume_id = $2)" \
	" AND ($3::text IS NULL OR a.instance_uuid = $3)" \
	" AND ($4::text IS NULL OR a.attach_status = $4) AND NOT $5::boolean"

static const char sql_marker[] = ATT_VIEW_COLUMNS ATT_LIST_WHERE " AND a.id = $6";

struct att_list {
	struct txn_ctx t;             /* first: the transaction's argument */
	bool detail;
	struct listing_page page;
	const char *params[8];        /* project, volume, instance, attach_status, nothing,
				       * marker, limit, offset */
	json_t *items;
	char last_id[37];
	int returned;
};

static int list_txn(db_conn *db, void *arg)
{
	struct att_list *l = arg;
	char sql[2048];
	PGresult *res;
	int rc;

	if (l->params[5] != NULL) {
		rc = listing_marker_check(db, l->t.r, sql_marker, 6, l->params, l->params[5]);
		if (rc != DB_OK)
			return rc;
	}
	snprintf(sql, sizeof(sql), "WITH numbered AS (" ATT_VIEW_SELECT ", row_number() OVER "
		 "(ORDER BY %s) AS rn" ATT_VIEW_FROM ATT_LIST_WHERE ") SELECT * FROM numbered "
		 "WHERE rn > COALESCE((SELECT rn FROM numbered WHERE id = $6), 0) ORDER BY rn "
		 "LIMIT $7::integer OFFSET $8::integer", l->page.order);
	rc = db_exec(db, sql, 8, l->params, &res);
	if (rc != DB_OK)
		return rc;
	json_decref(l->items);
	l->items = att_views(res, l->detail);
	l->returned = PQntuples(res);
	if (l->returned > 0)
		util_strlcpy(l->last_id, PQgetvalue(res, l->returned - 1, C_ID),
			     sizeof(l->last_id));
	PQclear(res);
	return l->items != NULL ? DB_OK : txn_internal(&l->t);
}

/* From 3.33 a non-admin's query may hold only the configured filters (all_tenants, which
 * python-cinderclient always sends, is ignored); before, other keys are ignored. */
static int check_filters(struct shim_request *r)
{
	char bad[512];

	if (r->auth.is_admin || !req_ver_ge(r, 3, 33))
		return 0;
	if (listing_unknown_keys(r, filter_keys, paging_keys, bad, sizeof(bad)) == 0)
		return 0;
	fault_reply(r, 400, "Invalid filters %s are found in query options.", bad);
	return -1;
}

static void list(struct shim_request *r, bool detail)
{
	struct att_list l = { .t = { .r = r }, .detail = detail };
	bool all_tenants = false;

	if (check_filters(r) != 0 || req_query_bool(r, "all_tenants", false, &all_tenants) != 0 ||
	    listing_page_parse(r, sort_keys, sizeof(sort_keys) / sizeof(sort_keys[0]),
			       "a.id", &l.page) != 0)
		return;
	l.params[0] = r->auth.is_admin && all_tenants ? NULL : r->auth.project_id;
	l.params[1] = req_query(r, "volume_id");
	l.params[2] = req_query(r, "instance_id");
	l.params[3] = req_query(r, "attach_status");
	/* Cinder filters on the model's column "status", which attachments lack, and so finds
	 * nothing (docs/cinder.md §14.1). */
	l.params[4] = req_query(r, "status") != NULL ? "true" : "false";
	l.params[5] = req_query(r, "marker");
	l.params[6] = l.page.limit_text;
	l.params[7] = l.page.offset_text;
	if (txn_run(&l.t, list_txn) != 0) {
		json_decref(l.items);
		return;
	}
	req_reply(r, 200, listing_result(r, "attachments", l.items, detail, &l.page, l.returned,
					 l.last_id));
}

void attachments_list(struct shim_request *r)
{
	list(r, false);
}

void attachments_list_detail(struct shim_request *r)
{
	list(r, true);
}
