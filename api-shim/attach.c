/*
 * attach.c - the legacy attach and detach actions (cinder/api/contrib/volume_actions.py,
 * admin_actions.py _force_detach, and cinder/volume/api.py): os-reserve, os-unreserve,
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
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/cast.h"
#include "api-shim/fault.h"
#include "core/nova.h"
#include "api-shim/validate.h"

/* ---- schemas ---- */

/* Cinder validates no body for os-reserve and its kind: anything goes. */
int noparams_schema(struct shim_request *r, const char *name, const json_t *params)
{
	(void)r;
	(void)name;
	(void)params;
	return 0;
}

/* type: the listed JSON types ("object", "string", "null"), as jsonschema names them. */
static int check_types(struct shim_request *r, const char *field, const json_t *v,
		       bool object, bool string, bool null, const char *types)
{
	if ((object && json_is_object(v)) || (string && json_is_string(v)) ||
	    (null && json_is_null(v)))
		return 0;
	return validate_type_fail(r, field, v, types);
}

/* An object with the required keys, the allowed keys, and each present key of a type. */
struct key_rule {
	const char *key;
	bool object, string, null;
	const char *types;
};

static int check_params(struct shim_request *r, const char *name, const json_t *params,
			const struct key_rule *rules, const char *const *allowed,
			const char *const *required)
{
	if (validate_object(r, name, params) != 0)
		return -1;
	for (const struct key_rule *k = rules; k->key != NULL; k++) {
		const json_t *v = json_object_get(params, k->key);

		if (v != NULL && check_types(r, k->key, v, k->object, k->string, k->null,
					     k->types) != 0)
			return -1;
	}
	if (required != NULL && validate_required(r, name, params, required) != 0)
		return -1;
	return validate_no_extra(r, name, params, allowed);
}

static const char *const connector_keys[] = { "connector", NULL };

int initialize_schema(struct shim_request *r, const char *name, const json_t *params)
{
	static const struct key_rule rules[] = {
		{ "connector", true, true, false, "'object', 'string'" }, { NULL, 0, 0, 0, NULL },
	};

	return check_params(r, name, params, rules, connector_keys, connector_keys);
}

int terminate_schema(struct shim_request *r, const char *name, const json_t *params)
{
	static const struct key_rule rules[] = {
		{ "connector", true, true, true, "'string', 'object', 'null'" },
		{ NULL, 0, 0, 0, NULL },
	};

	return check_params(r, name, params, rules, connector_keys, connector_keys);
}

int force_detach_schema(struct shim_request *r, const char *name, const json_t *params)
{
	static const struct key_rule rules[] = {
		{ "connector", true, true, true, "'string', 'object', 'null'" },
		{ "attachment_id", false, true, true, "'string', 'null'" },
		{ NULL, 0, 0, 0, NULL },
	};
	static const char *const keys[] = { "connector", "attachment_id", NULL };

	return check_params(r, name, params, rules, keys, NULL);
}

/* parameter_types.uuid: a string in uuid format (null too when null_ok). */
static int check_uuid(struct shim_request *r, const char *field, const json_t *v, bool null_ok)
{
	if (v == NULL || (null_ok && json_is_null(v)))
		return 0;
	if (json_is_string(v) && util_is_uuid(json_string_value(v)))
		return 0;
	if (null_ok) {
		validate_fail(r, field, v, "%s is not valid under any of the given schemas",
			      json_is_string(v) ? "uuid" : "value");
		return -1;
	}
	if (!json_is_string(v))
		return validate_type_fail(r, field, v, "'string'");
	char repr[VALIDATE_REPR_MAX];

	validate_pyrepr(v, repr, sizeof(repr));
	validate_fail(r, field, v, "%s is not a 'uuid'", repr);
	return -1;
}

int detach_schema(struct shim_request *r, const char *name, const json_t *params)
{
	static const char *const keys[] = { "attachment_id", NULL };

	if (json_is_null(params))
		return 0;
	if (check_types(r, name, params, true, false, true, "'object', 'null'") != 0 ||
	    check_uuid(r, "attachment_id", json_object_get(params, "attachment_id"), true) != 0)
		return -1;
	return validate_no_extra(r, name, params, keys);
}

