/*
 * metadata.c - what a volume's owner may change in the database alone: PUT /volumes/{id}
 * (name, description, metadata: Cinder's volume update) and the volume metadata resource
 * /volumes/{id}/metadata[/{key}] (Cinder's volume metadata controller). Nothing of it reaches
 * the manager.
 *
 * Every request runs one transaction that loads and locks the volume (404 when it is missing
 * or not visible to the caller, as Cinder's volume_api.get), checks the request's policy (403)
 * and, for a write, the statuses Cinder refuses, then writes and answers from what it wrote.
 * The body is validated first, as Cinder's schema decorators do before anything is loaded.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/volume.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/policy.h"
#include "api-shim/txn.h"
#include "api-shim/validate.h"
#include "api-shim/view.h"

enum md_op {
	MD_VOLUME_UPDATE,   /* PUT    volumes/{id} */
	MD_INDEX,           /* GET    volumes/{id}/metadata */
	MD_CREATE,          /* POST   volumes/{id}/metadata: merged */
	MD_UPDATE_ALL,      /* PUT    volumes/{id}/metadata: replaced */
	MD_SHOW,            /* GET    volumes/{id}/metadata/{key} */
	MD_UPDATE_KEY,      /* PUT    volumes/{id}/metadata/{key} */
	MD_DELETE_KEY,      /* DELETE volumes/{id}/metadata/{key} */
};

/* Each operation's policy (Cinder's policies/volumes.py and volume_metadata.py) and whether it
 * writes (a write locks the volume and is refused in Cinder's statuses). */
static const struct md_op_def {
	struct policy policy;
	bool writes;
} md_ops[] = {
	[MD_VOLUME_UPDATE] = { { "volume:update", POLICY_ADMIN_OR_OWNER }, true },
	[MD_INDEX] = { { "volume:get_volume_metadata", POLICY_ADMIN_OR_OWNER }, false },
	[MD_CREATE] = { { "volume:create_volume_metadata", POLICY_ADMIN_OR_OWNER }, true },
	[MD_UPDATE_ALL] = { { "volume:update_volume_metadata", POLICY_ADMIN_OR_OWNER }, true },
	[MD_SHOW] = { { "volume:get_volume_metadata", POLICY_ADMIN_OR_OWNER }, false },
	[MD_UPDATE_KEY] = { { "volume:update_volume_metadata", POLICY_ADMIN_OR_OWNER }, true },
	[MD_DELETE_KEY] = { { "volume:delete_volume_metadata", POLICY_ADMIN_OR_OWNER }, true },
};

struct md_req {
	struct txn_ctx t;            /* first: the transaction's argument */
	enum md_op op;
	const char *id;              /* the URL's volume id */
	const char *key;             /* the URL's metadata key, or NULL */
	json_t *body;                /* the request's body, which the fields below point into */
	const json_t *md;            /* the metadata to write, or NULL */
	bool replace;                /* keys not in md are deleted */
	/* PUT volumes/{id}: the new name and description (stripped, NULL for null), when sent. */
	bool set_name, set_description;
	char *name, *description;
	struct vol_full *vol;
	json_t *reply;               /* the answer's body, built inside the transaction */
};

static const char sql_volume_update[] =
	"UPDATE volumes SET"
	" display_name = CASE WHEN $2::boolean THEN $3 ELSE display_name END,"
	" display_description = CASE WHEN $4::boolean THEN $5 ELSE display_description END,"
	" updated_at = now() AT TIME ZONE 'utc' WHERE id = $1 AND NOT deleted";

/* ======================================================================== bodies */

/* Python's str.strip() of a name as Cinder's validate_name_and_description applies it to an
 * update (ASCII whitespace; volmgr leaves other Unicode spaces alone). NULL for null or on
 * allocation failure (*oom set). */
