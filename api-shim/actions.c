/*
 * actions.c - the action endpoints (volumes, attachments) and their table (see actions.h).
 */
#include "api-shim/actions.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/volume.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/validate.h"

/* Room for the RPC arguments of one action: a connector is far smaller. */
#define ACTION_ARENA_CAP (256 * 1024)

#define V3_0 { 3, 0 }
#define NO_MAX { 0, 0 }
#define V(minor) { 3, minor }
/* The attachments API's endpoints. */
#define ATT(ep_) .ep = ACTION_EP_ATTACHMENT##ep_
/* The snapshot actions' endpoint. */
#define SNAP .ep = ACTION_EP_SNAPSHOT
#define RPC(ID) .has_rpc = true, .method = PROTO_M_##ID
#define OWNER(name) { name, POLICY_ADMIN_OR_OWNER }
#define ADMIN(name) { name, POLICY_ADMIN_API }

/* os-volume_upload_image's formats (Cinder's schema) and, from 3.1, its visibility. */
static const char *const disk_formats[] = {
	"raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop", NULL,
};
static const char *const visibilities[] = { "community", "public", "private", "shared", NULL };
#define UPLOAD_ARGS \
	{ "image_name", PARAM_TEXT, .required = true, .min = 1, .max = 255 }, \
	{ "force", PARAM_BOOLEAN }, \
	{ "disk_format", PARAM_ENUM, .values = disk_formats }, \
	{ "container_format", PARAM_TEXT, .min = 0, .max = 255, .nullable = true }

/* The valid values of os-attach's mode (cinder.objects.fields.VolumeAttachMode). */
static const char *const attach_modes[] = { "rw", "ro", NULL };

