/*
 * capabilities.c - the capability reports to the schedulers (see capabilities.h).
 */
#include "manager/capabilities.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cfg.h"
#include "common/db.h"
#include "common/log.h"
#include "common/mq.h"
#include "common/util.h"
#include "core/settings.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "proto/json.h"
#include "proto/msg.h"
#include "proto/topology.h"
#include "proto/wire.h"

/* Cinder's scheduler topic and the version of update_service_capabilities that carries the
 * cluster name and the timestamp (Cinder's scheduler RPC API 3.3). */
#define CAPS_SCHEDULER_TOPIC "cinder-scheduler"
#define CAPS_METHOD "update_service_capabilities"
#define CAPS_VERSION "3.3"
#define CAPS_SERVICE_NAME "volume"
#define CAPS_STATEMENT_TIMEOUT_MS 5000
#define CAPS_TICK_MS 1000
/* A report is a few hundred bytes of JSON; this leaves room for any host and pool name. */
#define CAPS_ARENA_CAP (64 * 1024)

struct caps {
	volatile sig_atomic_t *stop;
	db_conn *db;
	mq_conn *mq;
	char exchange[PROTO_NAME_MAX];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wake;                 /* under lock: a report was asked for */
};

static struct caps caps = { .lock = PTHREAD_MUTEX_INITIALIZER,
			    .cond = PTHREAD_COND_INITIALIZER };
static pthread_t caps_thread;
static bool caps_started;

/* Capacities are reported in GiB with two decimals, as Cinder's drivers round them. */
static double caps_round(double gib)
{
	return round(gib * 100.0) / 100.0;
}

/* The pool's figures the database holds: the allocated capacity the manager counts
 * (volmgr_pool_stats, Cinder's manager's stats['pools']), and the volumes on the pool with
 * their provisioned size. */
static const char sql_pool_usage[] =
	"SELECT COALESCE((SELECT allocated_capacity_gb FROM volmgr_pool_stats"
	" WHERE host = $1 AND pool = $2), 0), count(*), COALESCE(sum(size), 0) FROM volumes "
	"WHERE NOT deleted AND (host = $1 OR host = $1 || '#' || $2)";

/*
 * The capabilities of this service as Cinder's volume manager sends them: the driver's stats
 * with one pool (Cinder's LVM driver's shape, the pool named after the backend as in every
 * volume host volmgr writes), the manager's allocated_capacity_gb added to the pool, and the
 * filter and goodness functions (none) at the top. Returns a new object, or NULL (logged).
 */
static json_t *caps_collect(struct caps *c)
{
	struct drv_stats st;
	char err[256];
	const char *pool = settings.backend;
	const char *params[] = { mconf.service_host, pool };
	PGresult *res = NULL;

	if (job_driver->stats(&st, err, sizeof(err)) != DRV_OK) {
		log_warning("capability report: %s driver: %s", job_driver->name, err);
		return NULL;
	}
	if (db_exec(c->db, sql_pool_usage, 2, params, &res) != DB_OK) {
		log_warning("capability report: reading the pool's usage: %s", db_last_error(c->db));
		return NULL;
	}
	json_int_t allocated = atoll(PQgetvalue(res, 0, 0));
	json_int_t volumes = atoll(PQgetvalue(res, 0, 1));
	json_int_t provisioned = atoll(PQgetvalue(res, 0, 2));
	PQclear(res);
	json_t *p = json_pack(
		"{s:s, s:f, s:f, s:I, s:s, s:b, s:I, s:s, s:b, s:b, s:I, s:n, s:n, s:b, s:s,"
		" s:I}",
		"pool_name", pool,
		"total_capacity_gb", caps_round(st.total_capacity_gb),
		"free_capacity_gb", caps_round(st.free_capacity_gb),
		"reserved_percentage", (json_int_t)mconf.reserved_percentage,
		"location_info", st.location_info,
		"QoS_support", 0,
		"provisioned_capacity_gb", provisioned,
		"max_over_subscription_ratio", mconf.max_over_subscription_ratio_text,
		"thin_provisioning_support", st.thin_provisioning,
		"thick_provisioning_support", !st.thin_provisioning,
		"total_volumes", volumes,
		"filter_function", "goodness_function",
		"multiattach", st.multiattach,
		"backend_state", "up",
		"allocated_capacity_gb", allocated);
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:[o], s:b, s:n, s:n}",
				"volume_backend_name", settings.backend,
				"vendor_name", st.vendor_name,
				"driver_version", st.driver_version,
				"storage_protocol", st.storage_protocol,
				"pools", p,
				"shared_targets", 0,
				"filter_function", "goodness_function");
	if (out == NULL)
		log_warning("capability report: out of memory");
	return out;
}