static char *stripped_copy(const json_t *v, bool *oom)
{
	static const char ws[] = " \t\n\r\f\v";
	const char *s = json_string_value(v);
	size_t n;
	char *out;

	if (s == NULL)
		return NULL;
	s += strspn(s, ws);
	n = strlen(s);
	while (n > 0 && strchr(ws, s[n - 1]) != NULL)
		n--;
	out = strndup(s, n);
	if (out == NULL)
		*oom = true;
	return out;
}

/* parameter_types.extra_specs: an object (null refused) of Cinder's keys and string values. */
static int check_extra_specs(struct shim_request *r, const char *field, const json_t *v)
{
	if (json_is_null(v))
		return validate_type_fail(r, field, v, "'object'");
	return validate_metadata(r, field, v);
}

/* The keys of the volume object an update may name (3.53 requires one of them). */
static const char *const update_keys[] = {
	"name", "description", "display_name", "display_description", "metadata", NULL,
};

/* Cinder's volumes.update schema (update_volume_v353 from 3.53), then the v2 mapping of name
 * and description onto display_name and display_description (name wins). */
static int update_schema(struct md_req *m)
{
	struct shim_request *r = m->t.r;
	const json_t *vol, *v;
	bool oom = false;

	if (validate_object(r, NULL, m->body) != 0)
		return -1;
	vol = json_object_get(m->body, "volume");
	if (vol != NULL) {
		if (validate_object(r, "volume", vol) != 0)
			return -1;
		for (int i = 0; i < 4; i++) {
			v = json_object_get(vol, update_keys[i]);
			if (v != NULL && validate_name(r, update_keys[i], v) != 0)
				return -1;
		}
		m->md = json_object_get(vol, "metadata");
		if (m->md != NULL && check_extra_specs(r, "metadata", m->md) != 0)
			return -1;
		if (validate_no_extra(r, "volume", vol, update_keys) != 0)
			return -1;
	}
	if (validate_required(r, NULL, m->body, (const char *const[]){ "volume", NULL }) != 0 ||
	    validate_no_extra(r, NULL, m->body, (const char *const[]){ "volume", NULL }) != 0)
		return -1;
	if (req_ver_ge(r, 3, 53) && json_object_size(vol) == 0) {
		validate_fail(r, "volume", vol, "{} is not valid under any of the given schemas");
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		/* i = 0: name over display_name; i = 1: description over display_description. */
		const json_t *primary = json_object_get(vol, update_keys[i]);
		const json_t *legacy = json_object_get(vol, update_keys[i + 2]);
		const json_t *chosen = primary != NULL ? primary : legacy;

		if (chosen == NULL)
			continue;
		if (i == 0) {
			m->set_name = true;
			m->name = stripped_copy(chosen, &oom);
		} else {
			m->set_description = true;
			m->description = stripped_copy(chosen, &oom);
		}
	}
	if (oom) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return -1;
	}
	return 0;
}

/* Cinder's volume_metadata.create schema (POST and PUT of the whole set): {"metadata": {...}}.
 * ("type" is a property of that schema by a slip of Cinder's; it is let through.) */
static int create_schema(struct md_req *m)
{
	static const char *const top_keys[] = { "type", "metadata", NULL };
	struct shim_request *r = m->t.r;

	if (validate_object(r, NULL, m->body) != 0)
		return -1;
	m->md = json_object_get(m->body, "metadata");
	if (m->md != NULL && check_extra_specs(r, "metadata", m->md) != 0)
		return -1;
	if (validate_required(r, NULL, m->body, (const char *const[]){ "metadata", NULL }) != 0 ||
	    validate_no_extra(r, NULL, m->body, top_keys) != 0)
		return -1;
	return 0;
}

/* Cinder's volume_metadata.update schema (PUT of one key): {"meta": {key: value}} with one
 * property, then the controller's checks that it is the URL's key. */