/* Cinder's policies and schemas for each action (docs/cinder.md). */
static const struct action_def actions[] = {
	{ .name = "os-extend", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "new_size", PARAM_SIZE, .required = true } } },
	  .policy = OWNER("volume:extend"), .choose_policy = extend_policy,
	  .body = extend_body, RPC(EXTEND_VOLUME), .status = 202 },
	{ .name = "os-extend_volume_completion", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "error", PARAM_ERROR_FLAG } } },
	  .policy = ADMIN("volume_extension:volume_admin_actions:extend_volume_completion"),
	  .body = completion_body, RPC(EXTEND_VOLUME_COMPLETION), .status = 202 },
	{ .name = "os-migrate_volume", .min_ver = V3_0, .max_ver = V(15),
	  .params = { .args = {
		  { "host", PARAM_TEXT, .required = true, .max = 255 },
		  { "force_host_copy", PARAM_BOOLEAN },
		  { "lock_volume", PARAM_BOOLEAN } } },
	  .policy = ADMIN("volume_extension:volume_admin_actions:migrate_volume"),
	  .body = migrate_body, RPC(MIGRATE_VOLUME), .status = 202 },
	{ .name = "os-migrate_volume", .min_ver = V(16), .max_ver = NO_MAX,
	  .params = { .args = {
		  { "host", PARAM_TEXT, .max = 255, .nullable = true },
		  { "force_host_copy", PARAM_BOOLEAN },
		  { "lock_volume", PARAM_BOOLEAN },
		  { "cluster", PARAM_TEXT, .max = 255, .nullable = true } } },
	  .policy = ADMIN("volume_extension:volume_admin_actions:migrate_volume"),
	  .body = migrate_body, RPC(MIGRATE_VOLUME), .status = 202 },
	{ .name = "os-migrate_volume_completion", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = {
		  { "new_volume", PARAM_UUID, .required = true },
		  { "error", PARAM_ERROR_FLAG } } },
	  .policy = ADMIN("volume_extension:volume_admin_actions:migrate_volume_completion"),
	  .body = migrate_completion_body, RPC(MIGRATE_VOLUME_COMPLETION),
	  .after = migrate_completion_after },
	{ .name = "os-reset_status", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .precheck = reset_check, .args = {
		  { "status", PARAM_STATUS, .values = reset_volume_statuses,
		    .label = "Volume status" },
		  { "attach_status", PARAM_STATUS, .values = reset_attach_statuses,
		    .label = "Volume attach status", .list = true },
		  { "migration_status", PARAM_STATUS, .values = reset_migration_statuses,
		    .label = "Volume migration status" } } },
	  .policy = ADMIN("volume_extension:volume_admin_actions:reset_status"),
	  .body = reset_body, .status = 202 },
	{ .name = "os-reserve", .min_ver = V3_0, .max_ver = NO_MAX, .params = { .any = true },
	  .policy = OWNER("volume_extension:volume_actions:reserve"), .body = reserve_body,
	  .status = 202 },
	{ .name = "os-unreserve", .min_ver = V3_0, .max_ver = NO_MAX, .params = { .any = true },
	  .policy = OWNER("volume_extension:volume_actions:unreserve"), .body = unreserve_body,
	  .status = 202 },
	{ .name = "os-initialize_connection", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "connector", PARAM_CONNECTOR, .required = true } } },
	  .policy = OWNER("volume_extension:volume_actions:initialize_connection"),
	  .body = initialize_body, RPC(INITIALIZE_CONNECTION), .after = initialize_after },
	{ .name = "os-attach", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .postcheck = attach_check, .args = {
		  { "instance_uuid", PARAM_UUID },
		  { "mountpoint", PARAM_TEXT, .required = true, .min = 1, .max = 255 },
		  { "host_name", PARAM_TEXT, .min = 0, .max = 255 },
		  { "mode", PARAM_ENUM, .values = attach_modes } } },
	  .policy = OWNER("volume_extension:volume_actions:attach"), .body = attach_body,
	  RPC(ATTACH_VOLUME), .after = attach_after },
	{ .name = "os-begin_detaching", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .any = true },
	  .policy = OWNER("volume_extension:volume_actions:begin_detaching"),
	  .body = begin_detaching_body, .status = 202 },
	{ .name = "os-roll_detaching", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .any = true },
	  .policy = OWNER("volume_extension:volume_actions:roll_detaching"),
	  .body = roll_detaching_body, .status = 202 },
	{ .name = "os-terminate_connection", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "connector", PARAM_CONNECTOR_OR_NULL, .required = true } } },
	  .policy = OWNER("volume_extension:volume_actions:terminate_connection"),
	  .body = guard_body, RPC(TERMINATE_CONNECTION), .after = terminate_after },
	{ .name = "os-detach", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .null_ok = true, .args = { { "attachment_id", PARAM_UUID_OR_NULL } } },
	  .policy = OWNER("volume_extension:volume_actions:detach"), .body = guard_body,
	  RPC(DETACH_VOLUME), .after = detach_after },
	{ .name = "os-force_detach", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "connector", PARAM_CONNECTOR_OR_NULL },
				{ "attachment_id", PARAM_STRING_OR_NULL } } },
	  .policy = ADMIN("volume_extension:volume_admin_actions:force_detach"),
	  .body = guard_body, RPC(DETACH_VOLUME), .after = force_detach_after },
	{ .name = "os-update_readonly_flag", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "readonly", PARAM_BOOLEAN, .required = true } } },
	  .policy = OWNER("volume:update_readonly_flag"), .body = readonly_body,
	  .status = 202 },
	{ .name = "os-retype", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = {
		  { "new_type", PARAM_TEXT, .required = true, .min = 0, .max = SIZE_MAX },
		  { "migration_policy", PARAM_ENUM, .values = retype_migration_policies } } },
	  .policy = OWNER("volume:retype"), .body = retype_body, RPC(RETYPE), .status = 202 },
	{ .name = "os-unmanage", .min_ver = V3_0, .max_ver = NO_MAX, .params = { .any = true },
	  .policy = ADMIN("volume_extension:volume_unmanage"), .body = unmanage_body,
	  RPC(DELETE_VOLUME), .status = 202 },
	{ .name = "revert", .min_ver = V(40), .max_ver = NO_MAX, .params = { .any = true },
	  .policy = OWNER("volume:revert_to_snapshot"), .body = revert_body,
	  RPC(REVERT_TO_SNAPSHOT), .status = 202 },
	{ .name = "os-force_delete", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .any = true },
	  .policy = ADMIN("volume_extension:volume_admin_actions:force_delete"),
	  .body = volumes_force_delete_body, RPC(DELETE_VOLUME), .status = 202 },
	{ .name = "os-set_bootable", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "bootable", PARAM_BOOLEAN, .required = true } } },
	  .policy = OWNER("volume:update"), .body = bootable_body, .status = 200 },
	/* Cinder's volume_image_metadata extension (docs/cinder.md §18.1). */
	{ .name = "os-set_image_metadata", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "metadata", PARAM_METADATA, .required = true } } },
	  .policy = OWNER("volume_extension:volume_image_metadata:set"),
	  .body = image_md_set_body, .after = image_md_reply },
	{ .name = "os-unset_image_metadata", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = { { "key", PARAM_TEXT, .required = true, .min = 1, .max = 255 } } },
	  .policy = OWNER("volume_extension:volume_image_metadata:remove"),
	  .body = image_md_unset_body, .status = 200 },
	{ .name = "os-show_image_metadata", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .any = true },
	  .policy = OWNER("volume:get_volume_metadata"),
	  .body = image_md_show_body, .after = image_md_reply },
	/* Upload to an image and reimage (docs/cinder.md §18.2, §18.3). */
	{ .name = "os-volume_upload_image", .min_ver = V3_0, .max_ver = V3_0,
	  .params = { .args = { UPLOAD_ARGS } },
	  .policy = OWNER("volume_extension:volume_actions:upload_image"),
	  .body = upload_body, .after = upload_after },
	{ .name = "os-volume_upload_image", .min_ver = V(1), .max_ver = NO_MAX,
	  .params = { .args = { UPLOAD_ARGS,
		  { "visibility", PARAM_ENUM, .values = visibilities },
		  { "protected", PARAM_BOOLEAN } } },
	  .policy = OWNER("volume_extension:volume_actions:upload_image"),
	  .body = upload_body, .after = upload_after },
	{ .name = "os-reimage", .min_ver = V(68), .max_ver = NO_MAX,
	  .params = { .args = { { "image_id", PARAM_UUID, .required = true },
				{ "reimage_reserved", PARAM_BOOLEAN } } },
	  .policy = OWNER("volume:reimage"), .choose_policy = reimage_policy_for,
	  .before = reimage_before, .body = reimage_body, RPC(REIMAGE), .status = 202 },
	/* The attachments API (cinder.api.v3.attachments, docs/cinder.md §14.1): create's mode
	 * arrives at 3.54, hence two rows. */
	{ ATT(_CREATE), .name = "attachment", .min_ver = V(27), .max_ver = V(53),
	  .params = { .postcheck = attachment_connector_check, .args = {
		  { "instance_uuid", PARAM_UUID },
		  { "connector", PARAM_OBJECT_OR_NULL },
		  { "volume_uuid", PARAM_UUID, .required = true } } },
	  .policy = OWNER("volume:attachment_create"), .body = attachment_create_body,
	  RPC(ATTACHMENT_UPDATE), .after = attachment_create_after },
	{ ATT(_CREATE), .name = "attachment", .min_ver = V(54), .max_ver = NO_MAX,
	  .params = { .postcheck = attachment_connector_check, .args = {
		  { "instance_uuid", PARAM_UUID },
		  { "connector", PARAM_OBJECT_OR_NULL },
		  { "volume_uuid", PARAM_UUID, .required = true },
		  { "mode", PARAM_ENUM, .values = attach_modes } } },
	  .policy = OWNER("volume:attachment_create"), .body = attachment_create_body,
	  RPC(ATTACHMENT_UPDATE), .after = attachment_create_after },
	{ ATT(_UPDATE), .name = "attachment", .min_ver = V(27), .max_ver = NO_MAX,
	  .params = { .postcheck = attachment_connector_check, .args = {
		  { "connector", PARAM_NONEMPTY_OBJECT, .required = true } } },
	  .policy = OWNER("volume:attachment_update"), .body = attachment_update_body,
	  RPC(ATTACHMENT_UPDATE), .after = attachment_update_after },
	{ ATT(_DELETE), .name = NULL, .min_ver = V(27), .max_ver = NO_MAX,
	  .policy = OWNER("volume:attachment_delete"), .body = attachment_delete_body,
	  RPC(ATTACHMENT_DELETE), .after = attachment_delete_after },
	{ ATT(), .name = "os-complete", .min_ver = V(44), .max_ver = NO_MAX,
	  .params = { .any = true },
	  .policy = OWNER("volume:attachment_complete"), .body = attachment_complete_body,
	  .status = 204 },
	/* The snapshot actions (cinder.api.contrib.admin_actions SnapshotAdminController and
	 * snapshot_actions, docs/cinder.md §17.5). */
	{ SNAP, .name = "os-reset_status", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .args = {
		  { "status", PARAM_STATUS, .required = true, .values = snapshot_statuses,
		    .label = "Snapshot status" } } },
	  .policy = ADMIN("volume_extension:snapshot_admin_actions:reset_status"),
	  .body = snapshot_reset_body, .status = 202 },
	{ SNAP, .name = "os-force_delete", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .any = true },
	  .policy = ADMIN("volume_extension:snapshot_admin_actions:force_delete"),
	  .body = snapshot_force_delete_body, RPC(DELETE_SNAPSHOT), .status = 202 },
	{ SNAP, .name = "os-update_snapshot_status", .min_ver = V3_0, .max_ver = NO_MAX,
	  .params = { .postcheck = snapshot_update_status_check, .args = {
		  { "status", PARAM_TEXT, .required = true, .min = 0, .max = SIZE_MAX },
		  { "progress", PARAM_STRING_OR_NULL } } },
	  .policy = OWNER("snapshot_extension:snapshot_actions:update_snapshot_status"),
	  .body = snapshot_update_status_body, .status = 202 },
};

