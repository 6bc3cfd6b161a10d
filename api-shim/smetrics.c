/*
 * smetrics.c - the shim's metrics table, its updates and its health check (smetrics.h).
 */
#include "api-shim/smetrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api-shim/dbpool.h"
#include "api-shim/handlers.h"
#include "api-shim/publish.h"
#include "api-shim/replies.h"
#include "api-shim/server.h"
#include "api-shim/shim.h"
#include "common/cfg.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "proto/schema.h"

/* Room for server.c's routes and the catch-all. */
#define SM_ROUTES_MAX 128

enum sm_metric {
	SM_REQUESTS,
	SM_REQUEST_SECONDS,
	SM_CALL_TIMEOUTS,
	SM_PUBLISHES,
	SM_BROKER_RECONNECTS,
	SM_DATABASE_RECONNECTS,
	SM_METRIC_COUNT
};

/* The codes the shim sends, each a value of the "code" label; any other is "other". */
static const unsigned sm_code_numbers[] = { 200, 202, 204, 300, 400, 401, 403, 404, 405, 409,
					    413, 414, 415, 500, 501, 503, 504 };
#define SM_NCODES (sizeof(sm_code_numbers) / sizeof(sm_code_numbers[0]))
static const char *const sm_codes[SM_NCODES + 1] = {
	"200", "202", "204", "300", "400", "401", "403", "404", "405", "409", "413", "414", "415",
	"500", "501", "503", "504", "other",
};
_Static_assert(sizeof(sm_codes) / sizeof(sm_codes[0]) == SM_NCODES + 1,
	       "one label value per code, then other");
static const char *const sm_outcomes[] = { "confirmed", "failed" };
static const double sm_seconds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
				     30, 60, 120 };

/* The route label: method and pattern of each route of server.c's table, then the one
 * series of every URL no route takes. */
static const char *sm_route_methods[SM_ROUTES_MAX];
static const char *sm_route_patterns[SM_ROUTES_MAX];
static size_t sm_nroutes;
static bool sm_serving;

#define SM_ROUTE { "route", sm_route_patterns, 0, "method", sm_route_methods }

/* Not const: the route label's count is server.c's, known at smetrics_start. */
static struct metrics_def sm_defs[SM_METRIC_COUNT] = {
	[SM_REQUESTS] = { "volmgr_api_requests_total",
		"HTTP requests answered, by route (pattern and method) and status code.",
		METRICS_COUNTER, { SM_ROUTE, { "code", sm_codes, SM_NCODES + 1, NULL, NULL } },
		NULL, 0, 0 },
	[SM_REQUEST_SECONDS] = { "volmgr_api_request_seconds",
		"Time from a request's head to the end of its answer, by route.",
		METRICS_HISTOGRAM, { SM_ROUTE }, sm_seconds,
		sizeof(sm_seconds) / sizeof(sm_seconds[0]), 1e-3 },
	[SM_CALL_TIMEOUTS] = { "volmgr_api_rpc_call_timeouts_total",
		"RPC calls to the volume manager that got no reply in time, by method.",
		METRICS_COUNTER, { { "method", proto_method_labels, PROTO_M_COUNT + 1, NULL,
				     NULL } }, NULL, 0, 0 },
	[SM_PUBLISHES] = { "volmgr_api_publishes_total",
		"Messages published to the broker, by whether the broker confirmed them.",
		METRICS_COUNTER, { { "outcome", sm_outcomes, 2, NULL, NULL } }, NULL, 0, 0 },
	[SM_BROKER_RECONNECTS] = METRICS_ROW_BROKER_RECONNECTS,
	[SM_DATABASE_RECONNECTS] = METRICS_ROW_DATABASE_RECONNECTS,
};

/* The listener's health check: the same as GET /healthcheck on the API port. */
static void smetrics_listener_health(struct health_report *h, void *arg)
{
	(void)arg;
	smetrics_health(h);
}