/* A string of at most maxlen characters (at least minlen). */
static int check_text(struct shim_request *r, const char *field, const json_t *v, size_t minlen,
		      size_t maxlen)
{
	char repr[VALIDATE_REPR_MAX];
	size_t n;

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return validate_type_fail(r, field, v, "'string'");
	n = validate_utf8_chars(json_string_value(v));
	if (n >= minlen && n <= maxlen)
		return 0;
	validate_pyrepr(v, repr, sizeof(repr));
	validate_fail(r, field, v, "%s is too %s", repr, n < minlen ? "short" : "long");
	return -1;
}

int attach_schema(struct shim_request *r, const char *name, const json_t *params)
{
	static const char *const keys[] = { "instance_uuid", "mountpoint", "host_name", "mode",
					    NULL };
	static const char *const required[] = { "mountpoint", NULL };
	const json_t *mode;
	char repr[VALIDATE_REPR_MAX];

	if (validate_object(r, name, params) != 0 ||
	    check_uuid(r, "instance_uuid", json_object_get(params, "instance_uuid"), false) != 0 ||
	    check_text(r, "mountpoint", json_object_get(params, "mountpoint"), 1, 255) != 0 ||
	    check_text(r, "host_name", json_object_get(params, "host_name"), 0, 255) != 0)
		return -1;
	mode = json_object_get(params, "mode");
	if (mode != NULL && (!json_is_string(mode) || (strcmp(json_string_value(mode), "rw") != 0 &&
						       strcmp(json_string_value(mode), "ro") != 0))) {
		validate_pyrepr(mode, repr, sizeof(repr));
		validate_fail(r, "mode", mode, "%s is not one of ['rw', 'ro']", repr);
		return -1;
	}
	if (validate_required(r, name, params, required) != 0)
		return -1;
	if (json_object_get(params, "instance_uuid") == NULL &&
	    json_object_get(params, "host_name") == NULL) {
		validate_pyrepr(params, repr, sizeof(repr));
		validate_fail(r, name, params, "%s is not valid under any of the given schemas",
			      repr);
		return -1;
	}
	return validate_no_extra(r, name, params, keys);
}

int readonly_schema(struct shim_request *r, const char *name, const json_t *params)
{
	static const char *const keys[] = { "readonly", NULL };
	const json_t *v;
	bool b;

	if (validate_object(r, name, params) != 0)
		return -1;
	v = json_object_get(params, "readonly");
	if (v != NULL && !json_is_boolean(v) &&
	    !(json_is_string(v) && proto_parse_bool_string(json_string_value(v), &b) == 0)) {
		char repr[VALIDATE_REPR_MAX];

		validate_pyrepr(v, repr, sizeof(repr));
		validate_fail(r, "readonly", v, "%s is not valid under any of the given schemas",
			      repr);
		return -1;
	}
	if (validate_required(r, name, params, keys) != 0)
		return -1;
	return validate_no_extra(r, name, params, keys);
}

/* ---- policy ---- */

static const struct {
	const char *action;
	const char *policy;
} attach_policies[] = {
	{ "os-reserve", POLICY_RESERVE },
	{ "os-unreserve", POLICY_UNRESERVE },
	{ "os-initialize_connection", POLICY_INITIALIZE },
	{ "os-attach", POLICY_ATTACH },
	{ "os-begin_detaching", POLICY_BEGIN_DETACHING },
	{ "os-roll_detaching", POLICY_ROLL_DETACHING },
	{ "os-terminate_connection", POLICY_TERMINATE },
	{ "os-detach", POLICY_DETACH },
	{ "os-force_detach", POLICY_FORCE_DETACH },
	{ "os-update_readonly_flag", POLICY_UPDATE_READONLY },
};

const char *attach_policy(const struct action_ctx *a)
{
	for (size_t i = 0; i < sizeof(attach_policies) / sizeof(attach_policies[0]); i++)
		if (strcmp(attach_policies[i].action, a->name) == 0)
			return attach_policies[i].policy;
	return "volume:unknown_action"; /* fails closed */
}

/* ---- database-only actions ---- */

/* An InvalidVolume as Cinder's API answers it: 400 "Invalid volume: <reason>". */
#define INVALID_VOLUME(a, ...) \
	(fault_reply((a)->t.r, 400, "Invalid volume: " __VA_ARGS__), TXN_FAULT)