#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

static bool in_range(const struct shim_request *r, const struct action_def *def)
{
	return req_ver_ge(r, def->min_ver.major, def->min_ver.minor) &&
	       (def->max_ver.major == 0 ||
		!req_ver_ge(r, def->max_ver.major, def->max_ver.minor + 1));
}

/* The row of ep named name (NULL: the endpoint's nameless row) that serves r's microversion;
 * else NULL with *named telling whether the name exists at other microversions. */
static const struct action_def *action_find(const struct shim_request *r,
					    enum action_endpoint ep, const char *name,
					    bool *named)
{
	*named = false;
	for (size_t i = 0; i < NACTIONS; i++) {
		const struct action_def *d = &actions[i];

		if (d->ep != ep || (d->name == NULL ? name != NULL :
				     name == NULL || strcmp(d->name, name) != 0))
			continue;
		*named = true;
		if (in_range(r, d))
			return d;
	}
	return NULL;
}

const struct param_value *action_arg(const struct action_ctx *a, const char *key)
{
	static const struct param_value absent;

	for (int i = 0; i < PARAMS_MAX && a->def->params.args[i].key != NULL; i++)
		if (strcmp(a->def->params.args[i].key, key) == 0)
			return &a->arg[i];
	return &absent;
}

int action_status(struct action_ctx *a, int rc)
{
	return rc == DB_OK || rc == VOL_CONFLICT ? DB_OK : txn_fail(&a->t, rc, a->volume_id);
}

