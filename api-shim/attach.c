/*
 * attach.c - the legacy attach and detach actions (cinder.api.contrib.volume_actions,
 * cinder.api.contrib.admin_actions _force_detach, and cinder.volume.api): os-reserve, os-unreserve,
 * os-initialize_connection, os-attach, os-begin_detaching, os-roll_detaching,
 * os-terminate_connection, os-detach, os-force_detach and os-update_readonly_flag.
 *
 * The database-only actions run in the action's transaction. The others check and write in
 * the transaction, then, after the commit, make their RPC calls (cast.h call_volume) without
 * holding a row lock; a reply's failure is mapped to the HTTP code Cinder's API gives it.
 *
 * A call that times out is answered 504 and leaves nothing half-done on the API side: the
 * transaction before it wrote nothing the call depends on, and the only write after a call
 * (terminate_connection's unreserve) happens after a successful reply only. The manager either
 * never runs the call (it expired in the queue) or runs it completely, as it would have.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/volume.h"
#include "proto/json.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/cast.h"
#include "api-shim/fault.h"
#include "api-shim/offload.h"
#include "core/nova.h"
#include "api-shim/validate.h"

/* ---- argument rules the spec cannot express ---- */

/* os-attach names an instance or a host (the schema's anyOf). */
int attach_check(struct shim_request *r, const char *name, const json_t *params)
{
	char repr[VALIDATE_REPR_MAX];

	if (json_object_get(params, "instance_uuid") != NULL ||
	    json_object_get(params, "host_name") != NULL)
		return 0;
	validate_pyrepr(params, repr, sizeof(repr));
	validate_fail(r, name, params, "%s is not valid under any of the given schemas", repr);
	return -1;
}

/* ---- database-only actions ---- */

int reserve_body(db_conn *db, struct action_ctx *a)
{
	static const char *const any[] = { VOL_S_AVAILABLE, VOL_S_IN_USE };
	const struct vol_row *row = &a->vol->row;
	int rc = vol_cas_status(db, row->id, any, row->multiattach ? 2 : 1, VOL_S_ATTACHING, NULL);

	if (rc == VOL_CONFLICT)
		return ACTION_INVALID_VOLUME(a, "Volume status must be %s to reserve, but the status is %s.",
				      row->multiattach ? "available or in-use" : "available",
				      row->status);
	return action_status(a, rc);
}

/* Cinder's unreserve_volume: attaching goes back to in-use when attachments remain, else to
 * available; any other status is left alone. */
static const char sql_unreserve[] =
	"UPDATE volumes SET status = CASE WHEN EXISTS (SELECT 1 FROM volume_attachment "
	"WHERE volume_id = $1 AND NOT deleted) THEN '" VOL_S_IN_USE "' ELSE '" VOL_S_AVAILABLE
	"' END, updated_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1 AND NOT deleted AND status = '" VOL_S_ATTACHING "'";

int unreserve_body(db_conn *db, struct action_ctx *a)
{
	const char *params[] = { a->vol->row.id };

	return action_status(a, db_exec(db, sql_unreserve, 1, params, NULL));
}

int begin_detaching_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	static const char *const from[] = { VOL_S_IN_USE };
	const char *m = row->migration_status;
	bool migration_ok = m[0] == '\0' || strcmp(m, "deleting") == 0 ||
			    strcmp(m, "error") == 0 || strcmp(m, "success") == 0;

	/* A migrating volume is left as it is and the request accepted, as Cinder does. */
	if (m[0] != '\0' && !migration_ok)
		return DB_OK;
	if (strcmp(row->attach_status, VOL_AS_ATTACHED) != 0 ||
	    vol_cas_status(db, row->id, from, 1, VOL_S_DETACHING, NULL) == VOL_CONFLICT)
		return ACTION_INVALID_VOLUME(a, "Unable to detach volume. Volume status must be 'in-use' "
				      "and attach_status must be 'attached' to detach.");
	return DB_OK;
}

int roll_detaching_body(db_conn *db, struct action_ctx *a)
{
	static const char *const from[] = { VOL_S_DETACHING };

	return action_status(a, vol_cas_status(db, a->vol->row.id, from, 1, VOL_S_IN_USE, NULL));
}

int readonly_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	bool flag = action_arg(a, "readonly")->b;

	if (strcmp(row->status, VOL_S_AVAILABLE) != 0)
		return ACTION_INVALID_VOLUME(a, "Volume %s status must be available to update readonly "
				      "flag, but current status is: %s.", row->id, row->status);
	return action_status(a, vol_admin_md_set(db, row->id, ADMIN_MD_READONLY,
					       flag ? "True" : "False"));
}

