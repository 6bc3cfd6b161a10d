/*
 * vtype.c - volume type lookup and size limits (see vtype.h).
 */
#include "api-shim/vtype.h"

#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "core/settings.h"
#include "api-shim/fault.h"
#include "api-shim/policy.h"

/* Who may see a type: every type for admins ($2 true), else a public one or one its project
 * ($3) has access to (Cinder's _volume_type_get_query). */
#define VTYPE_VISIBLE \
	"($2::boolean OR t.is_public OR EXISTS (SELECT 1 FROM volume_type_projects a" \
	" WHERE a.volume_type_id = t.id AND a.project_id = $3 AND a.deleted = 0))"

/* The type and its live extra specs: one row per spec, or one row with a null key. */
static const char sql_type_load[] =
	"SELECT t.id, t.name, t.description, COALESCE(t.is_public, true), t.qos_specs_id,"
	" s.key, s.value FROM volume_types t"
	" LEFT JOIN volume_type_extra_specs s ON s.volume_type_id = t.id AND NOT s.deleted"
	" WHERE t.id = $1 AND NOT t.deleted AND " VTYPE_VISIBLE " ORDER BY s.id";

/* The project's default type (default_volume_types), else the configured one by name ($4). */
static const char sql_type_default_id[] =
	"SELECT COALESCE((SELECT d.volume_type_id FROM default_volume_types d"
	"  JOIN volume_types t ON t.id = d.volume_type_id AND NOT t.deleted"
	"  WHERE d.project_id = $1 AND NOT COALESCE(d.deleted, false)),"
	" (SELECT id FROM volume_types WHERE name = $2 AND NOT deleted"
	"  ORDER BY created_at DESC LIMIT 1))";

/* The extra specs every caller may read (Cinder's USER_VISIBLE_EXTRA_SPECS). */
static const char *const user_visible_specs[] = {
	"RESKEY:availability_zones", "multiattach", "replication_enabled",
};

static const struct policy read_sensitive = { "volume_extension:types_extra_specs:read_sensitive",
					      POLICY_ADMIN_API };
static const struct policy qos_attribute = { "volume_extension:access_types_qos_specs_id",
					     POLICY_ADMIN_API };

/* Runs sql_type_load for id as r's caller sees types. */
static int load_visible(db_conn *db, const struct shim_request *r, const char *id,
			struct vtype_full *out)
{
	const char *p[3] = { id, r->auth.is_admin ? "true" : "false", r->auth.project_id };
	PGresult *res;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_exec(db, sql_type_load, 3, p, &res);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return VOL_NOT_FOUND;
	}
	util_strlcpy(out->id, PQgetvalue(res, 0, 0), sizeof(out->id));
	utf8_strlcpy(out->name, PQgetvalue(res, 0, 1), sizeof(out->name));
	out->has_description = !PQgetisnull(res, 0, 2);
	utf8_strlcpy(out->description, PQgetvalue(res, 0, 2), sizeof(out->description));
	out->is_public = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	util_strlcpy(out->qos_specs_id, PQgetvalue(res, 0, 4), sizeof(out->qos_specs_id));
	for (int i = 0; i < PQntuples(res) && !PQgetisnull(res, i, 5); i++) {
		struct vtype_spec *sp = &out->specs[out->nspecs];

		if (out->nspecs == VTYPE_MAX_SPECS) {
			log_warning("volume type %s: more than %d extra specs; the rest not shown",
				    out->id, VTYPE_MAX_SPECS);
			break;
		}
		utf8_strlcpy(sp->key, PQgetvalue(res, i, 5), sizeof(sp->key));
		sp->null = PQgetisnull(res, i, 6);
		utf8_strlcpy(sp->value, PQgetvalue(res, i, 6), sizeof(sp->value));
		out->nspecs++;
	}
	PQclear(res);
	return DB_OK;
}

int vtype_load(db_conn *db, struct shim_request *r, const char *id, struct vtype_full *out)
{
	int rc = strlen(id) < sizeof(out->id) ? load_visible(db, r, id, out) : VOL_NOT_FOUND;

	if (rc == VOL_NOT_FOUND)
		fault_reply(r, 404, "Volume type %s could not be found.", id);
	return rc;
}

int vtype_load_default(db_conn *db, struct shim_request *r, struct vtype_full *out)
{
	const char *p[2] = { r->auth.project_id, settings.default_volume_type };
	char id[37] = "";
	PGresult *res;
	int rc = db_exec(db, sql_type_default_id, 2, p, &res);

	if (rc != DB_OK)
		return rc;
	if (!PQgetisnull(res, 0, 0))
		util_strlcpy(id, PQgetvalue(res, 0, 0), sizeof(id));
	PQclear(res);
	rc = id[0] != '\0' ? load_visible(db, r, id, out) : VOL_NOT_FOUND;
	if (rc == VOL_NOT_FOUND)
		fault_reply(r, 404, "Default volume type can not be found.");
	return rc;
}