static bool attachment_endpoint(enum action_endpoint ep)
{
	return ep == ACTION_EP_ATTACHMENT || ep == ACTION_EP_ATTACHMENT_UPDATE ||
	       ep == ACTION_EP_ATTACHMENT_DELETE;
}

/* Cinder's VolumeAttachmentNotFound, for an attachment that is gone or that the caller may
 * not see. */
static int attachment_not_found(struct action_ctx *a)
{
	fault_reply(a->t.r, 404, "Volume attachment could not be found with filter: "
		    "attachment_id = %s.", a->attachment_id);
	return TXN_FAULT;
}

/*
 * Loads and locks the snapshot of the snapshot endpoint, then loads its volume without a lock:
 * the manager locks a volume before its snapshot, so the API, which holds the snapshot, must
 * not wait for the volume. Returns DB_OK, TXN_FAULT with a 404 set, or a db status.
 */
static int action_load_snapshot(db_conn *db, struct action_ctx *a)
{
	static const struct policy get = { "volume:get_snapshot", POLICY_ADMIN_OR_OWNER };
	int rc = strlen(a->snapshot_id) < sizeof(a->snap.id) ?
		 snap_get(db, a->snapshot_id, true, &a->snap) : VOL_NOT_FOUND;

	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !policy_allowed(&a->t.r->auth, &get,
								  a->snap.project_id))) {
		fault_reply(a->t.r, 404, "Snapshot %s could not be found.", a->snapshot_id);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	memcpy(a->volume_buf, a->snap.volume_id, sizeof(a->volume_buf));
	a->volume_id = a->volume_buf;
	rc = vol_get(db, a->volume_id, false, &a->vol->row);
	return rc == DB_OK ? DB_OK : txn_fail(&a->t, rc, a->volume_id);
}

