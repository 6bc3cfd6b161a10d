/*
 * types.c - the volume type resource, as Cinder's v3 types controller, its types manage
 * extension and its types extra specs extension serve it:
 *
 *   GET    /types                      list (what the caller may see, paginated)
 *   GET    /types/{id}                 show ("default": the caller's default type)
 *   POST   /types                      create (admin)
 *   PUT    /types/{id}                 update name, description, is_public (admin)
 *   DELETE /types/{id}                 delete (admin; not the default, not in use)
 *   GET    /types/{id}/extra_specs     the specs the caller may read
 *   POST   /types/{id}/extra_specs     set specs (admin; not while volumes use the type)
 *   GET    /types/{id}/extra_specs/{key}
 *   PUT    /types/{id}/extra_specs/{key}  (admin)
 *   DELETE /types/{id}/extra_specs/{key}  (admin)
 *
 * What a caller sees of a type (private types, the extra specs members may not read) is
 * vtype.c's. Each request is one transaction; the body is validated before it, as Cinder's
 * schema decorators do, and each check comes in the order Cinder's controller makes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/columns.h"
#include "core/quota.h"
#include "core/settings.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/listing.h"
#include "api-shim/params.h"
#include "api-shim/policy.h"
#include "api-shim/txn.h"
#include "api-shim/validate.h"
#include "api-shim/view.h"
#include "api-shim/vtype.h"

enum type_op {
	TYPE_LIST, TYPE_SHOW, TYPE_CREATE, TYPE_UPDATE, TYPE_DELETE,
	SPECS_INDEX, SPECS_CREATE, SPECS_SHOW, SPECS_UPDATE, SPECS_DELETE,
	ACCESS_LIST, ACCESS_ADD, ACCESS_REMOVE,
};

/* Each operation's policy (Cinder's policies/volume_type.py and type_extra_specs.py; the
 * readers' rules reduce to every caller) and the status of its success. */
static const struct type_op_def {
	struct policy policy;
	unsigned status;
} type_ops[] = {
	[TYPE_LIST] = { { "volume_extension:type_get_all", POLICY_ANY }, 200 },
	[TYPE_SHOW] = { { "volume_extension:type_get", POLICY_ANY }, 200 },
	[TYPE_CREATE] = { { "volume_extension:type_create", POLICY_ADMIN_API }, 200 },
	[TYPE_UPDATE] = { { "volume_extension:type_update", POLICY_ADMIN_API }, 200 },
	[TYPE_DELETE] = { { "volume_extension:type_delete", POLICY_ADMIN_API }, 202 },
	[SPECS_INDEX] = { { "volume_extension:types_extra_specs:index", POLICY_ANY }, 200 },
	[SPECS_CREATE] = { { "volume_extension:types_extra_specs:create", POLICY_ADMIN_API },
			   200 },
	[SPECS_SHOW] = { { "volume_extension:types_extra_specs:show", POLICY_ANY }, 200 },
	[SPECS_UPDATE] = { { "volume_extension:types_extra_specs:update", POLICY_ADMIN_API },
			   200 },
	[SPECS_DELETE] = { { "volume_extension:types_extra_specs:delete", POLICY_ADMIN_API },
			   202 },
	[ACCESS_LIST] = { { "volume_extension:volume_type_access:get_all_for_type",
			    POLICY_ADMIN_API }, 200 },
	[ACCESS_ADD] = { { "volume_extension:volume_type_access:addProjectAccess",
			   POLICY_ADMIN_API }, 202 },
	[ACCESS_REMOVE] = { { "volume_extension:volume_type_access:removeProjectAccess",
			      POLICY_ADMIN_API }, 202 },
};

struct type_req {
	struct txn_ctx t;            /* first: the transaction's argument */
	enum type_op op;
	const char *id;              /* the URL's type id, or NULL */
	const char *key;             /* the URL's extra spec key, or NULL */
	json_t *body;                /* the request's body, which the fields below point into */
	const char *name;            /* create / update: NULL when not sent (or null) */
	const char *description;     /* create / update: NULL when not sent (or null) */
	int is_public;               /* create / update: 0, 1, or -1 when not sent */
	const json_t *specs;         /* the specs to write, or NULL */
	const char *project;         /* ACCESS_ADD / ACCESS_REMOVE: the project */
	char new_id[37];             /* create: the new type's id, chosen once */
	struct vtype_full *type;
	struct listing_page page;    /* list */
	const char *list_params[5];  /* list: visibility, project, marker, limit, offset */
	json_t *reply;               /* the answer's body, built inside the transaction */
};

/* ======================================================================== bodies */

/* True if s is empty or whitespace only (Python's not s.strip()). */
static bool all_space(const char *s)
{
	return s[strspn(s, " \t\n\r\f\v")] == '\0';
}