/* Returns DB_OK, or the body's result for a status met inside a body. */
static int body_status(struct action_ctx *a, int rc)
{
	return rc == DB_OK || rc == VOL_CONFLICT ? DB_OK : txn_fail(&a->t, rc, a->volume_id);
}

int reserve_body(db_conn *db, struct action_ctx *a)
{
	static const char *const any[] = { VOL_S_AVAILABLE, VOL_S_IN_USE };
	const struct vol_row *row = &a->vol->row;
	int rc = vol_cas_status(db, row->id, any, row->multiattach ? 2 : 1, VOL_S_ATTACHING, NULL);

	if (rc == VOL_CONFLICT)
		return INVALID_VOLUME(a, "Volume status must be %s to reserve, but the status is %s.",
				      row->multiattach ? "available or in-use" : "available",
				      row->status);
	return body_status(a, rc);
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

	return body_status(a, db_exec(db, sql_unreserve, 1, params, NULL));
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
		return INVALID_VOLUME(a, "Unable to detach volume. Volume status must be 'in-use' "
				      "and attach_status must be 'attached' to detach.");
	return DB_OK;
}

int roll_detaching_body(db_conn *db, struct action_ctx *a)
{
	static const char *const from[] = { VOL_S_DETACHING };

	return body_status(a, vol_cas_status(db, a->vol->row.id, from, 1, VOL_S_IN_USE, NULL));
}

int readonly_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const json_t *v = json_object_get(a->params, "readonly");
	bool flag = json_is_true(v);

	if (json_is_string(v) && proto_parse_bool_string(json_string_value(v), &flag) != 0)
		return txn_internal(&a->t);
	if (strcmp(row->status, VOL_S_AVAILABLE) != 0)
		return INVALID_VOLUME(a, "Volume %s status must be available to update readonly "
				      "flag, but current status is: %s.", row->id, row->status);
	return body_status(a, vol_admin_md_set(db, row->id, ADMIN_MD_READONLY,
					       flag ? "True" : "False"));
}

/* ---- calls ---- */

/* How a call's failure reaches the client: classes answered 400 with "<prefix> -
 * <class>: <message>" (prefix NULL: the message alone), the others 500 with text500. */
struct failure_map {
	const char *prefix;
	const char *const *bad_request;
	const char *text500;
};

/* Maps reply to the client's answer. Returns true when the call succeeded. */
static bool call_ok(struct shim_request *r, const struct call_reply *reply,
		    const struct failure_map *map)
{
	if (!reply->failed)
		return true;
	if (strcmp(reply->failure_class, "VolumeNotFound") == 0) {
		fault_reply(r, 404, "%s", reply->failure_message);
		return false;
	}
	for (const char *const *c = map->bad_request; *c != NULL; c++) {
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
	fault_reply(r, 500, "%s", map->text500 != NULL ? map->text500 : FAULT_MSG_INTERNAL);
	return false;
}

/* Sends method as a call and maps its reply; *result (may be NULL) receives the result.
 * Returns true on success; otherwise the reply is set. */
static bool call(struct action_ctx *a, enum proto_method_id method, const struct cast_args *args,
		 const struct failure_map *map, json_t **result)
{
	struct call_reply reply;
	bool ok;

	if (call_volume(a->t.r, &a->vol->row, method, args, &reply) != 0)
		return false;
	ok = call_ok(a->t.r, &reply, map);
	if (ok && result != NULL)
		*result = reply.result;
	else
		json_decref(reply.result);
	return ok;
}

static const char *const initialize_400[] = { "InvalidInput", NULL };
static const struct failure_map initialize_map = {
	NULL, initialize_400, "Unable to fetch connection information from backend.",
};

int initialize_body(db_conn *db, struct action_ctx *a)
{
	(void)db;
	/* Cinder hands a string connector to the driver, which cannot use it; the filestore
	 * driver needs the connector's host, so a string is refused here. */
	if (!json_is_object(json_object_get(a->params, "connector"))) {
		fault_reply(a->t.r, 400, "Invalid input received: Connector doesn't have required "
			    "information: the connector must be an object");
		return TXN_FAULT;
	}
	return DB_OK;
}

void initialize_after(struct action_ctx *a)
{
	struct cast_args args = { .connector = json_object_get(a->params, "connector") };
	json_t *info = NULL;

	if (call(a, PROTO_M_INITIALIZE_CONNECTION, &args, &initialize_map, &info))
		req_reply(a->t.r, 200, json_pack("{s:o}", "connection_info", info));
}

static const char *const attach_400[] = {
	"InvalidVolume", "InvalidUUID", "InvalidVolumeAttachMode", NULL,
};
static const struct failure_map attach_map = { "Error attaching volume", attach_400, NULL };

/* Cinder's attach adds readonly = False unless the volume has the key, and refuses a mode
 * the flag does not allow before calling the manager. */
int attach_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const char *mode = json_string_value(json_object_get(a->params, "mode"));
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
	const char *mode = json_string_value(json_object_get(a->params, "mode"));
	struct cast_args args = {
		.instance_uuid = json_string_value(json_object_get(a->params, "instance_uuid")),
		.host_name = json_string_value(json_object_get(a->params, "host_name")),
		.mountpoint = json_string_value(json_object_get(a->params, "mountpoint")),
		.mode = mode != NULL ? mode : "rw",
	};

	if (call(a, PROTO_M_ATTACH_VOLUME, &args, &attach_map, NULL))
		req_reply(a->t.r, 202, NULL);
}