bool vtype_spec_readable(const struct shim_request *r, const char *key)
{
	if (policy_allowed(&r->auth, &read_sensitive, NULL))
		return true;
	for (size_t i = 0; i < sizeof(user_visible_specs) / sizeof(user_visible_specs[0]); i++)
		if (strcmp(key, user_visible_specs[i]) == 0)
			return true;
	return false;
}

/* The specs of t, all of them or only those the caller may read. */
static json_t *specs_object(const struct shim_request *r, const struct vtype_full *t, bool all)
{
	json_t *o = json_object();

	for (int i = 0; o != NULL && i < t->nspecs; i++) {
		const struct vtype_spec *sp = &t->specs[i];

		if (!all && !vtype_spec_readable(r, sp->key))
			continue;
		if (json_object_set_new(o, sp->key, sp->null ? json_null() :
					json_string(sp->value)) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *vtype_specs_view(const struct shim_request *r, const struct vtype_full *t)
{
	return specs_object(r, t, false);
}

json_t *vtype_view(const struct shim_request *r, const struct vtype_full *t,
		   enum vtype_view_kind kind)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:o}", "id", t->id, "name", t->name,
			      "is_public", t->is_public, "description",
			      t->has_description ? json_string(t->description) : json_null());
	json_t *specs = specs_object(r, t, kind != VTYPE_VIEW_V3);

	if (o == NULL || specs == NULL || json_object_set_new(o, "extra_specs", specs) != 0 ||
	    (kind != VTYPE_VIEW_UPDATED && json_object_set_new(o, "os-volume-type-access:is_public",
							       json_boolean(t->is_public)) != 0)) {
		json_decref(o);
		return NULL;
	}
	if (kind == VTYPE_VIEW_V3 && policy_allowed(&r->auth, &qos_attribute, NULL) &&
	    json_object_set_new(o, "qos_specs_id", t->qos_specs_id[0] != '\0' ?
				json_string(t->qos_specs_id) : json_null()) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char sql_type_usable[] =
	"SELECT 1 FROM volume_types t WHERE t.id = $1 AND " VTYPE_VISIBLE;

/* A private type is as unknown to a caller without access to it as a missing one (Cinder
 * looks types up with the caller's context). Returns DB_OK, VOL_NOT_FOUND or a db status. */
static int check_usable(db_conn *db, const struct shim_request *r, const char *id)
{
	const char *p[3] = { id, r->auth.is_admin ? "true" : "false", r->auth.project_id };
	PGresult *res;
	int rc = db_exec(db, sql_type_usable, 3, p, &res);

	if (rc != DB_OK)
		return rc;
	rc = PQntuples(res) > 0 ? DB_OK : VOL_NOT_FOUND;
	PQclear(res);
	return rc;
}

int vtype_for_request(db_conn *db, struct shim_request *r, const char *name,
		      struct vol_type *out)
{
	int rc;

	if (name == NULL || name[0] == '\0') {
		rc = vol_type_default(db, settings.default_volume_type, out);
		if (rc == VOL_NOT_FOUND)
			fault_reply(r, 500, "The request cannot be fulfilled as the default volume "
				    "type %s cannot be found.", settings.default_volume_type);
		return rc;
	}
	rc = vol_type_find(db, name, out);
	if (rc == DB_OK)
		rc = check_usable(db, r, out->id);
	if (rc == VOL_NOT_FOUND) {
		if (util_is_uuid(name))
			fault_reply(r, 404, "Volume type %s could not be found.", name);
		else
			fault_reply(r, 404, "Volume type with name %s could not be found.", name);
	}
	return rc;
}

int vtype_for_volume(db_conn *db, const char *type_id, struct vol_type *out)
{
	int rc = vol_type_find(db, type_id, out);

	if (rc == VOL_NOT_FOUND)
		rc = vol_type_default(db, settings.default_volume_type, out);
	return rc;
}

int vtype_check_size(struct shim_request *r, const struct vol_type *type, int size)
{
	if (type->min_size >= 0 && size < type->min_size) {
		fault_reply(r, 400, "Invalid input received: Specified volume size of '%d' is less "
			    "than the minimum required size of '%d' for volume type '%s'.", size,
			    type->min_size, type->name);
		return -1;
	}
	if (type->max_size >= 0 && size > type->max_size) {
		fault_reply(r, 400, "Invalid input received: Specified volume size of '%d' is "
			    "greater than the maximum allowable size of '%d' for volume type '%s'.",
			    size, type->max_size, type->name);
		return -1;
	}
	return 0;
}
