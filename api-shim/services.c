/*
 * services.c - Cinder's services extension (docs/cinder.md §22): GET /os-services, the
 * services rows the managers keep, and PUT /os-services/{action} for admins: enable, disable,
 * disable-log-reason (the row's disabled flag and reason), freeze and thaw (the row's frozen
 * flag, then an RPC call freeze_host / thaw_host to the service, as Cinder's volume API).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core/columns.h"
#include "proto/methods.h"
#include "proto/schema.h"
#include "api-shim/cast.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/policy.h"
#include "api-shim/schedule.h"
#include "api-shim/shim.h"
#include "api-shim/txn.h"
#include "api-shim/validate.h"
#include "api-shim/view.h"

static const struct policy services_index_policy = {
	"volume_extension:services:index", POLICY_ADMIN_API
};
static const struct policy services_update_policy = {
	"volume_extension:services:update", POLICY_ADMIN_API
};
static const struct policy freeze_policy = { "volume:freeze_host", POLICY_ADMIN_API };
static const struct policy thaw_policy = { "volume:thaw_host", POLICY_ADMIN_API };

/* The most services one listing shows (volmgr's bound; Cinder has none). */
#define SERVICES_MAX_TEXT "1000"

/*
 * Cinder's host filter on services (its _filter_host): a value with '#' matches exactly, one
 * with '@' also its pools ("value#..."), any other value also its backends ("value@...")
 * and pools. $1 is the value.
 */
#define SQL_HOST_MATCHES(col)                                                              \
	"(" col " = $1 OR (strpos($1, '#') = 0 AND left(" col ", length($1) + 1) = $1 || '#') " \
	"OR (strpos($1, '#') = 0 AND strpos($1, '@') = 0 AND "                                   \
	"left(" col ", length($1) + 1) = $1 || '@'))"

/* Seconds since a timestamp, as Cinder's services view measures them (absolute values). */
#define SQL_AGE(col) "abs(extract(epoch FROM " V_NOW " - " col "))"

/*
 * The rows of GET /os-services ($1 host or NULL, $2 binary or NULL), with what the view
 * needs: updated_at is the later of the heartbeat and the last enable or disable
 * (modified_at), state up when the heartbeat is at most service_down_time old, and the
 * backend state of the last pool of the service's latest capability report, which Cinder
 * takes from the scheduler's get_pools: NULL when the service has no report with a pool, or
 * when the scheduler leaves it out (pools.c's condition, SCHEDULE_SQL_REPORTED).
 */
static const char sql_services[] =
	"SELECT s.\"binary\", s.host, s.availability_zone, COALESCE(s.disabled, false), "
	SCHEDULE_SQL_IS_UP("s") ", "
	V_TS("CASE WHEN s.modified_at IS NOT NULL AND " SQL_AGE("COALESCE(s.updated_at, "
	     "s.created_at)") " >= " SQL_AGE("s.modified_at") " THEN s.modified_at "
	     "ELSE s.updated_at END") ", "
	"s.disabled_reason, s.cluster_name, s.replication_status, s.active_backend_id, "
	"COALESCE(s.frozen, false), "
	"(SELECT COALESCE(c.capabilities->'pools'->-1->>'backend_state', 'up') "
	" FROM volmgr_service_capabilities c WHERE c.host = s.host "
	" AND jsonb_array_length(c.capabilities->'pools') > 0 AND " SCHEDULE_SQL_REPORTED("s")
	") "
	"FROM services s WHERE NOT COALESCE(s.deleted, false) "
	"AND ($1::text IS NULL OR " SQL_HOST_MATCHES("s.host") ") "
	"AND ($2::text IS NULL OR s.\"binary\" = $2) ORDER BY s.id LIMIT " SERVICES_MAX_TEXT;

struct services_req {
	struct txn_ctx t;
	const char *host;
	const char *binary;
	PGresult *res;
};

static int services_txn(db_conn *db, void *arg)
{
	struct services_req *s = arg;
	const char *params[] = { s->host, s->binary };

	PQclear(s->res);
	s->res = NULL;
	return db_exec(db, sql_services, 2, params, &s->res);
}

