/*
 * listing.c - GET /v3/{p}/volumes[/detail]: the query (filters, Cinder's sort parameters,
 * limit, offset, marker, with_count) and the page with its "next" link (see listing.h).
 */
#include "api-shim/listing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core/volume.h"
#include "api-shim/fault.h"
#include "api-shim/shim.h"
#include "api-shim/txn.h"
#include "api-shim/view.h"

#define SORT_KEYS_MAX 3

/* Sort keys of Cinder's volume listing that volmgr keeps; "name" is display_name. */
static const struct listing_sort_key sort_keys[] = {
	{ "created_at", "created_at" }, { "updated_at", "updated_at" }, { "id", "id" },
	{ "name", "display_name" }, { "display_name", "display_name" }, { "size", "size" },
	{ "status", "status" }, { "availability_zone", "availability_zone" },
	{ "bootable", "bootable" },
};

struct list_req {
	struct txn_ctx t;
	bool detail;
	struct listing_page page;
	const char *params[7];      /* project, status, name, az, marker, limit, offset */
	bool with_count;
	json_t *items;
	long count;
	char last_id[37];
	int returned;
};

/* What add_sort reads the keys against. */
struct sort_table {
	const struct listing_sort_key *keys;
	size_t nkeys;
	const char *id_column;
};

/* Appends "<column> <dir>" for one key. Returns 0, or -1 with a 400 set. */
static int add_sort(struct shim_request *r, const struct sort_table *t, struct listing_page *p,
		    const char *key, size_t keylen, const char *dir, size_t dirlen)
{
	const char *col = NULL;
	size_t off = strlen(p->order);

	for (size_t i = 0; i < t->nkeys; i++)
		if (strlen(t->keys[i].api) == keylen && strncmp(t->keys[i].api, key, keylen) == 0)
			col = t->keys[i].column;
	if (col == NULL) {
		fault_reply(r, 400, "Invalid input received: Invalid sort key");
		return -1;
	}
	if (dirlen == 0) {
		dir = "desc";
		dirlen = 4;
	}
	if (!((dirlen == 3 && strncmp(dir, "asc", 3) == 0) ||
	      (dirlen == 4 && strncmp(dir, "desc", 4) == 0))) {
		fault_reply(r, 400, "Invalid input received: Unknown sort direction, must be "
			    "'desc' or 'asc'");
		return -1;
	}
	snprintf(p->order + off, sizeof(p->order) - off, "%s%s %.*s", off > 0 ? ", " : "", col,
		 (int)dirlen, dir);
	p->order_has_id = p->order_has_id || strcmp(col, t->id_column) == 0;
	p->last_dir = dirlen == 3 ? "asc" : "desc";
	return 0;
}

/* Cinder's get_sort_params: "sort=k1:d1,k2" or sort_key/sort_dir (comma-separated), default
 * created_at desc; volmgr adds the id as the last key so that pages are stable. */
static int parse_sort(struct shim_request *r, const struct sort_table *t, struct listing_page *l)
{
	const char *sort = req_query(r, "sort");
	const char *keys = req_query(r, "sort_key"), *dirs = req_query(r, "sort_dir");
	int n = 0;

	l->order[0] = '\0';
	if (sort != NULL && sort[0] != '\0') {
		for (const char *p = sort; p != NULL && *p != '\0'; n++) {
			const char *end = strchr(p, ','), *colon;
			size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

			colon = memchr(p, ':', len);
			if (n == SORT_KEYS_MAX) {
				fault_reply(r, 400, "Invalid input received: at most %d sort keys are "
					    "supported.", SORT_KEYS_MAX);
				return -1;
			}
			if (add_sort(r, t, l, p, colon != NULL ? (size_t)(colon - p) : len,
				     colon != NULL ? colon + 1 : "",
				     colon != NULL ? len - (size_t)(colon - p) - 1 : 0) != 0)
				return -1;
			p = end != NULL ? end + 1 : NULL;
		}
	} else if (keys != NULL && keys[0] != '\0') {
		if (strchr(keys, ',') != NULL || (dirs != NULL && strchr(dirs, ',') != NULL)) {
			fault_reply(r, 400, "Invalid input received: at most one sort_key is "
				    "supported.");
			return -1;
		}
		if (add_sort(r, t, l, keys, strlen(keys), dirs != NULL ? dirs : "",
			     dirs != NULL ? strlen(dirs) : 0) != 0)
			return -1;
	} else if (add_sort(r, t, l, "created_at", 10, dirs != NULL ? dirs : "desc",
			    dirs != NULL ? strlen(dirs) : 4) != 0) {
		return -1;
	}
	if (!l->order_has_id) {
		size_t off = strlen(l->order);

		snprintf(l->order + off, sizeof(l->order) - off, ", %s %s", t->id_column,
			 l->last_dir);
	}
	return 0;
}