/* Loads and locks the volume the request targets, with a->att for an attachment endpoint.
 * Returns DB_OK, TXN_FAULT with a 404 set, or a db status. */
static int action_load(db_conn *db, struct action_ctx *a)
{
	bool attachment = attachment_endpoint(a->ep);
	int rc;

	a->att = NULL;
	if (a->ep == ACTION_EP_SNAPSHOT)
		return action_load_snapshot(db, a);
	if (attachment) {
		rc = strlen(a->attachment_id) == 36 ?
		     vol_attachment_volume(db, a->attachment_id, a->volume_buf) : VOL_NOT_FOUND;
		if (rc == VOL_NOT_FOUND)
			return attachment_not_found(a);
		if (rc != DB_OK)
			return rc;
		a->volume_id = a->volume_buf;
	}
	rc = vol_get(db, a->volume_id, true, &a->vol->row);
	if (rc == DB_OK && attachment) {
		for (int i = 0; i < a->vol->row.nattachments && i < VOL_MAX_ATTACHMENTS; i++)
			if (strcmp(a->vol->row.attachments[i].id, a->attachment_id) == 0)
				a->att = &a->vol->row.attachments[i];
		/* Gone while the volume's lock was awaited, or another project's. */
		if (a->att == NULL || !view_visible(a->t.r, &a->vol->row))
			return attachment_not_found(a);
	}
	if (rc == VOL_NOT_FOUND && attachment)
		return attachment_not_found(a);
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !view_visible(a->t.r, &a->vol->row))) {
		fault_volume_not_found(a->t.r, a->volume_id);
		return TXN_FAULT;
	}
	return rc == DB_OK ? DB_OK : txn_fail(&a->t, rc, a->volume_id);
}

/* Lookup (404, also for a volume the caller may not see), policy (403), the body, then the
 * row's cast. */
static int action_txn(db_conn *db, void *arg)
{
	struct action_ctx *a = arg;
	const struct action_def *def = a->def;
	const struct policy *policy;
	int rc;

	/* No action reads the volume's metadata: the row and its attachments are enough (the
	 * image actions load the image metadata they need themselves). */
	a->vol->nmd = a->vol->namd = a->vol->nimd = 0;
	rc = action_load(db, a);
	if (rc != DB_OK)
		return rc;
	policy = def->choose_policy != NULL ? def->choose_policy(a) : &def->policy;
	if (!policy_enforce(a->t.r, policy, a->ep == ACTION_EP_SNAPSHOT ? a->snap.project_id :
					    a->vol->row.project_id))
		return TXN_FAULT;
	memset(&a->rpc, 0, sizeof(a->rpc));
	a->skip_cast = false;
	rc = def->body != NULL ? def->body(db, a) : DB_OK;
	if (rc != DB_OK || !def->has_rpc || proto_method_get(def->method)->is_call || a->skip_cast)
		return rc;
	return cast_volume(&a->t, db, def->method, a->volume_id, &a->rpc);
}

/* The body of create and update: {"attachment": {...}} and nothing else, as Cinder's schema
 * requires. Returns 0, or -1 with a 400 set. */
static int attachment_envelope(struct shim_request *r, const json_t *body)
{
	static const char *const keys[] = { "attachment", NULL };

	if (validate_object(r, NULL, body) != 0 || validate_required(r, NULL, body, keys) != 0)
		return -1;
	return validate_no_extra(r, NULL, body, keys);
}