static int update_key_schema(struct md_req *m)
{
	static const char *const top_keys[] = { "type", "meta", NULL };
	struct shim_request *r = m->t.r;

	if (validate_object(r, NULL, m->body) != 0)
		return -1;
	m->md = json_object_get(m->body, "meta");
	if (m->md != NULL) {
		if (check_extra_specs(r, "meta", m->md) != 0)
			return -1;
		if (json_object_size(m->md) == 0) {
			validate_fail(r, "meta", m->md, "{} does not have enough properties");
			return -1;
		}
		if (json_object_size(m->md) > 1) {
			char repr[VALIDATE_REPR_MAX];

			validate_pyrepr(m->md, repr, sizeof(repr));
			validate_fail(r, "meta", m->md, "%s has too many properties", repr);
			return -1;
		}
	}
	if (validate_required(r, NULL, m->body, (const char *const[]){ "meta", NULL }) != 0 ||
	    validate_no_extra(r, NULL, m->body, top_keys) != 0)
		return -1;
	if (json_object_get(m->md, m->key) == NULL) {
		fault_reply(r, 400, "Request body and URI mismatch");
		return -1;
	}
	return 0;
}

/* ======================================================================== the transaction */

/* Cinder's refusals of a write by the volume's status. */
static int check_status(struct md_req *m)
{
	const char *status = m->vol->row.status;

	if (m->op == MD_VOLUME_UPDATE) {
		if (strcmp(status, "maintenance") != 0)
			return 0;
		fault_reply(m->t.r, 400, "Invalid volume: The volume cannot be updated during "
			    "maintenance.");
		return -1;
	}
	if (strcmp(status, "maintenance") != 0 && strcmp(status, "uploading") != 0)
		return 0;
	fault_reply(m->t.r, 400, "Invalid volume: %s volume metadata is not allowed for volumes "
		    "in %s status.", m->op == MD_DELETE_KEY ? "Deleting" : "Updating", status);
	return -1;
}

static const struct vol_kv *find_key(const struct vol_full *v, const char *key)
{
	for (int i = 0; i < v->nmd; i++)
		if (strcmp(v->md[i].key, key) == 0)
			return &v->md[i];
	return NULL;
}

/* Writes m->md over the loaded metadata (deleting the keys it lacks when m->replace), as
 * Cinder's volume_metadata_update: an unchanged value is left alone. volmgr bounds the
 * metadata a volume may have, so a write that would pass VALIDATE_METADATA_MAX is refused. */
static int write_metadata(db_conn *db, struct md_req *m)
{
	const struct vol_full *v = m->vol;
	const char *key;
	json_t *val;
	int rc = DB_OK;

	if (validate_metadata_total(m->t.r, v->md, v->nmd, m->md, m->replace) != 0)
		return TXN_FAULT;
	for (int i = 0; m->replace && rc == DB_OK && i < v->nmd; i++)
		if (json_object_get(m->md, v->md[i].key) == NULL)
			rc = vol_metadata_delete(db, m->id, v->md[i].key);
	json_object_foreach((json_t *)m->md, key, val) {
		const struct vol_kv *old = find_key(v, key);

		if (rc != DB_OK)
			break;
		if (old == NULL || strcmp(old->value, json_string_value(val)) != 0)
			rc = vol_metadata_set(db, m->id, key, json_string_value(val));
	}
	return rc;
}

/* {"metadata": {key: value, ...}} of the loaded (user) metadata. */
static json_t *metadata_object(const struct vol_full *v)
{
	json_t *md = json_object();

	for (int i = 0; md != NULL && i < v->nmd; i++)
		if (json_object_set_new(md, v->md[i].key, json_string(v->md[i].value)) != 0) {
			json_decref(md);
			return NULL;
		}
	return md != NULL ? json_pack("{s:o}", "metadata", md) : NULL;
}

/* Python writes the escapes of non-ASCII characters in lower case ("\u00fc"), jansson in
 * upper case: text becomes Python's. An escaped backslash is skipped whole, so that the text
 * "\\u00FC" stays as it is. */
static void python_escapes(char *text)
{
	for (char *p = text; *p != '\0'; p++) {
		if (*p != '\\' || p[1] == '\0')
			continue;
		p++;
		for (int i = 1; *p == 'u' && i <= 4 && p[i] != '\0'; i++)
			p[i] = (char)tolower((unsigned char)p[i]);
	}
}