/* limit / offset as Cinder's _get_limit_param / _get_offset_param read them. */
static int parse_count(struct shim_request *r, const char *key, long def, long *out)
{
	const char *v = req_query(r, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (util_parse_long(v, -2147483648L, 2147483647L, out) != 0) {
		fault_reply(r, 400, "%s param must be an integer", key);
		return -1;
	}
	if (*out < 0) {
		fault_reply(r, 400, "%s param must be positive", key);
		return -1;
	}
	return 0;
}

int listing_page_parse(struct shim_request *r, const struct listing_sort_key *keys,
		       size_t nkeys, const char *id_column, struct listing_page *p)
{
	const struct sort_table t = { keys, nkeys, id_column };
	long limit, offset;

	memset(p, 0, sizeof(*p));
	if (parse_count(r, "limit", SHIM_MAX_LIMIT, &limit) != 0 ||
	    parse_count(r, "offset", 0, &offset) != 0 || parse_sort(r, &t, p) != 0)
		return -1;
	if (limit > SHIM_MAX_LIMIT)
		limit = SHIM_MAX_LIMIT;
	p->limit = (int)limit;
	snprintf(p->limit_text, sizeof(p->limit_text), "%ld", limit);
	snprintf(p->offset_text, sizeof(p->offset_text), "%ld", offset);
	return 0;
}

json_t *listing_result(struct shim_request *r, const char *collection, json_t *items,
		       bool detail, const struct listing_page *p, int returned,
		       const char *last_id)
{
	char rest[160], href[1024], key[64];
	json_t *out = json_pack("{s:o}", collection, items);

	if (out == NULL || returned == 0 || returned != p->limit)
		return out;
	snprintf(rest, sizeof(rest), "%s%s?limit=%d&marker=%s", collection,
		 detail ? "/detail" : "", p->limit, last_id);
	view_v3_url(r, rest, href, sizeof(href));
	snprintf(key, sizeof(key), "%s_links", collection);
	json_object_set_new(out, key, json_pack("[{s:s, s:s}]", "rel", "next", "href", href));
	return out;
}

struct unknown_keys {
	const char *const *allowed, *const *ignored;
	char *bad;
	size_t badlen;
	int n;
};

static bool listed(const char *key, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

static void unknown_key(const char *key, void *arg)
{
	struct unknown_keys *u = arg;
	size_t off = strlen(u->bad);

	if (listed(key, u->allowed) || listed(key, u->ignored))
		return;
	snprintf(u->bad + off, u->badlen - off, "%s%s", u->n > 0 ? "," : "", key);
	u->n++;
}

int listing_unknown_keys(const struct shim_request *r, const char *const *allowed,
			 const char *const *ignored, char *bad, size_t badlen)
{
	struct unknown_keys u = { allowed, ignored, bad, badlen, 0 };

	if (badlen > 0)
		bad[0] = '\0';
	req_query_keys(r, unknown_key, &u);
	return u.n;
}

/* Filters are NULL-tolerant parameters so that one statement text serves every combination;
 * the marker is found by its row number in the same ordering. */
#define LIST_FROM \
	"FROM volumes WHERE NOT deleted AND ($1::text IS NULL OR project_id = $1) " \
	"AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR display_name = $3) " \
	"AND ($4::text IS NULL OR availability_zone = $4)"

static const char sql_marker_visible[] =
	"SELECT 1 " LIST_FROM " AND id = $5";
static const char sql_count[] =
	"SELECT count(*) " LIST_FROM;

int listing_marker_check(db_conn *db, struct shim_request *r, const char *marker_sql,
			 int nparams, const char *const *params, const char *marker)
{
	PGresult *res;
	int rc, n;

	rc = db_exec(db, marker_sql, nparams, params, &res);
	if (rc != DB_OK)
		return rc;
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		fault_reply(r, 404, "Marker %s could not be found.", marker);
		return TXN_FAULT;
	}
	return DB_OK;
}

static int list_txn(db_conn *db, void *arg)
{
	struct list_req *l = arg;
	struct shim_request *r = l->t.r;
	char sql[1024];
	struct vol_full *vol = NULL;
	PGresult *res = NULL;
	int rc, n;

	json_decref(l->items);
	l->items = json_array();
	l->returned = 0;
	if (l->items == NULL)
		return txn_internal(&l->t);
	if (l->params[4] != NULL) {
		rc = listing_marker_check(db, r, sql_marker_visible, 5, l->params, l->params[4]);
		if (rc != DB_OK)
			return rc;
	}
	if (l->with_count) {
		rc = db_exec(db, sql_count, 4, l->params, &res);
		if (rc != DB_OK)
			return rc;
		l->count = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	snprintf(sql, sizeof(sql),
		 "WITH ordered AS (SELECT id, display_name, row_number() OVER (ORDER BY %s) AS rn "
		 LIST_FROM ") SELECT id, display_name FROM ordered WHERE rn > COALESCE("
		 "(SELECT rn FROM ordered WHERE id = $5), 0) ORDER BY rn LIMIT $6::integer "
		 "OFFSET $7::integer", l->page.order);
	rc = db_exec(db, sql, 7, l->params, &res);
	if (rc != DB_OK)
		return rc;
	if (l->detail)
		vol = malloc(sizeof(*vol));
	n = PQntuples(res);
	for (int i = 0; i < n && rc == DB_OK; i++) {
		const char *id = PQgetvalue(res, i, 0);
		json_t *item;

		if (l->detail) {
			rc = vol == NULL ? txn_internal(&l->t) : view_load(db, id, false, vol);
			if (rc == VOL_NOT_FOUND) { /* deleted since the listing: skip it */
				rc = DB_OK;
				continue;
			}
			if (rc != DB_OK)
				break;
			item = view_volume_detail(r, vol);
		} else {
			item = view_volume_summary(r, id, PQgetisnull(res, i, 1) ? NULL :
						   PQgetvalue(res, i, 1));
		}
		if (item == NULL || json_array_append_new(l->items, item) != 0) {
			rc = txn_internal(&l->t);
			break;
		}
		util_strlcpy(l->last_id, id, sizeof(l->last_id));
	}
	l->returned = n;
	PQclear(res);
	free(vol);
	return rc;
}

void listing_volumes(struct shim_request *r, bool detail)
{
	struct list_req l = { .t = { .r = r }, .detail = detail };
	bool all_tenants = false;
	json_t *out;

	if (req_query_bool(r, "all_tenants", false, &all_tenants) != 0 ||
	    listing_page_parse(r, sort_keys, sizeof(sort_keys) / sizeof(sort_keys[0]), "id",
			       &l.page) != 0)
		return;
	if (req_ver_ge(r, 3, 45) && req_query_bool(r, "with_count", false, &l.with_count) != 0)
		return;
	/* Non-admins see their project; admins theirs, or every project with all_tenants
	 * (optionally narrowed by project_id). */
	if (r->auth.is_admin && all_tenants)
		l.params[0] = req_query(r, "project_id");
	else
		l.params[0] = r->auth.project_id;
	l.params[1] = req_query(r, "status");
	l.params[2] = req_query(r, "name");
	l.params[3] = req_query(r, "availability_zone");
	l.params[4] = req_query(r, "marker");
	l.params[5] = l.page.limit_text;
	l.params[6] = l.page.offset_text;
	if (txn_run(&l.t, list_txn) != 0) {
		json_decref(l.items);
		return;
	}
	out = listing_result(r, "volumes", l.items, detail, &l.page, l.returned, l.last_id);
	if (out != NULL && l.with_count)
		json_object_set_new(out, "count", json_integer(l.count));
	req_reply(r, 200, out);
}