static json_t *services_null_or(PGresult *res, int i, int col)
{
	return PQgetisnull(res, i, col) ? json_null() : json_string(PQgetvalue(res, i, col));
}

/* One service as Cinder's view shows it at the request's microversion (the extended
 * services extension is always loaded, so the detailed fields are always there). */
static json_t *services_view(void *arg, int i, bool *skip)
{
	const struct services_req *s = arg;
	struct shim_request *r = s->t.r;
	PGresult *res = s->res;
	(void)skip; /* every row is shown */
	bool volume = strcmp(PQgetvalue(res, i, 0), "cinder-volume") == 0;
	json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:o}",
			      "binary", PQgetvalue(res, i, 0),
			      "host", PQgetvalue(res, i, 1),
			      "zone", services_null_or(res, i, 2),
			      "status", *PQgetvalue(res, i, 3) == 't' ? "disabled" : "enabled",
			      "state", *PQgetvalue(res, i, 4) == 't' ? "up" : "down",
			      "updated_at", services_null_or(res, i, 5),
			      "disabled_reason", services_null_or(res, i, 6));
	bool ok = o != NULL;

	if (ok && volume && req_ver_ge(r, 3, 49))
		ok = json_object_set_new(o, "backend_state", services_null_or(res, i, 11)) == 0;
	if (ok && req_ver_ge(r, 3, 7))
		ok = json_object_set_new(o, "cluster", services_null_or(res, i, 7)) == 0;
	if (ok && volume)
		ok = json_object_set_new(o, "replication_status", services_null_or(res, i, 8)) == 0 &&
		     json_object_set_new(o, "active_backend_id", services_null_or(res, i, 9)) == 0 &&
		     json_object_set_new(o, "frozen",
					 json_boolean(*PQgetvalue(res, i, 10) == 't')) == 0;
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void services_list(struct shim_request *r)
{
	struct services_req s = { .t = { .r = r }, .host = req_query(r, "host"),
				  .binary = req_query(r, "binary") };

	if (!policy_enforce(r, &services_index_policy, NULL))
		return;
	if (txn_run(&s.t, services_txn) == 0)
		view_reply_list(r, "services", PQntuples(s.res), services_view, &s);
	PQclear(s.res);
}

/* ======================================================================== update */

enum services_op { SVC_ENABLE, SVC_DISABLE, SVC_DISABLE_REASON, SVC_FREEZE, SVC_THAW };

static const struct services_action {
	const char *name;
	enum services_op op;
} services_actions[] = {
	{ "enable", SVC_ENABLE },
	{ "disable", SVC_DISABLE },
	{ "disable-log-reason", SVC_DISABLE_REASON },
	{ "freeze", SVC_FREEZE },
	{ "thaw", SVC_THAW },
};

#define NACTIONS (sizeof(services_actions) / sizeof(services_actions[0]))

/* Cinder's parameter_types.cinder_host: a string or null of 1 to 255 characters of a host
 * name, '@', '#', ':', '/', '+' and brackets. */
static int services_check_host(struct shim_request *r, const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return 0;
	if (validate_string_or_null(r, "host", v, 255) != 0)
		return -1;
	const char *s = json_string_value(v);
	if (s[0] == '\0') {
		validate_fail(r, "host", v, "%s is too short", "''");
		return -1;
	}
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._#@:/+[]")
	    != strlen(s)) {
		char repr[300];

		validate_pyrepr(v, repr, sizeof(repr));
		validate_fail(r, "host", v, "%s does not match '^[a-zA-Z0-9-._#@:/+\\\\[\\\\]]*$'",
			      repr);
		return -1;
	}
	return 0;
}

/* Cinder's parameter_types.nullable_string ("cluster"), when present. */
static int services_check_nullable(struct shim_request *r, const char *field, const json_t *v)
{
	return v == NULL ? 0 : validate_string_or_null(r, field, v, 0);
}