json_t *actions_parse(struct shim_request *r, struct action_ctx *a)
{
	json_t *body = NULL;
	const char *name = NULL;
	bool named;

	if (a->ep != ACTION_EP_ATTACHMENT_DELETE) {
		body = req_json_body(r);
		if (body == NULL)
			return NULL;
		if (a->ep == ACTION_EP_ATTACHMENT_CREATE || a->ep == ACTION_EP_ATTACHMENT_UPDATE) {
			if (attachment_envelope(r, body) != 0)
				goto fail;
		} else if (!json_is_object(body) || json_object_size(body) != 1) {
			fault_reply(r, 400, FAULT_MSG_MALFORMED_BODY);
			goto fail;
		}
		name = json_object_iter_key(json_object_iter(body));
		a->params = json_object_iter_value(json_object_iter(body));
	}
	a->def = action_find(r, a->ep, name, &named);
	if (a->def == NULL && !named) {
		fault_reply(r, 400, "There is no such action: %s. Verify the request body and "
			    "Content-Type header and try again.", name);
		goto fail;
	}
	/* Cinder's VersionNotFoundForAPIMethod. */
	if (a->def == NULL) {
		fault_reply(r, 404, "API version %d.%d is not supported on this method.",
			    r->ver.major, r->ver.minor);
		goto fail;
	}
	if (name == NULL) {
		/* A request without a body keeps an empty one, so that NULL still means a fault. */
		body = json_object();
		if (body == NULL)
			fault_reply(r, 500, "%s", FAULT_MSG_INTERNAL);
		return body;
	}
	if (params_parse(r, name, a->params, &a->def->params, a->arg) != 0)
		goto fail;
	return body;
fail:
	json_decref(body);
	return NULL;
}

/* Ends what a's request owned, whether its wait ended or not. */
static void action_free(void *state)
{
	struct action_ctx *a = state;

	call_volume_cancel(&a->call);
	free(a->vol);
	free(a->other);
	json_decref(a->image);
	json_decref(a->body);
	pv_arena_destroy(&a->arena);
	free(a);
}

/* After the action's transaction committed (and its cast, if any, was confirmed). */
static void action_committed(struct txn_ctx *t)
{
	struct action_ctx *a = (struct action_ctx *)t;

	if (a->def->after != NULL)
		a->def->after(a);
	else
		req_reply(t->r, a->def->status, NULL);
}