/* The latest report of this service, for the API shim's get_pools. */
static const char sql_store[] =
	"INSERT INTO volmgr_service_capabilities (host, service_name, cluster_name, "
	"capabilities, reported_at) VALUES ($1, $2, NULL, $3::jsonb, $4::timestamp) "
	"ON CONFLICT (host) DO UPDATE SET service_name = EXCLUDED.service_name, "
	"cluster_name = EXCLUDED.cluster_name, capabilities = EXCLUDED.capabilities, "
	"reported_at = EXCLUDED.reported_at";

static int caps_store(struct caps *c, const char *text, const char *ts)
{
	const char *params[] = { mconf.service_host, CAPS_SERVICE_NAME, text, ts };
	PGresult *res = NULL;
	int rc = db_exec(c->db, sql_store, 4, params, &res);

	PQclear(res);
	if (rc != DB_OK)
		log_warning("capability report: storing it: %s: %s", db_strerror(rc),
			    db_last_error(c->db));
	return rc;
}

/*
 * The cast as Cinder's scheduler RPC API sends it from the volume manager's periodic task:
 * an admin context (no user, no project), version 3.3, and the arguments service_name,
 * host, capabilities, cluster_name (null: volmgr's services are in no cluster) and
 * timestamp (naive UTC isoformat with microseconds). Returns a malloc'd body or NULL.
 */
static char *caps_encode(json_t *capabilities, const char *ts, size_t *len)
{
	struct proto_context ctx = { 0 };
	struct proto_msg m;
	char uuid[37], request_id[48];
	char *body = NULL;

	util_uuid4(uuid);
	snprintf(request_id, sizeof(request_id), "req-%s", uuid);
	ctx.request_id = request_id;
	ctx.timestamp = ts;
	ctx.read_deleted = "no";
	ctx.is_admin = true;
	ctx.is_admin_project = true;
	proto_msg_init(&m, CAPS_ARENA_CAP);
	if (proto_msg_prepare_cast(&m, CAPS_METHOD, CAPS_VERSION, &ctx, 5) != 0)
		goto out;
	struct pv_arena *a = &m.arena;
	struct pv *capv = proto_pv_from_json(a, capabilities);
	if (capv == NULL || pv_map_put_str(a, m.args, "service_name", CAPS_SERVICE_NAME) != 0 ||
	    pv_map_put_str(a, m.args, "host", mconf.service_host) != 0 ||
	    pv_map_put(a, m.args, "capabilities", capv) != 0 ||
	    pv_map_put(a, m.args, "cluster_name", pv_new_null(a)) != 0 ||
	    pv_map_put_str(a, m.args, "timestamp", ts) != 0)
		goto out;
	if (proto_encode(PROTO_FMT_JSON, &m, &body, len) != PROTO_OK)
		body = NULL;
out:
	proto_msg_destroy(&m);
	return body;
}

/* Opens the broker connection and declares the schedulers' fanout exchange as oslo's
 * fanout_send declares it (not durable, auto-delete), when not open. Returns MQ_OK or a
 * negative mq status (logged). */
static int caps_mq_ready(struct caps *c)
{
	struct mq_options o = { .url = cfg_common.transport_url, .heartbeat = 0,
				.confirms = true, .connect_timeout_ms = CAPS_PUBLISH_TIMEOUT_MS };
	char err[256];

	if (c->mq != NULL)
		return MQ_OK;
	c->mq = mq_open(&o, err, sizeof(err));
	if (c->mq == NULL) {
		log_warning("capability report: broker: %s", err);
		return MQ_CONN_LOST;
	}
	int rc = mq_declare_exchange_ad(c->mq, c->exchange, "fanout", false, true);
	if (rc != MQ_OK) {
		log_warning("capability report: declaring %s: %s", c->exchange, mq_strerror(rc));
		mq_close(c->mq);
		c->mq = NULL;
	}
	return rc;
}