/* A string of 1 to 255 characters ("binary", "service", "disabled_reason"). */
static int services_check_text(struct shim_request *r, const char *field, const json_t *v)
{
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return validate_type_fail(r, field, v, "'string'");
	if (validate_string_or_null(r, field, v, 255) != 0)
		return -1;
	if (json_string_value(v)[0] == '\0') {
		validate_fail(r, field, v, "%s is too short", "''");
		return -1;
	}
	return 0;
}

/* The body of enable, disable and disable-log-reason (Cinder's enable_and_disable schema,
 * plus disabled_reason for the last), then the host the row is found by. */
static int services_check_toggle(struct shim_request *r, const json_t *body, bool reason)
{
	static const char *const allowed[] = { "binary", "host", "cluster", "service", NULL };
	static const char *const allowed_reason[] = { "binary", "host", "cluster", "service",
						      "disabled_reason", NULL };

	if (validate_object(r, "", body) != 0 ||
	    validate_no_extra(r, "", body, reason ? allowed_reason : allowed) != 0 ||
	    services_check_text(r, "binary", json_object_get(body, "binary")) != 0 ||
	    services_check_host(r, json_object_get(body, "host")) != 0 ||
	    services_check_nullable(r, "cluster", json_object_get(body, "cluster")) != 0 ||
	    services_check_text(r, "service", json_object_get(body, "service")) != 0)
		return -1;
	if (json_object_get(body, "binary") == NULL && json_object_get(body, "service") == NULL) {
		char repr[512];

		validate_pyrepr(body, repr, sizeof(repr));
		validate_fail(r, "", body, "%s is not valid under any of the given schemas", repr);
		return -1;
	}
	if (reason) {
		const json_t *dr = json_object_get(body, "disabled_reason");

		if (services_check_text(r, "disabled_reason", dr) != 0)
			return -1;
		/* Cinder's disabled_reason format strips the blanks before it counts. */
		if (dr != NULL && strspn(json_string_value(dr), " \t\n\r\f\v") ==
				  strlen(json_string_value(dr))) {
			fault_reply(r, 400, "Invalid input received: disabled_reason has %d "
				    "characters, less than 1.", 0);
			return -1;
		}
	}
	return 0;
}

/* Cinder's get_cluster_host: host must be set (and, from 3.26 for freeze and thaw, exactly
 * one of host and cluster). Returns the host, or NULL with the 400 set. */
static const char *services_host(struct shim_request *r, const json_t *body, bool cluster_too)
{
	const char *host = json_string_value(json_object_get(body, "host"));
	const char *cluster = cluster_too ? json_string_value(json_object_get(body, "cluster"))
					  : NULL;
	bool has_host = host != NULL && host[0] != '\0';
	bool has_cluster = cluster != NULL && cluster[0] != '\0';

	if (has_host == has_cluster) {
		fault_reply(r, 400, "Invalid input received: %s", cluster_too
			    ? "One and only one of cluster and host must be set."
			    : "Host field is missing.");
		return NULL;
	}
	if (!has_host) {
		/* volmgr's services belong to no cluster. */
		fault_reply(r, 400, "Invalid input received: No service found with cluster=%s",
			    cluster);
		return NULL;
	}
	return host;
}

/* enable / disable / disable-log-reason: $1 host, $2 binary, $3 disabled, $4 the reason
 * (NULL: keep the row's). Cinder's service_update stamps modified_at with every change of
 * disabled, and the first matching row is the one changed. */
static const char sql_toggle[] =
	"UPDATE services SET disabled = $3::boolean, "
	"disabled_reason = CASE WHEN $4::text IS NULL THEN disabled_reason ELSE $4 END, "
	"modified_at = now() AT TIME ZONE 'utc' WHERE id = (SELECT id FROM services "
	"WHERE NOT COALESCE(deleted, false) AND " SQL_HOST_MATCHES("host")
	" AND \"binary\" = $2 ORDER BY id LIMIT 1) RETURNING id";