/* Cinder's ETag of a volume's metadata (3.15): the MD5 of {"metadata": {...}} as Python's
 * json.dumps writes it (", " and ": " between items, non-ASCII escaped), computed by
 * PostgreSQL, which volmgr already links, into etag. */
static int metadata_etag(db_conn *db, struct md_req *m, char etag[33])
{
	json_t *doc = metadata_object(m->vol);
	char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(0) | JSON_ENSURE_ASCII |
					      JSON_PRESERVE_ORDER) : NULL;
	const char *p[1] = { text };
	PGresult *res;
	int rc;

	if (text != NULL)
		python_escapes(text);
	rc = text != NULL ? db_exec(db, "SELECT md5($1)", 1, p, &res) : txn_internal(&m->t);

	json_decref(doc);
	free(text);
	if (rc != DB_OK)
		return rc;
	snprintf(etag, 33, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return DB_OK;
}

/* Whether etag is one of an If-Match header's entity tags (quoted or not, weak or strong, as
 * webob reads them). */
static bool etag_listed(const char *header, const char *etag)
{
	size_t n = strlen(etag);

	for (const char *p = header; *p != '\0';) {
		size_t len;

		p += strspn(p, " \t,");
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '"')
			p++;
		len = strcspn(p, "\",");
		if (len == n && strncmp(p, etag, n) == 0)
			return true;
		p += len;
		p += strcspn(p, ",");
	}
	return false;
}

/* Cinder's _validate_etag, from 3.15 on the writes of the whole set and of one key: with an
 * If-Match header (other than "*"), the metadata must still have that ETag, else 412 with no
 * body and nothing written. Returns DB_OK, TXN_FAULT or a db status. */
static int check_if_match(db_conn *db, struct md_req *m)
{
	struct shim_request *r = m->t.r;
	const char *if_match = req_header(r, "If-Match");
	char etag[33];
	int rc;

	if ((m->op != MD_UPDATE_ALL && m->op != MD_UPDATE_KEY) || !req_ver_ge(r, 3, 15) ||
	    if_match == NULL || strcmp(if_match, "*") == 0)
		return DB_OK;
	rc = metadata_etag(db, m, etag);
	if (rc != DB_OK || etag_listed(if_match, etag))
		return rc;
	req_reply(r, 412, NULL);
	return TXN_FAULT;
}

/* The operation's effect and its answer, on the loaded and checked volume. */
static int md_apply(db_conn *db, struct md_req *m)
{
	struct shim_request *r = m->t.r;
	const struct vol_kv *kv;
	int rc = DB_OK;

	switch (m->op) {
	case MD_INDEX:
		m->reply = metadata_object(m->vol);
		if (m->reply != NULL && req_ver_ge(r, 3, 15))
			rc = metadata_etag(db, m, r->etag);
		break;
	case MD_SHOW:
	case MD_DELETE_KEY:
		kv = find_key(m->vol, m->key);
		if (kv == NULL) {
			fault_reply(r, 404, "Volume %s has no metadata with key %s.", m->id,
				    m->key);
			return TXN_FAULT;
		}
		if (m->op == MD_SHOW) {
			m->reply = json_pack("{s:{s:s}}", "meta", kv->key, kv->value);
			break;
		}
		rc = vol_metadata_delete(db, m->id, m->key);
		return rc == DB_OK ? DB_OK : txn_fail(&m->t, rc, m->id);
	case MD_UPDATE_KEY:
		rc = write_metadata(db, m);
		if (rc == DB_OK)
			m->reply = json_pack("{s:O}", "meta", m->md);
		break;
	case MD_CREATE:
	case MD_UPDATE_ALL:
		rc = write_metadata(db, m);
		if (rc == DB_OK)
			rc = vol_metadata_list(db, m->id, m->vol->md, VIEW_MAX_KV, &m->vol->nmd);
		if (rc == DB_OK)
			m->reply = metadata_object(m->vol);
		break;
	case MD_VOLUME_UPDATE:
		if (m->md != NULL)
			rc = write_metadata(db, m);
		if (rc == DB_OK && (m->set_name || m->set_description)) {
			const char *p[5] = { m->id, m->set_name ? "true" : "false", m->name,
					     m->set_description ? "true" : "false",
					     m->description };

			rc = db_exec(db, sql_volume_update, 5, p, NULL);
		}
		if (rc == DB_OK)
			rc = view_load(db, m->id, false, m->vol);
		if (rc == DB_OK) {
			json_t *v = view_volume_detail(r, m->vol);

			m->reply = v != NULL ? json_pack("{s:o}", "volume", v) : NULL;
		}
		break;
	}
	if (rc != DB_OK)
		return rc == TXN_FAULT ? rc : txn_fail(&m->t, rc, m->id);
	return m->reply != NULL ? DB_OK : txn_internal(&m->t);
}