/* parameter_types.name (nullable: update_name): a string of 1..255 characters; the create's
 * format check also refuses one of whitespace only. */
static int check_type_name(struct shim_request *r, const json_t *v, bool nullable)
{
	char repr[VALIDATE_REPR_MAX];
	size_t n;

	if (nullable && json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return validate_type_fail(r, "name", v, nullable ? "'string', 'null'" : "'string'");
	n = validate_utf8_chars(json_string_value(v));
	validate_pyrepr(v, repr, sizeof(repr));
	if (n < 1 || n > VALIDATE_NAME_MAX_CHARS) {
		validate_fail(r, "name", v, "%s is too %s", repr, n < 1 ? "short" : "long");
		return -1;
	}
	if (!nullable && all_space(json_string_value(v))) {
		fault_reply(r, 400, "An invalid 'name' value was provided. The 'name' can not be "
			    "empty.");
		return -1;
	}
	return 0;
}

/* An extra specs object: keys of key_chars, values strings or null; volmgr bounds their
 * number (VTYPE_MAX_SPECS). */
static int check_specs(struct shim_request *r, const char *field, const json_t *v,
		       const char *key_chars)
{
	if (!json_is_object(v))
		return validate_type_fail(r, field, v, "'object'");
	if (validate_key_values(r, field, v, key_chars, true) != 0)
		return -1;
	if (json_object_size(v) > VTYPE_MAX_SPECS) {
		fault_reply(r, 400, "Invalid input received: at most %d extra specs are supported.",
			    VTYPE_MAX_SPECS);
		return -1;
	}
	return 0;
}

/* The top of Cinder's type bodies: {"volume_type": {...}} ("type" is a property of those
 * schemas by a slip of Cinder's; it is let through). Returns the inner object or NULL with a
 * 400 set; check runs on it between the type and the required keys, as jsonschema orders. */
static int check_wrapped(struct type_req *m, const char *wrapper,
			 int (*check)(struct type_req *m, const json_t *inner))
{
	struct shim_request *r = m->t.r;
	const json_t *inner;

	if (validate_object(r, NULL, m->body) != 0)
		return -1;
	inner = json_object_get(m->body, wrapper);
	if (inner != NULL && (validate_object(r, wrapper, inner) != 0 || check(m, inner) != 0))
		return -1;
	if (validate_required(r, NULL, m->body, (const char *const[]){ wrapper, NULL }) != 0 ||
	    validate_no_extra(r, NULL, m->body,
			      (const char *const[]){ "type", wrapper, NULL }) != 0)
		return -1;
	return 0;
}

/* Cinder's volume_types.create schema. */
static int create_inner(struct type_req *m, const json_t *vt)
{
	static const char *const keys[] = { "name", "description", "extra_specs",
					    "os-volume-type-access:is_public", NULL };
	struct shim_request *r = m->t.r;
	const json_t *v;
	bool is_public = true;

	v = json_object_get(vt, "name");
	if (v != NULL && check_type_name(r, v, false) != 0)
		return -1;
	v = json_object_get(vt, "description");
	if (v != NULL && validate_string_or_null(r, "description", v, VALIDATE_NAME_MAX_CHARS) != 0)
		return -1;
	m->specs = json_object_get(vt, "extra_specs");
	if (m->specs != NULL && check_specs(r, "extra_specs", m->specs, VALIDATE_KEY_CHARS) != 0)
		return -1;
	v = json_object_get(vt, keys[3]);
	if (v != NULL && validate_boolean(r, keys[3], v, false, &is_public) != 0)
		return -1;
	if (validate_required(r, "volume_type", vt, (const char *const[]){ "name", NULL }) != 0 ||
	    validate_no_extra(r, "volume_type", vt, keys) != 0)
		return -1;
	m->name = json_string_value(json_object_get(vt, "name"));
	m->description = json_string_value(json_object_get(vt, "description"));
	m->is_public = is_public;
	return 0;
}

/* Cinder's volume_types.update schema, then the controller's checks of the values. */
static int update_inner(struct type_req *m, const json_t *vt)
{
	static const char *const keys[] = { "name", "description", "is_public", NULL };
	struct shim_request *r = m->t.r;
	const json_t *v;
	bool is_public;

	v = json_object_get(vt, "name");
	if (v != NULL && check_type_name(r, v, true) != 0)
		return -1;
	v = json_object_get(vt, "description");
	if (v != NULL && validate_string_or_null(r, "description", v, VALIDATE_NAME_MAX_CHARS) != 0)
		return -1;
	v = json_object_get(vt, "is_public");
	if (v != NULL && validate_boolean(r, "is_public", v, false, &is_public) != 0)
		return -1;
	if (validate_no_extra(r, "volume_type", vt, keys) != 0)
		return -1;
	m->name = json_string_value(json_object_get(vt, "name"));
	m->description = json_string_value(json_object_get(vt, "description"));
	m->is_public = v != NULL ? is_public : -1;
	return 0;
}

static int create_schema(struct type_req *m)
{
	return check_wrapped(m, "volume_type", create_inner);
}

static int update_schema(struct type_req *m)
{
	struct shim_request *r = m->t.r;

	if (check_wrapped(m, "volume_type", update_inner) != 0 ||
	    !policy_enforce(r, &type_ops[m->op].policy, NULL))
		return -1;
	if (m->name != NULL && all_space(m->name)) {
		fault_reply(r, 400, "Volume type name can not be empty.");
		return -1;
	}
	if (m->name == NULL && m->description == NULL && m->is_public < 0) {
		fault_reply(r, 400, "Specify volume type name, description, is_public or a "
			    "combination thereof.");
		return -1;
	}
	return 0;
}

/* Cinder's types_extra_specs.create schema: {"extra_specs": {...}}. */
static int specs_create_schema(struct type_req *m)
{
	struct shim_request *r = m->t.r;

	if (validate_object(r, NULL, m->body) != 0)
		return -1;
	m->specs = json_object_get(m->body, "extra_specs");
	if (m->specs != NULL &&
	    check_specs(r, "extra_specs", m->specs, VALIDATE_SPEC_KEY_CHARS) != 0)
		return -1;
	if (validate_required(r, NULL, m->body, (const char *const[]){ "extra_specs", NULL }) ||
	    validate_no_extra(r, NULL, m->body, (const char *const[]){ "extra_specs", NULL }) != 0)
		return -1;
	return 0;
}

/* Cinder's types_extra_specs.update schema: the body is the one spec {key: value}. */
static int specs_update_schema(struct type_req *m)
{
	struct shim_request *r = m->t.r;
	char repr[VALIDATE_REPR_MAX];

	if (check_specs(r, NULL, m->body, VALIDATE_SPEC_KEY_CHARS) != 0)
		return -1;
	validate_pyrepr(m->body, repr, sizeof(repr));
	if (json_object_size(m->body) != 1) {
		validate_fail(r, NULL, m->body, "%s %s", repr, json_object_size(m->body) == 0 ?
			      "does not have enough properties" : "has too many properties");
		return -1;
	}
	m->specs = m->body;
	return 0;
}

/* Cinder's volume_type_access schemas: {"<action>": {"project": <uuid>}}. */
static int access_inner(struct type_req *m, const json_t *inner)
{
	static const struct param_spec spec = { .args = {
		{ .key = "project", .kind = PARAM_UUID, .required = true },
	} };
	struct param_value out[PARAMS_MAX];
	const char *name = m->op == ACCESS_ADD ? "addProjectAccess" : "removeProjectAccess";

	if (params_parse(m->t.r, name, inner, &spec, out) != 0)
		return -1;
	m->project = out[0].s;
	return 0;
}

static int access_schema(struct type_req *m)
{
	return check_wrapped(m, m->op == ACCESS_ADD ? "addProjectAccess" : "removeProjectAccess",
			     access_inner);
}

/* ======================================================================== the transaction */

static const char sql_type_name_taken[] =
	"SELECT 1 FROM volume_types WHERE name = $1 AND NOT deleted AND id <> $2";

static const char sql_type_insert[] =
	"INSERT INTO volume_types (created_at, updated_at, deleted, id, name, description,"
	" is_public) VALUES (now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, $1, $2,"
	" $3, $4::boolean)";

/* NULL arguments leave the column as it is. */
static const char sql_type_update[] =
	"UPDATE volume_types SET name = COALESCE($2, name),"
	" description = COALESCE($3, description), is_public = COALESCE($4::boolean, is_public),"
	" updated_at = now() AT TIME ZONE 'utc' WHERE id = $1 AND NOT deleted";

/* Cinder's volume_type_extra_specs_update_or_create, one key. */
static const char sql_spec_set[] =
	V_SQL_KV_SET("volume_type_extra_specs", "volume_type_id");

static const char sql_spec_delete[] =
	"UPDATE volume_type_extra_specs SET deleted = true, deleted_at = now() AT TIME ZONE 'utc'"
	" WHERE volume_type_id = $1 AND key = $2 AND NOT deleted RETURNING id";

static const char sql_type_in_use[] =
	"SELECT 1 FROM volumes WHERE volume_type_id = $1 AND NOT deleted LIMIT 1";

/* Whether the type is some project's default (default_volume_types) or the configured one
 * (by name, $2), and how many live types there are. */
static const char sql_type_delete_guards[] =
	"SELECT EXISTS (SELECT 1 FROM default_volume_types WHERE volume_type_id = $1"
	"  AND NOT COALESCE(deleted, false)),"
	" EXISTS (SELECT 1 FROM volume_types WHERE id = $1 AND name = $2 AND NOT deleted),"
	" (SELECT count(*) FROM volume_types WHERE NOT deleted)";

/* Cinder's volume_type_destroy: the type, its specs and its project access rows (whose
 * integer "deleted" takes the row's id). */
static const char *const sql_type_destroy[] = {
	"UPDATE volume_types SET deleted = true, deleted_at = now() AT TIME ZONE 'utc'"
	" WHERE id = $1 AND NOT deleted",
	"UPDATE volume_type_extra_specs SET deleted = true, deleted_at = now() AT TIME ZONE 'utc'"
	" WHERE volume_type_id = $1 AND NOT deleted",
	"UPDATE volume_type_projects SET deleted = id, deleted_at = now() AT TIME ZONE 'utc'"
	" WHERE volume_type_id = $1 AND deleted = 0",
};

#define NDESTROY (sizeof(sql_type_destroy) / sizeof(sql_type_destroy[0]))

/* Runs sql with params; *rows gets how many rows it returned. */
static int query_rows(db_conn *db, const char *sql, int n, const char *const *params, int *rows)
{
	PGresult *res;
	int rc = db_exec(db, sql, n, params, &res);

	if (rc != DB_OK)
		return rc;
	*rows = PQntuples(res);
	PQclear(res);
	return DB_OK;
}

/* 409 when another live type has the name (Cinder's VolumeTypeExists). */
static int check_name_free(db_conn *db, struct type_req *m, const char *self_id)
{
	const char *p[2] = { m->name, self_id };
	int rows, rc = query_rows(db, sql_type_name_taken, 2, p, &rows);

	if (rc == DB_OK && rows > 0) {
		fault_reply(m->t.r, 409, "Volume Type %s already exists.", m->name);
		return TXN_FAULT;
	}
	return rc;
}

/* Cinder's _allow_update: no extra spec changes while live volumes have the type. */
static int check_not_in_use(db_conn *db, struct type_req *m, const char *message)
{
	const char *p[1] = { m->id };
	int rows, rc = query_rows(db, sql_type_in_use, 1, p, &rows);

	if (rc == DB_OK && rows > 0) {
		fault_reply(m->t.r, 400, "%s", message);
		return TXN_FAULT;
	}
	return rc;
}

static const struct vtype_spec *spec_find(const struct vtype_full *t, const char *key)
{
	for (int i = 0; i < t->nspecs; i++)
		if (strcmp(t->specs[i].key, key) == 0)
			return &t->specs[i];
	return NULL;
}

/* The value of spec key, NULL when it is absent or null. */
static const char *spec_value(const struct vtype_full *t, const char *key)
{
	const struct vtype_spec *sp = spec_find(t, key);

	return sp != NULL && !sp->null ? sp->value : NULL;
}

/* Cinder's _check_cacheable: cacheable and multiattach cannot both be "<is> True", between
 * the new specs and those of the type. */
static int check_cacheable(struct type_req *m)
{
	static const char is_true[] = "<is> True";
	const char *ma = json_string_value(json_object_get(m->specs, "multiattach"));
	const char *ca = json_string_value(json_object_get(m->specs, "cacheable"));
	const char *old_ma = spec_value(m->type, "multiattach");
	const char *old_ca = spec_value(m->type, "cacheable");
	bool new_ma = ma != NULL && strcmp(ma, is_true) == 0;
	bool new_ca = ca != NULL && strcmp(ca, is_true) == 0;

	if ((new_ma && old_ca != NULL && strcmp(old_ca, is_true) == 0) ||
	    (new_ca && old_ma != NULL && strcmp(old_ma, is_true) == 0) || (new_ma && new_ca)) {
		fault_reply(m->t.r, 400, "cacheable cannot be set with multiattach.");
		return TXN_FAULT;
	}
	return DB_OK;
}

/* Sets every spec of m->specs on type id, whose specs are now those of existing (NULL: none),
 * more than VTYPE_MAX_SPECS refused (volmgr's bound: a type must stay showable whole). */
static int write_specs(db_conn *db, struct type_req *m, const char *id,
		       const struct vtype_full *existing)
{
	const char *key;
	json_t *val;
	int added = 0, rc = DB_OK;

	json_object_foreach((json_t *)m->specs, key, val) {
		const char *p[3] = { id, key, json_string_value(val) };

		added += existing == NULL || spec_find(existing, key) == NULL;
		rc = db_exec(db, sql_spec_set, 3, p, NULL);
		if (rc != DB_OK)
			return rc;
	}
	if ((existing != NULL ? existing->nspecs : 0) + added > VTYPE_MAX_SPECS) {
		fault_reply(m->t.r, 400, "Invalid input received: at most %d extra specs are "
			    "supported.", VTYPE_MAX_SPECS);
		return TXN_FAULT;
	}
	return DB_OK;
}

static int do_create(db_conn *db, struct type_req *m)
{
	const char *p[4] = { m->new_id, m->name, m->description, m->is_public ? "true" : "false" };
	int rc = check_name_free(db, m, "");

	if (rc == DB_OK)
		rc = db_exec(db, sql_type_insert, 4, p, NULL);
	if (rc == DB_OK && m->specs != NULL)
		rc = write_specs(db, m, m->new_id, NULL);
	return rc;
}

static int do_update(db_conn *db, struct type_req *m)
{
	const char *p[4] = { m->id, m->name, m->description,
			     m->is_public < 0 ? NULL : m->is_public ? "true" : "false" };
	int rc = DB_OK;

	if (m->name != NULL)
		rc = check_name_free(db, m, m->id);
	if (rc == DB_OK)
		rc = db_exec(db, sql_type_update, 4, p, NULL);
	if (rc == DB_OK && m->name != NULL && strcmp(m->name, m->type->name) != 0) {
		rc = quota_rename_type(db, m->type->name, m->name);
		if (rc == DB_OK)
			log_info("volume type %s renamed from %s to %s", m->id, m->type->name,
				 m->name);
	}
	return rc;
}

static int do_delete(db_conn *db, struct type_req *m)
{
	struct shim_request *r = m->t.r;
	const char *p[2] = { m->type->id, settings.default_volume_type };
	PGresult *res;
	bool project_default, conf_default;
	long ntypes;
	int rc = db_exec(db, sql_type_delete_guards, 2, p, &res);

	if (rc != DB_OK)
		return rc;
	project_default = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	conf_default = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	ntypes = atol(PQgetvalue(res, 0, 2));
	PQclear(res);
	if (project_default || conf_default) {
		fault_reply(r, 400, "The volume type %s is a default volume type and cannot be "
			    "deleted.", m->type->id);
		return TXN_FAULT;
	}
	if (ntypes <= 1) {
		fault_reply(r, 400, "The volume type %s is the only currently defined volume type "
			    "and cannot be deleted.", m->type->id);
		return TXN_FAULT;
	}
	rc = check_not_in_use(db, m, "Target volume type is still in use.");
	for (size_t i = 0; rc == DB_OK && i < NDESTROY; i++)
		rc = db_exec(db, sql_type_destroy[i], 1, p, NULL);
	return rc;
}

static const char sql_access_list[] =
	"SELECT project_id FROM volume_type_projects WHERE volume_type_id = $1 AND deleted = 0"
	" ORDER BY id";

static const char sql_access_find[] =
	"SELECT 1 FROM volume_type_projects WHERE volume_type_id = $1 AND project_id = $2"
	" AND deleted = 0";

static const char sql_access_add[] =
	"INSERT INTO volume_type_projects (created_at, volume_type_id, project_id, deleted)"
	" VALUES (now() AT TIME ZONE 'utc', $1, $2, 0)";

/* Cinder's soft delete of an access row: "deleted" takes the row's id. */
static const char sql_access_remove[] =
	"UPDATE volume_type_projects SET deleted = id, deleted_at = now() AT TIME ZONE 'utc'"
	" WHERE volume_type_id = $1 AND project_id = $2 AND deleted = 0";

/* {"volume_type_access": [{"volume_type_id", "project_id"}, ...]} of a private type. */
static int do_access_list(db_conn *db, struct type_req *m)
{
	const char *p[1] = { m->type->id };
	json_t *list;
	PGresult *res;
	int rc;

	if (m->type->is_public) {
		fault_reply(m->t.r, 404, "Access list not available for public volume types.");
		return TXN_FAULT;
	}
	rc = db_exec(db, sql_access_list, 1, p, &res);
	if (rc != DB_OK)
		return rc;
	list = json_array();
	for (int i = 0; list != NULL && i < PQntuples(res); i++)
		if (json_array_append_new(list, json_pack("{s:s, s:s}", "volume_type_id",
							  m->type->id, "project_id",
							  PQgetvalue(res, i, 0))) != 0) {
			json_decref(list);
			list = NULL;
		}
	PQclear(res);
	m->reply = list != NULL ? json_pack("{s:o}", "volume_type_access", list) : NULL;
	return m->reply != NULL ? DB_OK : txn_internal(&m->t);
}

/* addProjectAccess / removeProjectAccess of a private type: 409 for access already there,
 * 404 for access that is not. */
static int do_access_change(db_conn *db, struct type_req *m)
{
	struct shim_request *r = m->t.r;
	const char *p[2] = { m->type->id, m->project };
	int rows, rc;

	if (m->type->is_public) {
		fault_reply(r, 400, "Invalid volume type: Type access modification is not "
			    "applicable to public volume type.");
		return TXN_FAULT;
	}
	rc = query_rows(db, sql_access_find, 2, p, &rows);
	if (rc != DB_OK)
		return rc;
	if (m->op == ACCESS_ADD && rows > 0) {
		fault_reply(r, 409, "Volume type access for %s / %s combination already exists.",
			    m->id, m->project);
		return TXN_FAULT;
	}
	if (m->op == ACCESS_REMOVE && rows == 0) {
		fault_reply(r, 404, "Volume type access not found for %s / %s combination.", m->id,
			    m->project);
		return TXN_FAULT;
	}
	return db_exec(db, m->op == ACCESS_ADD ? sql_access_add : sql_access_remove, 2, p, NULL);
}

static int do_specs_delete(db_conn *db, struct type_req *m)
{
	const char *p[2] = { m->type->id, m->key };
	int rows, rc;

	if (!policy_enforce(m->t.r, &type_ops[m->op].policy, NULL))
		return TXN_FAULT;
	rc = check_not_in_use(db, m, "Volume Type is currently in use.");
	if (rc == DB_OK)
		rc = query_rows(db, sql_spec_delete, 2, p, &rows);
	if (rc == DB_OK && rows == 0) {
		fault_reply(m->t.r, 404, "Volume Type %s has no extra specs with key %s.", m->id,
			    m->key);
		return TXN_FAULT;
	}
	return rc;
}

/* The answer of an operation that shows one type: m->type in the operation's view. */
static int reply_type(struct type_req *m, enum vtype_view_kind kind)
{
	json_t *v = vtype_view(m->t.r, m->type, kind);

	m->reply = v != NULL ? json_pack("{s:o}", "volume_type", v) : NULL;
	return m->reply != NULL ? DB_OK : txn_internal(&m->t);
}

/* The type id (the URL's, or the one a create made), as the caller sees it (404 otherwise). */
static int load_type(db_conn *db, struct type_req *m, const char *id)
{
	int rc = vtype_load(db, m->t.r, id, m->type);

	return rc == VOL_NOT_FOUND ? TXN_FAULT : rc;
}

static int type_txn(db_conn *db, void *arg)
{
	struct type_req *m = arg;
	struct shim_request *r = m->t.r;
	const struct vtype_spec *sp;
	int rc;

	json_decref(m->reply);
	m->reply = NULL;
	switch (m->op) {
	case TYPE_SHOW:
		rc = strcmp(m->id, "default") == 0 ? vtype_load_default(db, r, m->type) :
		     vtype_load(db, r, m->id, m->type);
		if (rc != DB_OK)
			return rc == VOL_NOT_FOUND ? TXN_FAULT : rc;
		return reply_type(m, VTYPE_VIEW_V3);
	case TYPE_CREATE:
		rc = do_create(db, m);
		if (rc == DB_OK)
			rc = load_type(db, m, m->new_id);
		return rc == DB_OK ? reply_type(m, VTYPE_VIEW_CREATED) : rc;
	case TYPE_UPDATE:
		rc = load_type(db, m, m->id);
		if (rc == DB_OK)
			rc = do_update(db, m);
		if (rc == DB_OK)
			rc = load_type(db, m, m->id);
		return rc == DB_OK ? reply_type(m, VTYPE_VIEW_UPDATED) : rc;
	case TYPE_DELETE:
		rc = load_type(db, m, m->id);
		return rc == DB_OK ? do_delete(db, m) : rc;
	case SPECS_INDEX:
		rc = load_type(db, m, m->id);
		if (rc != DB_OK)
			return rc;
		m->reply = json_pack("{s:o}", "extra_specs", vtype_specs_view(r, m->type));
		return m->reply != NULL ? DB_OK : txn_internal(&m->t);
	case SPECS_SHOW:
		rc = load_type(db, m, m->id);
		if (rc != DB_OK)
			return rc;
		sp = spec_find(m->type, m->key);
		if (sp != NULL && vtype_spec_readable(r, sp->key)) {
			m->reply = json_pack("{s:o}", sp->key, sp->null ? json_null() :
					     json_string(sp->value));
			return m->reply != NULL ? DB_OK : txn_internal(&m->t);
		}
		fault_reply(r, 404, "Volume Type %s has no extra specs with key %s.", m->id,
			    m->key);
		return TXN_FAULT;
	case SPECS_CREATE:
	case SPECS_UPDATE:
		rc = check_not_in_use(db, m, "Volume Type is currently in use.");
		if (rc == DB_OK)
			rc = load_type(db, m, m->id);
		if (rc != DB_OK)
			return rc;
		if (m->op == SPECS_UPDATE && json_object_get(m->specs, m->key) == NULL) {
			fault_reply(r, 400, "Request body and URI mismatch");
			return TXN_FAULT;
		}
		rc = m->op == SPECS_CREATE ? check_cacheable(m) : DB_OK;
		if (rc == DB_OK)
			rc = write_specs(db, m, m->type->id, m->type);
		if (rc != DB_OK)
			return rc;
		m->reply = json_deep_copy(m->body);
		return m->reply != NULL ? DB_OK : txn_internal(&m->t);
	case SPECS_DELETE:
		rc = load_type(db, m, m->id);
		return rc == DB_OK ? do_specs_delete(db, m) : rc;
	case ACCESS_LIST:
		rc = load_type(db, m, m->id);
		return rc == DB_OK ? do_access_list(db, m) : rc;
	case ACCESS_ADD:
	case ACCESS_REMOVE:
		rc = load_type(db, m, m->id);
		return rc == DB_OK ? do_access_change(db, m) : rc;
	case TYPE_LIST:
		break;
	}
	return txn_internal(&m->t);
}

/* ======================================================================== list */

/* Sort keys of Cinder's type listing that volmgr keeps. */
static const struct listing_sort_key list_sort_keys[] = {
	{ "created_at", "created_at" }, { "updated_at", "updated_at" }, { "id", "id" },
	{ "name", "name" }, { "description", "description" }, { "is_public", "is_public" },
};

/* $1 is what the caller lists: "all" (an admin's is_public=None), "private" (an admin's
 * is_public=false) or "visible" (the public types and the private ones project $2 has access
 * to: every member's list, and an admin's by default). */
#define TYPE_LIST_FROM \
	"FROM volume_types t WHERE NOT t.deleted AND CASE $1 WHEN 'all' THEN true" \
	" WHEN 'private' THEN NOT COALESCE(t.is_public, true)" \
	" ELSE COALESCE(t.is_public, true) OR EXISTS (SELECT 1 FROM volume_type_projects a" \
	"  WHERE a.volume_type_id = t.id AND a.project_id = $2 AND a.deleted = 0) END"

static const char sql_marker_known[] =
	"SELECT 1 FROM volume_types WHERE id = $1 AND NOT deleted";

/* Cinder's _parse_is_public, for admins: absent is true, "none" lists every type. */
static int parse_is_public(struct type_req *m)
{
	struct shim_request *r = m->t.r;
	const char *v = req_query(r, "is_public");
	bool b;

	m->list_params[0] = "visible";
	if (!r->auth.is_admin || v == NULL)
		return 0;
	if (strcasecmp(v, "none") == 0) {
		m->list_params[0] = "all";
		return 0;
	}
	if (req_query_bool(r, "is_public", true, &b) != 0) {
		fault_reply(r, 400, "Invalid is_public filter [%s]", v);
		return -1;
	}
	m->list_params[0] = b ? "visible" : "private";
	return 0;
}

static int list_txn(db_conn *db, void *arg)
{
	struct type_req *m = arg;
	struct shim_request *r = m->t.r;
	char sql[1024], last[37] = "", href[1024], rest[160];
	json_t *items = json_array(), *v;
	PGresult *res = NULL;
	int rc = DB_OK, rows = 0, n;

	json_decref(m->reply);
	m->reply = NULL;
	if (items == NULL)
		return txn_internal(&m->t);
	if (m->list_params[2] != NULL)
		rc = query_rows(db, sql_marker_known, 1, &m->list_params[2], &rows);
	if (rc == DB_OK && m->list_params[2] != NULL && rows == 0) {
		fault_reply(r, 404, "Volume type %s could not be found.", m->list_params[2]);
		rc = TXN_FAULT;
	}
	if (rc == DB_OK) {
		snprintf(sql, sizeof(sql), "WITH ordered AS (SELECT t.id, row_number() OVER "
			 "(ORDER BY %s) AS rn " TYPE_LIST_FROM ") SELECT id FROM ordered "
			 "WHERE rn > COALESCE((SELECT rn FROM ordered WHERE id = $3), 0) "
			 "ORDER BY rn LIMIT $4::integer OFFSET $5::integer", m->page.order);
		rc = db_exec(db, sql, 5, m->list_params, &res);
	}
	n = rc == DB_OK ? PQntuples(res) : 0;
	for (int i = 0; rc == DB_OK && i < n; i++) {
		util_strlcpy(last, PQgetvalue(res, i, 0), sizeof(last));
		rc = vtype_load(db, r, last, m->type);
		if (rc == VOL_NOT_FOUND) { /* deleted since the listing: skip it */
			rc = DB_OK;
			continue;
		}
		v = rc == DB_OK ? vtype_view(r, m->type, VTYPE_VIEW_V3) : NULL;
		if (rc == DB_OK && (v == NULL || json_array_append_new(items, v) != 0))
			rc = txn_internal(&m->t);
	}
	PQclear(res);
	if (rc == DB_OK)
		m->reply = json_pack("{s:O}", "volume_types", items);
	json_decref(items);
	if (rc != DB_OK)
		return rc;
	if (m->reply == NULL)
		return txn_internal(&m->t);
	/* Cinder's collection links: the next page when this one is full. */
	if (n > 0 && n == m->page.limit) {
		snprintf(rest, sizeof(rest), "types?limit=%d&marker=%s", m->page.limit, last);
		view_v3_url(r, rest, href, sizeof(href));
		json_t *links = json_pack("[{s:s, s:s}]", "rel", "next", "href", href);

		if (json_object_set_new(m->reply, "volume_type_links", links) != 0)
			return txn_internal(&m->t);
	}
	return DB_OK;
}

/* ======================================================================== the routes */

/* Runs op: the body (when schema is not NULL), the policy when it needs no row, the
 * transaction, the answer. */
static void type_serve(struct shim_request *r, enum type_op op, int (*schema)(struct type_req *m))
{
	const struct type_op_def *def = &type_ops[op];
	struct type_req m = { .t = { .r = r }, .op = op, .is_public = -1,
			      .id = r->ncaptures > 1 ? r->captures[1] : NULL,
			      .key = r->ncaptures > 2 ? r->captures[2] : NULL };
	int rc;

	if (schema != NULL) {
		m.body = req_json_body(r);
		if (m.body == NULL || schema(&m) != 0)
			goto out;
	}
	/* Cinder checks the policy before it loads anything, but for the delete of a spec (after
	 * the type) and the update of a type (after its schema, in update_schema). */
	if (op != SPECS_DELETE && op != TYPE_UPDATE && !policy_enforce(r, &def->policy, NULL))
		goto out;
	m.type = malloc(sizeof(*m.type));
	if (m.type == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		goto out;
	}
	if (op == TYPE_LIST) {
		m.list_params[1] = r->auth.project_id;
		m.list_params[2] = req_query(r, "marker");
		m.list_params[3] = m.page.limit_text;
		m.list_params[4] = m.page.offset_text;
		if (listing_page_parse(r, list_sort_keys, sizeof(list_sort_keys) /
				       sizeof(list_sort_keys[0]), "id", &m.page) != 0 ||
		    parse_is_public(&m) != 0)
			goto out;
		rc = txn_run(&m.t, list_txn);
	} else {
		if (op == TYPE_CREATE)
			util_uuid4(m.new_id);
		rc = txn_run(&m.t, type_txn);
	}
	if (rc != 0)
		goto out;
	if (def->policy.rule == POLICY_ADMIN_API && op != ACCESS_LIST)
		log_info("volume type %s: %s", op == TYPE_CREATE ? m.new_id : m.id,
			 def->policy.name);
	req_reply(r, def->status, m.reply);
	m.reply = NULL;
out:
	json_decref(m.reply);
	json_decref(m.body);
	free(m.type);
}

void types_list(struct shim_request *r)
{
	type_serve(r, TYPE_LIST, NULL);
}

void types_show(struct shim_request *r)
{
	type_serve(r, TYPE_SHOW, NULL);
}

void types_create(struct shim_request *r)
{
	type_serve(r, TYPE_CREATE, create_schema);
}

void types_update(struct shim_request *r)
{
	type_serve(r, TYPE_UPDATE, update_schema);
}

void types_delete(struct shim_request *r)
{
	type_serve(r, TYPE_DELETE, NULL);
}

void type_specs_index(struct shim_request *r)
{
	type_serve(r, SPECS_INDEX, NULL);
}

void type_specs_create(struct shim_request *r)
{
	type_serve(r, SPECS_CREATE, specs_create_schema);
}

void type_specs_show(struct shim_request *r)
{
	type_serve(r, SPECS_SHOW, NULL);
}

void type_specs_update(struct shim_request *r)
{
	type_serve(r, SPECS_UPDATE, specs_update_schema);
}

void type_specs_delete(struct shim_request *r)
{
	type_serve(r, SPECS_DELETE, NULL);
}

void type_access_list(struct shim_request *r)
{
	type_serve(r, ACCESS_LIST, NULL);
}

/* The type actions (Cinder's volume type access extension): the body's one key names the
 * action. */
void types_action(struct shim_request *r)
{
	static const struct { const char *name; enum type_op op; } actions[] = {
		{ "addProjectAccess", ACCESS_ADD }, { "removeProjectAccess", ACCESS_REMOVE },
	};
	json_t *body = req_json_body(r);
	const char *name;

	if (body == NULL)
		return;
	if (!json_is_object(body) || json_object_size(body) != 1) {
		fault_reply(r, 400, FAULT_MSG_MALFORMED_BODY);
		json_decref(body);
		return;
	}
	name = json_object_iter_key(json_object_iter(body));
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(name, actions[i].name) == 0) {
			json_decref(body);
			type_serve(r, actions[i].op, access_schema);
			return;
		}
	}
	fault_reply(r, 400, "There is no such action: %s. Verify the request body and "
		    "Content-Type header and try again.", name);
	json_decref(body);
}