struct toggle_req {
	struct txn_ctx t;
	const char *host;
	const char *binary;
	bool disabled;
	const char *reason;
};

static int toggle_txn(db_conn *db, void *arg)
{
	struct toggle_req *q = arg;
	const char *params[] = { q->host, q->binary, q->disabled ? "true" : "false", q->reason };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_toggle, 4, params, &res);

	if (rc == DB_OK && PQntuples(res) == 0) {
		fault_reply(q->t.r, 404, "Service %s could not be found on host %s.", q->binary,
			    q->host);
		rc = TXN_FAULT;
	}
	PQclear(res);
	return rc;
}

static void services_toggle(struct shim_request *r, const json_t *body, enum services_op op)
{
	struct toggle_req q = { .t = { .r = r }, .disabled = op != SVC_ENABLE };
	const char *binary = json_string_value(json_object_get(body, "binary"));
	const char *service = json_string_value(json_object_get(body, "service"));

	if (services_check_toggle(r, body, op == SVC_DISABLE_REASON) != 0)
		return;
	q.host = services_host(r, body, false);
	if (q.host == NULL)
		return;
	/* Cinder: "binary" takes precedence over the older "service". */
	q.binary = binary != NULL && binary[0] != '\0' ? binary : service;
	if (op == SVC_DISABLE_REASON)
		q.reason = json_string_value(json_object_get(body, "disabled_reason"));
	if (txn_run(&q.t, toggle_txn) != 0)
		return;
	json_t *reply = json_pack("{s:b, s:s, s:s, s:s, s:s}", "disabled", q.disabled,
				  "host", q.host, "service", service != NULL ? service : "",
				  "binary", binary != NULL ? binary : "",
				  "status", q.disabled ? "disabled" : "enabled");
	if (reply != NULL && op == SVC_DISABLE_REASON &&
	    json_object_set_new(reply, "disabled_reason",
				q.reason != NULL ? json_string(q.reason) : json_null()) != 0) {
		json_decref(reply);
		reply = NULL;
	}
	if (reply == NULL)
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
	else
		req_reply(r, 200, reply);
}

/* ======================================================================== freeze, thaw */

/*
 * Cinder's volume API's _replication_db_change for frozen, by host ($1): every volume service
 * the host matches, locked; those whose frozen is $2 get $3. Returns each one's host and
 * whether it changed.
 */
static const char sql_freeze[] =
	"WITH svc AS (SELECT id, host, COALESCE(frozen, false) = $2::boolean AS match "
	"FROM services WHERE NOT COALESCE(deleted, false) AND \"binary\" = 'cinder-volume' AND "
	SQL_HOST_MATCHES("host") " ORDER BY id FOR UPDATE), "
	"upd AS (UPDATE services s SET frozen = $3::boolean FROM svc "
	"WHERE s.id = svc.id AND svc.match RETURNING s.id) "
	"SELECT svc.host, svc.id IN (SELECT id FROM upd) FROM svc ORDER BY svc.id";

struct freeze_req {
	struct txn_ctx t;
	bool freeze;
	const char *host;
	char service_host[VOL_TEXT];  /* the first service's, where the call goes */
	struct vol_row row;           /* the call's addressee: only its host is set */
	union proto_args rpc;         /* freeze_host and thaw_host take no arguments */
	struct call_pending call;
};

static void freeze_free(void *p)
{
	struct freeze_req *f = p;

	call_volume_cancel(&f->call);
	free(f);
}

/* "['a', 'b']": the hosts as Cinder's message shows the list. */
static void freeze_host_list(PGresult *res, char *out, size_t outlen)
{
	size_t n = (size_t)snprintf(out, outlen, "[");

	for (int i = 0; i < PQntuples(res) && n < outlen; i++)
		if (*PQgetvalue(res, i, 1) != 't')
			n += (size_t)snprintf(out + n, outlen - n, "%s'%s'", n > 1 ? ", " : "",
					      PQgetvalue(res, i, 0));
	if (n < outlen)
		snprintf(out + n, outlen - n, "]");
}