/* Casts body to the schedulers. Not mandatory: no scheduler listening is no error, as for
 * oslo's fanout casts. Drops the connection after any failure, to open a fresh one next. */
static int caps_publish(struct caps *c, const char *body, size_t len)
{
	struct mq_props props = { .content_type = PROTO_CONTENT_TYPE_JSON };
	int rc = caps_mq_ready(c);

	if (rc != MQ_OK)
		return rc;
	rc = mq_publish(c->mq, c->exchange, CAPS_SCHEDULER_TOPIC, body, len, &props, false,
			CAPS_PUBLISH_TIMEOUT_MS);
	if (rc != MQ_OK) {
		log_warning("capability report: publishing to %s: %s", c->exchange,
			    mq_strerror(rc));
		mq_close(c->mq);
		c->mq = NULL;
	}
	return rc;
}

/* One report: collect, keep, cast. Failures are logged; the next period tries again. */
static void caps_report(struct caps *c)
{
	char ts[32];
	size_t len = 0;

	if (c->db == NULL)
		c->db = db_open(cfg_common.db_connection, "volume-manager-capabilities",
				CAPS_STATEMENT_TIMEOUT_MS);
	if (c->db == NULL || (!db_is_ok(c->db) && db_reconnect(c->db) != DB_OK)) {
		log_warning("capability report: database unreachable");
		return;
	}
	json_t *capabilities = caps_collect(c);
	if (capabilities == NULL)
		return;
	util_now_iso(ts);
	char *text = json_dumps(capabilities, JSON_COMPACT);
	char *body = caps_encode(capabilities, ts, &len);
	if (text == NULL || body == NULL) {
		log_warning("capability report: out of memory");
		goto out;
	}
	/* The report is kept even when the broker refuses it: it is what the backend has. */
	if (caps_store(c, text, ts) == DB_OK && caps_publish(c, body, len) == MQ_OK)
		log_debug("capability report sent to %s", c->exchange);
out:
	free(body);
	free(text);
	json_decref(capabilities);
}

/* Waits until a report is due (deadline, in util_now_ms's clock) or asked for, or the
 * daemon stops; wakes at least once a tick to look at the stop flag. */
static void caps_wait(struct caps *c, int64_t deadline)
{
	pthread_mutex_lock(&c->lock);
	while (!c->wake && !*c->stop) {
		int64_t left = deadline - util_now_ms();
		struct timespec until;

		if (left <= 0)
			break;
		clock_gettime(CLOCK_REALTIME, &until);
		int64_t ms = left < CAPS_TICK_MS ? left : CAPS_TICK_MS;
		until.tv_sec += (time_t)(ms / 1000);
		until.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &until);
	}
	c->wake = false;
	pthread_mutex_unlock(&c->lock);
}

static void *caps_main(void *arg)
{
	struct caps *c = arg;

	/* The stop signals go to the main thread, which owns the stop sequence (as for the
	 * engine and relay threads). */
	util_block_stop_signals();
	/* Cinder's manager reports once its RPC server is up (init_host_with_rpc), then every
	 * backend_stats_polling_interval. */
	while (!*c->stop) {
		caps_report(c);
		caps_wait(c, util_now_ms() + (int64_t)mconf.backend_stats_polling_interval * 1000);
	}
	mq_close(c->mq);
	c->mq = NULL;
	if (c->db != NULL)
		db_close(c->db);
	c->db = NULL;
	return NULL;
}

int caps_start(volatile sig_atomic_t *stop)
{
	caps.stop = stop;
	caps.wake = false;
	if (proto_fanout_exchange(CAPS_SCHEDULER_TOPIC, caps.exchange, sizeof(caps.exchange))
	    != 0)
		return -1;
	if (pthread_create(&caps_thread, NULL, caps_main, &caps) != 0) {
		log_error("cannot start the capability report thread");
		return -1;
	}
	caps_started = true;
	return 0;
}

bool caps_wake(void)
{
	if (!caps_started)
		return false;
	pthread_mutex_lock(&caps.lock);
	caps.wake = true;
	pthread_cond_signal(&caps.cond);
	pthread_mutex_unlock(&caps.lock);
	return true;
}

void caps_join(void)
{
	if (caps_started)
		pthread_join(caps_thread, NULL);
	caps_started = false;
}