/* ---- calls ---- */

/* The connector argument as an RPC value (NULL for a string or null connector: no host to
 * match), built in the action's arena. Returns false with a 500 set when it does not fit. */
static bool connector_value(struct action_ctx *a, const struct pv **out)
{
	const json_t *c = action_arg(a, "connector")->j;

	*out = NULL;
	if (!json_is_object(c))
		return true;
	*out = proto_pv_from_json(&a->arena, c);
	if (*out == NULL)
		fault_reply(a->t.r, 500, "%s", FAULT_MSG_INTERNAL);
	return *out != NULL;
}

static const char *const initialize_400[] = { "InvalidInput", NULL };
static const struct action_failure_map initialize_map = {
	NULL, initialize_400, "Unable to fetch connection information from backend.", false,
};

int initialize_body(db_conn *db, struct action_ctx *a)
{
	(void)db;
	/* Cinder hands a string connector to the driver, which cannot use it; the filestore
	 * driver needs the connector's host, so a string is refused here. */
	if (!json_is_object(action_arg(a, "connector")->j)) {
		fault_reply(a->t.r, 400, "Invalid input received: Connector doesn't have required "
			    "information: the connector must be an object");
		return TXN_FAULT;
	}
	return DB_OK;
}

static void initialized(struct action_ctx *a, json_t *info)
{
	req_reply(a->t.r, 200, json_pack("{s:o}", "connection_info", info));
}

void initialize_after(struct action_ctx *a)
{
	if (connector_value(a, &a->rpc.initialize_connection.connector))
		action_call(a, PROTO_M_INITIALIZE_CONNECTION, &initialize_map, initialized);
}

static const char *const attach_400[] = {
	"InvalidVolume", "InvalidUUID", "InvalidVolumeAttachMode", NULL,
};
static const struct action_failure_map attach_map = {
	"Error attaching volume", attach_400, NULL, false,
};

/* Cinder's attach adds readonly = False unless the volume has the key, and refuses a mode
 * the flag does not allow before calling the manager. */
int attach_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const char *mode = action_arg(a, "mode")->s;
	char readonly[VOL_STR];
	int rc = vol_admin_md_get(db, row->id, ADMIN_MD_READONLY, readonly, sizeof(readonly));

	if (rc == VOL_NOT_FOUND) {
		util_strlcpy(readonly, "False", sizeof(readonly));
		rc = vol_admin_md_set(db, row->id, ADMIN_MD_READONLY, readonly);
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	if (strcmp(readonly, "True") == 0 && (mode == NULL || strcmp(mode, "ro") != 0)) {
		fault_reply(a->t.r, 400, "Invalid attaching mode '%s' for volume %s.",
			    mode != NULL ? mode : "rw", row->id);
		return TXN_FAULT;
	}
	return DB_OK;
}

void attach_after(struct action_ctx *a)
{
	const char *mode = action_arg(a, "mode")->s;

	a->rpc.attach_volume = (struct proto_args_attach_volume){
		.instance_uuid = action_arg(a, "instance_uuid")->s,
		.host_name = action_arg(a, "host_name")->s,
		.mountpoint = action_arg(a, "mountpoint")->s,
		.mode = mode != NULL ? mode : "rw",
	};
	action_call(a, PROTO_M_ATTACH_VOLUME, &attach_map, action_accepted);
}

/* ---- the detaching actions and their 409 guard (bug 2004555) ---- */

/* The attachment a request names (in its URL or its body), or the volume's only one
 * (attachment_deletion_allowed). */
static const struct vol_attachment *guard_attachment(const struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const char *id;
	int n = row->nattachments < VOL_MAX_ATTACHMENTS ? row->nattachments : VOL_MAX_ATTACHMENTS;

	if (a->att != NULL)
		return a->att;
	id = action_arg(a, "attachment_id")->s;
	if (id == NULL)
		return row->nattachments == 1 ? &row->attachments[0] : NULL;
	for (int i = 0; i < n; i++)
		if (strcmp(row->attachments[i].id, id) == 0)
			return &row->attachments[i];
	return NULL;
}

/*
 * Inside the transaction: remembers the attachment the guard must ask about. As Cinder, a
 * service's request, an attachment without an instance or without a connection (nothing on a
 * compute host to leave dangling) needs no question.
 */