static int md_txn(db_conn *db, void *arg)
{
	struct md_req *m = arg;
	struct shim_request *r = m->t.r;
	const struct md_op_def *def = &md_ops[m->op];
	int rc;

	json_decref(m->reply);
	m->reply = NULL;
	rc = view_load(db, m->id, def->writes, m->vol);
	if (rc == VOL_NOT_FOUND || (rc == DB_OK && !view_visible(r, &m->vol->row))) {
		fault_volume_not_found(r, m->id);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&m->t, rc, m->id);
	if (!policy_enforce(r, &def->policy, m->vol->row.project_id))
		return TXN_FAULT;
	rc = check_if_match(db, m);
	if (rc != DB_OK)
		return rc;
	if (def->writes && check_status(m) != 0)
		return TXN_FAULT;
	return md_apply(db, m);
}

/* ======================================================================== the routes */

static void md_free(struct md_req *m)
{
	json_decref(m->reply);
	json_decref(m->body);
	free(m->name);
	free(m->description);
	free(m->vol);
}

/* Runs op for the request: the body (when schema is not NULL) first, then the transaction,
 * then the answer (status, the body it built; an empty body when it built none). */
static void md_serve(struct shim_request *r, enum md_op op, int (*schema)(struct md_req *m))
{
	struct md_req m = { .t = { .r = r }, .op = op, .id = r->captures[1],
			    .key = r->ncaptures > 2 ? r->captures[2] : NULL,
			    .replace = op == MD_VOLUME_UPDATE || op == MD_UPDATE_ALL };

	if (strlen(m.id) >= VOL_STR) {
		fault_volume_not_found(r, m.id);
		return;
	}
	if (schema != NULL) {
		m.body = req_json_body(r);
		if (m.body == NULL || schema(&m) != 0)
			goto out;
	}
	m.vol = malloc(sizeof(*m.vol));
	if (m.vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		goto out;
	}
	if (txn_run(&m.t, md_txn) != 0)
		goto out;
	if (md_ops[op].writes)
		log_info("volume %s: %s", m.id, md_ops[op].policy.name);
	req_reply(r, 200, m.reply);
	m.reply = NULL;
out:
	md_free(&m);
}

void volumes_update(struct shim_request *r)
{
	md_serve(r, MD_VOLUME_UPDATE, update_schema);
}

void volume_metadata_index(struct shim_request *r)
{
	md_serve(r, MD_INDEX, NULL);
}

void volume_metadata_create(struct shim_request *r)
{
	md_serve(r, MD_CREATE, create_schema);
}

void volume_metadata_update_all(struct shim_request *r)
{
	md_serve(r, MD_UPDATE_ALL, create_schema);
}

void volume_metadata_show(struct shim_request *r)
{
	md_serve(r, MD_SHOW, NULL);
}

void volume_metadata_update(struct shim_request *r)
{
	md_serve(r, MD_UPDATE_KEY, update_key_schema);
}

void volume_metadata_delete(struct shim_request *r)
{
	md_serve(r, MD_DELETE_KEY, NULL);
}