/* Serves a request to endpoint ep: parse, the transaction, then the row's after step. */
static void action_serve(struct shim_request *r, enum action_endpoint ep)
{
	struct action_ctx *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	a->t.r = r;
	a->ep = ep;
	if (ep == ACTION_EP_VOLUME)
		a->volume_id = r->captures[1];
	else if (ep == ACTION_EP_SNAPSHOT)
		a->snapshot_id = r->captures[1];
	else if (ep != ACTION_EP_ATTACHMENT_CREATE)
		a->attachment_id = r->captures[1];
	a->call.slot = -1;
	pv_arena_init(&a->arena, ACTION_ARENA_CAP);
	r->state = a;
	r->state_free = action_free;
	a->body = actions_parse(r, a);
	if (a->body == NULL)
		return;
	if (ep == ACTION_EP_ATTACHMENT_CREATE)
		a->volume_id = action_arg(a, "volume_uuid")->s;
	if (a->volume_id != NULL && strlen(a->volume_id) > VOL_STR - 1) {
		fault_volume_not_found(r, a->volume_id);
		return;
	}
	a->vol = malloc(sizeof(*a->vol));
	if (a->vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	if (a->def->before != NULL)
		a->def->before(a);
	else
		action_begin(a);
}

void action_begin(struct action_ctx *a)
{
	/* Only a transaction that publishes leaves the server thread: it holds its locks until
	 * the broker confirmed. */
	if (a->def->has_rpc && !proto_method_get(a->def->method)->is_call)
		txn_run_publishing(&a->t, action_txn, action_committed);
	else if (txn_run(&a->t, action_txn) == 0)
		action_committed(&a->t);
}

void actions_dispatch(struct shim_request *r)
{
	action_serve(r, ACTION_EP_VOLUME);
}

void snapshots_action(struct shim_request *r)
{
	action_serve(r, ACTION_EP_SNAPSHOT);
}

void attachments_action(struct shim_request *r)
{
	action_serve(r, ACTION_EP_ATTACHMENT);
}

void attachments_create(struct shim_request *r)
{
	action_serve(r, ACTION_EP_ATTACHMENT_CREATE);
}

void attachments_update(struct shim_request *r)
{
	action_serve(r, ACTION_EP_ATTACHMENT_UPDATE);
}

void attachments_delete(struct shim_request *r)
{
	action_serve(r, ACTION_EP_ATTACHMENT_DELETE);
}

/* Maps reply to the client's answer. Returns true when the call succeeded. */
static bool call_ok(struct shim_request *r, const struct call_reply *reply,
		    const struct action_failure_map *map)
{
	if (!reply->failed)
		return true;
	if (strcmp(reply->failure_class, "VolumeNotFound") == 0) {
		fault_reply(r, 404, "%s", reply->failure_message);
		return false;
	}
	for (const char *const *c = map->bad_request; c != NULL && *c != NULL; c++) {
		if (strcmp(*c, reply->failure_class) != 0)
			continue;
		if (map->prefix == NULL)
			fault_reply(r, 400, "%s", reply->failure_message);
		else
			fault_reply(r, 400, "%s - %s: %s", map->prefix, reply->failure_class,
				    reply->failure_message);
		return false;
	}
	log_error("call failed: %s: %s", reply->failure_class, reply->failure_message);
	if (map->text500_message)
		fault_reply(r, 500, map->text500, reply->failure_message);
	else
		fault_reply(r, 500, "%s", map->text500 != NULL ? map->text500 : FAULT_MSG_INTERNAL);
	return false;
}

/* From the reply listener: the call's wait ended. */
static void call_notify(void *arg)
{
	struct action_ctx *a = arg;

	req_wake(a->t.r);
}

/* On a server thread, after call_notify (or at once, when the call could not be sent). */
static void call_resumed(struct shim_request *r)
{
	struct action_ctx *a = r->state;
	struct call_reply reply;

	if (r->replied)
		return; /* the call was never sent: its 503 is set */
	if (call_volume_finish(r, &a->call, &reply) != 0)
		return;
	if (!call_ok(r, &reply, a->call_map)) {
		json_decref(reply.result);
		return;
	}
	a->call_next(a, reply.result);
}

void action_call(struct action_ctx *a, enum proto_method_id method,
		 const struct action_failure_map *map, action_next_fn next)
{
	a->call_map = map;
	a->call_next = next;
	/* Suspended first, so that a reply overtaking this thread finds it waiting. */
	req_suspend(a->t.r, call_resumed);
	if (call_volume_start(a->t.r, &a->vol->row, method, &a->rpc, &a->call, call_notify, a) != 0)
		req_wake(a->t.r);
}

void action_accepted(struct action_ctx *a, json_t *result)
{
	json_decref(result);
	req_reply(a->t.r, 202, NULL);
}

static void print_version(char *out, size_t outlen, struct apiver min, struct apiver max)
{
	if (max.major == 0)
		snprintf(out, outlen, "%d.%d-", min.major, min.minor);
	else
		snprintf(out, outlen, "%d.%d-%d.%d", min.major, min.minor, max.major, max.minor);
}

void actions_print_table(void)
{
	char ver[32];

	for (size_t i = 0; i < NACTIONS; i++) {
		const char *kind = actions[i].ep == ACTION_EP_VOLUME ? "action" :
				   actions[i].ep == ACTION_EP_ATTACHMENT ? "attachment-action" :
				   actions[i].ep == ACTION_EP_SNAPSHOT ? "snapshot-action" : NULL;

		if (kind == NULL)
			continue; /* the other endpoints are routes */
		print_version(ver, sizeof(ver), actions[i].min_ver, actions[i].max_ver);
		printf("%s %s %s %s\n", kind, actions[i].name, ver, actions[i].policy.name);
	}
}