int guard_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_attachment *at = guard_attachment(a);

	(void)db;
	memset(&a->guard, 0, sizeof(a->guard));
	if (a->t.r->auth.is_service || at == NULL || at->instance_uuid[0] == '\0' ||
	    at->connected[0] == '\0')
		return DB_OK;
	util_strlcpy(a->guard.server, at->instance_uuid, sizeof(a->guard.server));
	util_strlcpy(a->guard.attachment_id, at->id, sizeof(a->guard.attachment_id));
	return DB_OK;
}

/* On an offload thread: asks the compute service whether the server still uses the
 * attachment (a call of up to [nova] timeout seconds). */
static void guard_ask(void *arg, bool cancelled)
{
	struct action_ctx *a = arg;

	if (cancelled) {
		a->guard.use = NOVA_FAILED;
		util_strlcpy(a->guard.err, "the service is stopping", sizeof(a->guard.err));
		return;
	}
	a->guard.use = nova_attachment_in_use(a->guard.server, a->vol->row.id,
					      a->guard.attachment_id, a->guard.err,
					      sizeof(a->guard.err));
}

/* Back on a server thread: 409 when the server still uses the attachment, 503 when the
 * compute service cannot tell; otherwise the request goes on. */
static void guard_answered(struct shim_request *r)
{
	struct action_ctx *a = r->state;

	if (a->guard.use == NOVA_NOT_USED) {
		a->guard.then(a);
	} else if (a->guard.use == NOVA_IN_USE) {
		log_warning("Detected user call to delete in-use attachment %s of volume %s. Call "
			    "must come from the compute service with a service token. Bug #2004555",
			    a->guard.attachment_id, a->vol->row.id);
		fault_reply(r, 409, "Detach volume from instance %s using the Compute API",
			    a->guard.server);
	} else {
		fault_unavailable(r, a->guard.err);
	}
}

void guard_check(struct action_ctx *a, void (*then)(struct action_ctx *a))
{
	if (a->guard.server[0] == '\0') {
		then(a);
		return;
	}
	a->guard.then = then;
	if (offload_run(OFFLOAD_COMPUTE, a->t.r, guard_ask, a, guard_answered) != 0)
		fault_unavailable(a->t.r, "too many requests wait for the compute service");
}

/* terminate_connection then, as Cinder's API does after it, unreserve. */
static const struct action_failure_map terminate_map = {
	NULL, NULL, "Unable to terminate volume connection from backend.", false,
};

static int unreserve_txn(db_conn *db, void *arg)
{
	return unreserve_body(db, arg);
}

/* After terminate_connection: the unreserve, then the chain's next step. */
static void terminated(struct action_ctx *a, json_t *result)
{
	json_decref(result);
	if (txn_run(&a->t, unreserve_txn) == 0)
		a->then(a, NULL);
}

/* terminate_connection, then (terminated) the unreserve and then. */
static void terminate(struct action_ctx *a, action_next_fn then)
{
	memset(&a->rpc, 0, sizeof(a->rpc));
	a->then = then;
	if (connector_value(a, &a->rpc.terminate_connection.connector))
		action_call(a, PROTO_M_TERMINATE_CONNECTION, &terminate_map, terminated);
}

static void terminate_accepted(struct action_ctx *a)
{
	terminate(a, action_accepted);
}

void terminate_after(struct action_ctx *a)
{
	guard_check(a, terminate_accepted);
}

static const char *const detach_400[] = { "VolumeAttachmentNotFound", "InvalidVolume", NULL };
static const struct action_failure_map detach_map = {
	"Error detaching volume", detach_400, NULL, false,
};
static const struct action_failure_map force_detach_map = {
	"Error force detaching volume", detach_400, NULL, false,
};

static void detach(struct action_ctx *a, const struct action_failure_map *map)
{
	memset(&a->rpc, 0, sizeof(a->rpc));
	a->rpc.detach_volume.attachment_id = action_arg(a, "attachment_id")->s;
	action_call(a, PROTO_M_DETACH_VOLUME, map, action_accepted);
}

static void detach_accepted(struct action_ctx *a)
{
	detach(a, &detach_map);
}

void detach_after(struct action_ctx *a)
{
	guard_check(a, detach_accepted);
}

static void force_detach_detach(struct action_ctx *a, json_t *result)
{
	json_decref(result);
	detach(a, &force_detach_map);
}

static void force_detach_terminate(struct action_ctx *a)
{
	terminate(a, force_detach_detach);
}

/* admin_actions _force_detach: terminate the connection, then detach. */
void force_detach_after(struct action_ctx *a)
{
	guard_check(a, force_detach_terminate);
}