/* ---- the detaching actions and their 409 guard (bug 2004555) ---- */

/* The attachment a request names, or the volume's only one (attachment_deletion_allowed). */
static const struct vol_attachment *guard_attachment(const struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	const char *id = json_string_value(json_object_get(a->params, "attachment_id"));
	int n = row->nattachments < VOL_MAX_ATTACHMENTS ? row->nattachments : VOL_MAX_ATTACHMENTS;

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

/* After the transaction: 409 when the server still uses the attachment, 503 when the compute
 * service cannot tell. Returns true when the request may go on. */
static bool guard_allows(struct action_ctx *a)
{
	char err[512];
	int use;

	if (a->guard.server[0] == '\0')
		return true;
	use = nova_attachment_in_use(a->guard.server, a->vol->row.id, a->guard.attachment_id, err,
				     sizeof(err));
	if (use == NOVA_NOT_USED)
		return true;
	if (use == NOVA_IN_USE) {
		log_warning("Detected user call to delete in-use attachment %s of volume %s. Call "
			    "must come from the compute service with a service token. Bug #2004555",
			    a->guard.attachment_id, a->vol->row.id);
		fault_reply(a->t.r, 409, "Detach volume from instance %s using the Compute API",
			    a->guard.server);
	} else {
		fault_unavailable(a->t.r, err);
	}
	return false;
}

/* terminate_connection then, as Cinder's API does after it, unreserve. */
static const struct failure_map terminate_map = {
	NULL, (const char *const[]){ NULL }, "Unable to terminate volume connection from backend.",
};

static int unreserve_txn(db_conn *db, void *arg)
{
	return unreserve_body(db, arg);
}

static bool terminate(struct action_ctx *a)
{
	const json_t *connector = json_object_get(a->params, "connector");
	struct cast_args args = { .connector = json_is_null(connector) ? NULL : connector };

	/* A string connector reaches the manager as null: no connector host to match. */
	if (json_is_string(connector))
		args.connector = NULL;
	return call(a, PROTO_M_TERMINATE_CONNECTION, &args, &terminate_map, NULL) &&
	       txn_run(&a->t, unreserve_txn) == 0;
}

void terminate_after(struct action_ctx *a)
{
	if (guard_allows(a) && terminate(a))
		req_reply(a->t.r, 202, NULL);
}

static const char *const detach_400[] = { "VolumeAttachmentNotFound", "InvalidVolume", NULL };
static const struct failure_map detach_map = { "Error detaching volume", detach_400, NULL };
static const struct failure_map force_detach_map = {
	"Error force detaching volume", detach_400, NULL,
};

static bool detach(struct action_ctx *a, const struct failure_map *map)
{
	struct cast_args args = {
		.attachment_id = json_string_value(json_object_get(a->params, "attachment_id")),
	};

	return call(a, PROTO_M_DETACH_VOLUME, &args, map, NULL);
}

void detach_after(struct action_ctx *a)
{
	if (guard_allows(a) && detach(a, &detach_map))
		req_reply(a->t.r, 202, NULL);
}

/* admin_actions _force_detach: terminate the connection, then detach. */
void force_detach_after(struct action_ctx *a)
{
	if (guard_allows(a) && terminate(a) && detach(a, &force_detach_map))
		req_reply(a->t.r, 202, NULL);
}