int smetrics_start(void)
{
	const char *listen = api_cfg.metrics_listen != NULL && api_cfg.metrics_listen[0] != '\0'
		? api_cfg.metrics_listen : cfg_common.metrics_listen;
	char err[256];

	sm_nroutes = server_route_count();
	if (sm_nroutes + 1 > SM_ROUTES_MAX) {
		log_error("metrics: %zu routes do not fit the route label", sm_nroutes);
		return -1;
	}
	for (size_t i = 0; i < sm_nroutes; i++)
		server_route_label(i, &sm_route_methods[i], &sm_route_patterns[i]);
	sm_route_methods[sm_nroutes] = "other";
	sm_route_patterns[sm_nroutes] = "unmatched";
	sm_defs[SM_REQUESTS].labels[0].n = sm_nroutes + 1;
	sm_defs[SM_REQUEST_SECONDS].labels[0].n = sm_nroutes + 1;
	if (metrics_init(sm_defs, SM_METRIC_COUNT, 1) != 0) {
		log_error("cannot set up the metrics");
		return -1;
	}
	if (listen == NULL || listen[0] == '\0')
		return 0;
	if (metrics_http_start(listen, METRICS_HTTP_THREAD, smetrics_listener_health, NULL, err,
			       sizeof(err)) != 0) {
		log_error("metrics_listen: %s", err);
		return -1;
	}
	sm_serving = true;
	log_info("serving /metrics on %s", listen);
	return 0;
}

void smetrics_stop(void)
{
	if (sm_serving)
		metrics_http_stop();
	sm_serving = false;
	metrics_free();
}

void smetrics_request(size_t route, unsigned status, int64_t took_ms)
{
	size_t code = 0;

	while (code < SM_NCODES && sm_code_numbers[code] != status)
		code++;
	metrics_add(SM_REQUESTS, metrics_series(SM_REQUESTS, route, code, 0), 1);
	metrics_observe(SM_REQUEST_SECONDS, metrics_series(SM_REQUEST_SECONDS, route, 0, 0),
			took_ms > 0 ? (uint64_t)took_ms : 0);
}

void smetrics_call_timeout(int method)
{
	metrics_add(SM_CALL_TIMEOUTS, metrics_series(SM_CALL_TIMEOUTS, (size_t)method, 0, 0), 1);
}

void smetrics_published(bool ok)
{
	metrics_add(SM_PUBLISHES, ok ? 0 : 1, 1);
}

void smetrics_broker_reconnect(void)
{
	metrics_add(SM_BROKER_RECONNECTS, 0, 1);
}

void smetrics_database_reconnect(void)
{
	metrics_add(SM_DATABASE_RECONNECTS, 0, 1);
}

void smetrics_health(struct health_report *h)
{
	db_conn *db = dbpool_get();
	PGresult *res = NULL;
	int rc = db != NULL ? db_exec(db, "SELECT 1", 0, NULL, &res) : DB_RECONNECT;

	PQclear(res);
	health_add(h, "DatabaseCheck", rc == DB_OK, "SELECT 1 on a pooled connection",
		   "database unreachable%s%s", db != NULL ? ": " : "",
		   db != NULL ? db_last_error(db) : "");
	bool replies = replies_ready(), publisher = publish_broker_ok();
	health_add(h, "BrokerCheck", replies && publisher,
		   "the reply queue's consumer and the publisher's last connection attempt",
		   "message broker unreachable (%s)", !replies ? "no reply queue consumer"
		   : "the publisher cannot connect");
}

void healthcheck_show(struct shim_request *r)
{
	struct health_report h = { .n = 0 };
	bool head = strcmp(r->method, "HEAD") == 0;
	const char *type;

	smetrics_health(&h);
	char *body = health_render(&h, health_format_of(req_header(r, "Accept")),
				   r->authenticated && r->auth.is_admin, &type);
	if (head) {
		free(body);
		body = NULL;
	}
	req_reply_text(r, (unsigned)health_status(&h, head), body, type);
}
