/*
 * pools.c - Cinder's scheduler stats extension: GET /scheduler-stats/get_pools (admins), the
 * pools of the latest capability report of every volume service that is up, enabled and not
 * frozen, as Cinder's scheduler lists the pools it knows (docs/cinder.md §22). The managers
 * keep their reports in volmgr_service_capabilities (manager/capabilities.h), since the shim
 * hears no fanout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/columns.h"
#include "proto/schema.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/listing.h"
#include "api-shim/policy.h"
#include "api-shim/schedule.h"
#include "api-shim/shim.h"
#include "api-shim/txn.h"
#include "api-shim/view.h"
#include "api-shim/vtype.h"

static const struct policy get_pools_policy = {
	"scheduler_extension:scheduler_stats:get_pools", POLICY_ADMIN_API
};

/* The most pools one answer lists (volmgr's bound; Cinder has none). */
#define POOLS_MAX_TEXT "1000"

/*
 * Each pool of each report of a live, enabled, unfrozen volume service (those the scheduler
 * keeps), named "<host>@<backend>#<pool>", with the capabilities the scheduler gives it: the
 * pool's own, completed by the report's backend name, protocol, vendor, driver version and
 * timestamp where the pool has none (its _append_backend_info). $1: the name asked for, or
 * NULL; $2: the backend a volume type asks for, or NULL.
 */
static const char sql_pools[] =
	"SELECT c.host || '#' || (p->>'pool_name'), (jsonb_build_object("
	"'volume_backend_name', c.capabilities->'volume_backend_name', "
	"'storage_protocol', c.capabilities->'storage_protocol', "
	"'vendor_name', c.capabilities->'vendor_name', "
	"'driver_version', c.capabilities->'driver_version', "
	"'timestamp', " V_TS("c.reported_at") ") || p)::text "
	"FROM volmgr_service_capabilities c "
	"CROSS JOIN LATERAL jsonb_array_elements(c.capabilities->'pools') p "
	"WHERE EXISTS (SELECT 1 FROM services s WHERE s.host = c.host AND "
	SCHEDULE_SQL_REPORTED("s") ") "
	"AND ($1::text IS NULL OR c.host || '#' || (p->>'pool_name') = $1) "
	"AND ($2::text IS NULL OR COALESCE(p->>'volume_backend_name', "
	"c.capabilities->>'volume_backend_name') = $2) "
	"ORDER BY 1 LIMIT " POOLS_MAX_TEXT;

struct pools_req {
	struct txn_ctx t;
	const char *name;
	const char *volume_type;   /* NULL: no type filter */
	bool multiattach;          /* the type asks for multiattach */
	bool detail;               /* ?detail=true: the capabilities too */
	PGresult *res;
};

static int pools_txn(db_conn *db, void *arg)
{
	struct pools_req *q = arg;
	struct vol_type type;
	const char *backend = NULL;

	PQclear(q->res);
	q->res = NULL;
	if (q->volume_type != NULL) {
		int rc = vtype_for_request(db, q->t.r, q->volume_type, &type);

		if (rc == VOL_NOT_FOUND)
			return TXN_FAULT;
		if (rc != DB_OK)
			return rc;
		backend = type.has_backend_name ? type.backend_name : NULL;
		q->multiattach = type.multiattach;
	}
	const char *params[] = { q->name, backend };
	return db_exec(db, sql_pools, 2, params, &q->res);
}

/* The capability filters of 3.28 to 3.30: every other query argument names a capability the
 * pool must have with that value, compared as Cinder's scheduler compares them
 * (_equal_after_convert: a boolean against oslo's boolean strings, anything else as text). */
struct pools_filter {
	struct shim_request *r;
	const json_t *caps;
	bool keep;
};

static void pools_filter_key(const char *key, void *arg)
{
	struct pools_filter *f = arg;
	const char *want = req_query(f->r, key);
	const json_t *have = json_object_get(f->caps, key);
	char text[64];
	bool b;

	if (strcmp(key, "detail") == 0 || strcmp(key, "name") == 0 ||
	    strcmp(key, "volume_type") == 0 || !f->keep || want == NULL)
		return;
	if (json_is_boolean(have))
		f->keep = proto_parse_bool_string(want, &b) == 0 && b == json_is_true(have);
	else if (json_is_string(have))
		f->keep = strcmp(json_string_value(have), want) == 0;
	else if (json_is_integer(have))
		f->keep = snprintf(text, sizeof(text), "%lld",
				   (long long)json_integer_value(have)) > 0 && strcmp(text, want) == 0;
	else if (json_is_real(have))
		f->keep = strtod(want, NULL) == json_real_value(have);
	else
		f->keep = false;
}

/* Whether the pool passes the filters of r: the capability filters, and the multiattach a
 * volume type asks for. */
static bool pools_keep(struct shim_request *r, const struct pools_req *q, const json_t *caps)
{
	struct pools_filter f = { r, caps, true };

	if (q->multiattach && !json_is_true(json_object_get(caps, "multiattach")))
		return false;
	if (req_ver_ge(r, 3, 28) && !req_ver_ge(r, 3, 31))
		req_query_keys(r, pools_filter_key, &f);
	return f.keep;
}

/* One pool as Cinder's scheduler stats view shows it: its name, with detail its
 * capabilities; a pool the filters leave out is skipped. */
static json_t *pools_view(void *arg, int i, bool *skip)
{
	const struct pools_req *q = arg;
	json_t *caps = json_loads(PQgetvalue(q->res, i, 1), 0, NULL);

	if (caps == NULL)
		return NULL;
	if (!pools_keep(q->t.r, q, caps)) {
		json_decref(caps);
		*skip = true;
		return NULL;
	}
	if (q->detail)
		return json_pack("{s:s, s:o}", "name", PQgetvalue(q->res, i, 0), "capabilities",
				 caps);
	json_decref(caps);
	return json_pack("{s:s}", "name", PQgetvalue(q->res, i, 0));
}

void pools_list(struct shim_request *r)
{
	static const char *const allowed[] = { "name", "volume_type", NULL };
	static const char *const ignored[] = { "detail", NULL };
	struct pools_req q = { .t = { .r = r } };

	if (!policy_enforce(r, &get_pools_policy, NULL) ||
	    req_query_bool(r, "detail", false, &q.detail) != 0)
		return;
	/* Cinder ignores the filters before 3.28, checks them against its resource filters
	 * (name, volume_type) from 3.31, and reads volume_type from 3.35 only. */
	if (req_ver_ge(r, 3, 31)) {
		char bad[256];

		if (listing_unknown_keys(r, allowed, ignored, bad, sizeof(bad)) > 0) {
			fault_reply(r, 400, "Invalid filters %s are found in query options.", bad);
			return;
		}
	}
	if (req_ver_ge(r, 3, 28))
		q.name = req_query(r, "name");
	if (req_ver_ge(r, 3, 35))
		q.volume_type = req_query(r, "volume_type");
	if (txn_run(&q.t, pools_txn) == 0)
		view_reply_list(r, "pools", PQntuples(q.res), pools_view, &q);
	PQclear(q.res);
}