static int freeze_txn(db_conn *db, void *arg)
{
	struct freeze_req *f = arg;
	const char *params[] = { f->host, f->freeze ? "false" : "true",
				 f->freeze ? "true" : "false" };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_freeze, 3, params, &res);
	int changed = 0;

	if (rc != DB_OK)
		return rc;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		changed += *PQgetvalue(res, i, 1) == 't';
		if (strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, 0, 0)) != 0) {
			fault_reply(f->t.r, 400, "Services from different clusters found.");
			rc = TXN_FAULT;
		}
	}
	if (rc == DB_OK && n == 0) {
		fault_reply(f->t.r, 400, "Invalid input received: No service found with host=%s",
			    f->host);
		rc = TXN_FAULT;
	} else if (rc == DB_OK && changed == 0) {
		char hosts[VOL_TEXT + 8];

		freeze_host_list(res, hosts, sizeof(hosts));
		fault_reply(f->t.r, 400, "Invalid input received: No service could be changed: "
			    "frozen in %s must be %s to failover.", hosts,
			    f->freeze ? "False" : "True");
		rc = TXN_FAULT;
	} else if (rc == DB_OK) {
		util_strlcpy(f->service_host, PQgetvalue(res, 0, 0), sizeof(f->service_host));
	}
	PQclear(res);
	return rc;
}

static void freeze_notify(void *arg)
{
	struct freeze_req *f = arg;

	req_wake(f->t.r);
}

/* The manager's answer: Cinder's API answers 200 without a body once the call returned. */
static void freeze_resumed(struct shim_request *r)
{
	struct freeze_req *f = r->state;
	struct call_reply reply;

	if (r->replied)
		return;
	if (call_volume_finish(r, &f->call, &reply) != 0)
		return;
	if (reply.failed)
		fault_reply(r, 500, "%s", FAULT_MSG_INTERNAL);
	else
		req_reply(r, 200, NULL);
	json_decref(reply.result);
}

static void services_freeze(struct shim_request *r, const json_t *body, bool freeze)
{
	static const char *const allowed[] = { "cluster", "host", NULL };
	struct freeze_req *f;

	if (!policy_enforce(r, freeze ? &freeze_policy : &thaw_policy, NULL))
		return;
	if (validate_object(r, "", body) != 0 || validate_no_extra(r, "", body, allowed) != 0 ||
	    services_check_nullable(r, "cluster", json_object_get(body, "cluster")) != 0 ||
	    services_check_host(r, json_object_get(body, "host")) != 0)
		return;
	const char *host = services_host(r, body, req_ver_ge(r, 3, 26));
	if (host == NULL)
		return;
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	f->call.slot = -1;
	r->state = f;
	r->state_free = freeze_free;
	f->t.r = r;
	f->freeze = freeze;
	f->host = host;
	if (txn_run(&f->t, freeze_txn) != 0)
		return;
	/* The call goes to the service's own queue, as a volume's call goes to its host's. */
	util_strlcpy(f->row.host, f->service_host, sizeof(f->row.host));
	req_suspend(r, freeze_resumed);
	if (call_volume_start(r, &f->row, freeze ? PROTO_M_FREEZE_HOST : PROTO_M_THAW_HOST,
			      &f->rpc, &f->call, freeze_notify, f) != 0)
		req_wake(r);
}

void services_update(struct shim_request *r)
{
	const char *action = r->captures[1];
	json_t *body;

	if (!policy_enforce(r, &services_update_policy, NULL))
		return;
	for (size_t i = 0; i < NACTIONS; i++) {
		if (strcmp(action, services_actions[i].name) != 0)
			continue;
		body = req_json_body(r);
		if (body == NULL)
			return;
		if (services_actions[i].op == SVC_FREEZE || services_actions[i].op == SVC_THAW)
			services_freeze(r, body, services_actions[i].op == SVC_FREEZE);
		else
			services_toggle(r, body, services_actions[i].op);
		json_decref(body);
		return;
	}
	fault_reply(r, 400, "Invalid input received: Unknown action");
}
