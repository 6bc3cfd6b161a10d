/*
 * main.c - bin/volume-manager: the volume service of one "<host>@<backend>".
 *
 * Two threads, four in worker 0. The migration engine (engine.h) drives migrations on
 * connections of its own; so do worker 0's notification relay (relay.h), which publishes the
 * outbox, and its capability thread (capabilities.h), which sends the backend's reports to
 * the schedulers.
 * The main thread's loop waits at most MGR_TICK_MS for a delivery, handles it and whatever
 * else arrives within the batch window completely (batch.c, dispatch.c), then runs whatever periodic task is due, so that signals, heartbeats and
 * periodic work are looked at least once a second. Nothing is consumed while the database is
 * unreachable: the consumer connection is dropped (the broker keeps the messages) until the
 * database answers again.
 *
 * With [manager] workers above 1 the process becomes the supervisor of that many workers
 * (manager/workers.h) right after the configuration is read, and each worker goes on from
 * there as a single manager would.
 *
 * Exit status: 0 after a clean stop, 1 when the configuration or the backend is unusable at
 * start-up (WORKERS_EXIT_STARTUP), 2 on a usage error.
 */
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#else
#include <amqp.h>
#endif
#include <libpq-fe.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/cfg.h"
#include "common/db.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"
#include "core/glance.h"
#include "core/nova.h"
#include "manager/batch.h"
#include "manager/capabilities.h"
#include "manager/consumer.h"
#include "manager/engine.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/mmetrics.h"
#include "manager/periodic.h"
#include "manager/relay.h"
#include "manager/workers.h"

#define MGR_TICK_MS 1000
#define MGR_BACKOFF_BASE_MS 500
#define MGR_BACKOFF_CAP_MS 30000
/* Bounds every statement, so that one delivery stays far below the AMQP heartbeat. */
#define MGR_STATEMENT_TIMEOUT_MS 5000
/* A broker connect to one host: its TCP connect (5 s) and one AMQP call (30 s, common/mq.c). */
#define MGR_BROKER_CONNECT_S 35

static volatile sig_atomic_t mgr_stop;
/* This process's worker slot; 0 when it is the only manager process. */
static int mgr_slot;

/* How often the worker that sweeps counts the rows its gauges show. */
#define MGR_GAUGES_MS 5000

struct mgr_timers {
	int64_t next_report;
	int64_t next_sweep;
	int64_t next_gauges;
};

static int mgr_usage(FILE *f, int status)
{
	fprintf(f, "usage: volume-manager [--config-file PATH]\n");
	return status;
}

/* Sleeps a retry's backoff (at most MGR_BACKOFF_CAP_MS) or until a stop signal, showing
 * progress every second: a worker that waits for a server to come back is not hung, and the
 * supervisor's watchdog must not take it for one. */
static void mgr_backoff(int attempt)
{
	int64_t end = util_now_ms() + util_backoff_ms(attempt, MGR_BACKOFF_BASE_MS,
						      MGR_BACKOFF_CAP_MS);

	for (int64_t left; !mgr_stop && (left = end - util_now_ms()) > 0;) {
		mmetrics_progress();
		util_sleep_ms(left < 1000 ? (int)left : 1000, &mgr_stop);
	}
}

/* Warns when the watchdog's bound is not above the longest a worker may wait in one bounded
 * call without a sign of progress: a compute call (up to three requests of [nova] timeout),
 * a Glance metadata request, or a broker connect (MGR_BROKER_CONNECT_S for one host). Such a
 * worker is alive, and killing it would only repeat its work. */
static void mgr_check_stall_bound(void)
{
	int longest = MGR_BROKER_CONNECT_S;

	if (mconf.workers < 2)
		return;
	if (3 * nova_cfg.timeout > longest)
		longest = 3 * nova_cfg.timeout;
	if (glance_cfg.request_timeout > longest)
		longest = glance_cfg.request_timeout;
	if (mconf.worker_stall_timeout <= longest)
		log_warning("[manager] worker_stall_timeout %d s is not above %d s, the longest a "
			    "worker may wait in one call to compute, Glance or the broker: the "
			    "watchdog may kill a worker that only waits", mconf.worker_stall_timeout,
			    longest);
}

/* Connects to the database, retrying with capped backoff until it answers or a signal
 * arrives (NULL then). */
static db_conn *mgr_db_open(void)
{
	for (int attempt = 0; !mgr_stop; attempt++) {
		db_conn *db = db_open(cfg_common.db_connection, "volume-manager",
				      MGR_STATEMENT_TIMEOUT_MS);
		if (db != NULL)
			return db;
		mgr_backoff(attempt);
	}
	return NULL;
}

/* Reconnects a lost database session, retrying until it answers or a signal arrives. */
static void mgr_db_wait(db_conn *db)
{
	log_warning("database unreachable: not consuming until it answers again");
	for (int attempt = 0; !mgr_stop && db_reconnect(db) != DB_OK; attempt++)
		mgr_backoff(attempt);
	if (!mgr_stop) {
		mmetrics_database_reconnect();
		log_info("database reachable again");
	}
}

static void mgr_periodic(db_conn *db, struct mgr_timers *t)
{
	int64_t now = util_now_ms();

	if (now >= t->next_report) {
		service_report(db);
		t->next_report = now + (int64_t)mconf.report_interval * 1000;
	}
	/* Every worker sends the heartbeat above, so that the services row shows the service up
	 * while any of its workers consumes. The sweeps below need doing once per service, not
	 * once per worker: they are safe beside other managers (row locks, SKIP LOCKED), but N
	 * workers sweeping at once would only queue up on the same rows. Worker 0 runs them; a
	 * dead worker 0 is restarted in its slot, which delays a sweep by seconds against
	 * periods of minutes (extend_feedback_timeout, processed_message_retention). */
	if (mgr_slot == 0 && now >= t->next_sweep) {
		pending_sweep(db);
		retention_sweep(db);
		t->next_sweep = now + (int64_t)mconf.periodic_interval * 1000;
	}
	if (mgr_slot == 0 && now >= t->next_gauges) {
		mmetrics_refresh(db);
		t->next_gauges = now + MGR_GAUGES_MS;
	}
}

/* Connects the consumer (one try). Returns true when it consumes. */
static bool mgr_connect(struct consumer *c, int *attempt)
{
	/* Every connection after the first one of this process is a reconnect. */
	static bool connected_before;
	char err[512];

	if (consumer_connect(c, err, sizeof(err)) == MQ_OK) {
		if (connected_before)
			mmetrics_broker_reconnect();
		connected_before = true;
		log_info("consuming %s, %s, %s on exchange %s and %s, %s on %s, %s%s",
			 c->queues[0], c->queues[1], c->queues[2], cfg_common.control_exchange,
			 c->queues[3], c->queues[4], c->fanouts[0], c->fanouts[1],
			 mconf.oslo_compatible_topology ? " (oslo-compatible topology)" : "");
		*attempt = 0;
		return true;
	}
	log_error("broker: %s", err);
	mgr_backoff((*attempt)++);
	return false;
}

static void mgr_run(db_conn *db, struct consumer *c, struct batch *b)
{
	struct mgr_timers timers = { 0, 0, 0 };
	int attempt = 0;

	/* Long copies and transfers run on this thread inside a delivery: their progress keeps
	 * this worker fresh for the health check (mmetrics.h). */
	util_progress_hook(mmetrics_progress);
	service_register(db);
	timers.next_report = util_now_ms() + (int64_t)mconf.report_interval * 1000;
	while (!mgr_stop) {
		mmetrics_loop(c->in != NULL, db_is_ok(db));
		if (c->in == NULL && !mgr_connect(c, &attempt))
			continue;

		int rc = batch_run(b, db, c, MGR_TICK_MS, &mgr_stop);
		if (rc == BATCH_STOPPED)
			break;
		if (rc < 0)
			consumer_close(c);
		if (!db_is_ok(db)) {
			consumer_close(c);
			mmetrics_loop(false, false);
			mgr_db_wait(db);
		}
		/* While the consumer is down the heartbeat stops too, so that the services row
		 * shows a service that cannot take requests as down. */
		if (!mgr_stop && c->in != NULL)
			mgr_periodic(db, &timers);
	}
	log_info("stopping: closing the consumer (unacknowledged deliveries return to the "
		 "queues)");
	consumer_close(c);
}

int main(int argc, char **argv)
{
	struct consumer consumer;
	char err[512];
	int next, status = WORKERS_EXIT_STARTUP;

	/* First, so that a signal during start-up already means "stop cleanly". */
	util_install_signals(&mgr_stop);
	const char *path = cfg_config_file_arg(argc, argv, &next);
	if (next < 0)
		return mgr_usage(stderr, 2);
	if (next < argc)
		return strcmp(argv[next], "--help") == 0 || strcmp(argv[next], "-h") == 0
			? mgr_usage(stdout, 0) : mgr_usage(stderr, 2);
	if (mconf_load(path, err, sizeof(err)) != 0) {
		fprintf(stderr, "volume-manager: %s\n", err);
		goto out_conf;
	}
	int level = log_level_parse(cfg_common.log_level);
	if (level < 0) {
		fprintf(stderr, "volume-manager: [DEFAULT] log_level: unknown level '%s'\n",
			cfg_common.log_level);
		goto out_conf;
	}
	if (log_init("volume-manager", (enum log_level)level, NULL) != 0)
		fprintf(stderr, "volume-manager: cannot open the log; logging to stderr\n");
	/* No heartbeat is serviced while compute answers, so its wait must stay well inside the
	 * heartbeat interval. */
	int hb = cfg_common.heartbeat_timeout_threshold;
	if (hb > 0 && nova_cfg.timeout > hb / 3) {
		log_warning("[nova] timeout %d s is capped at %d s (a third of "
			    "heartbeat_timeout_threshold)", nova_cfg.timeout, hb / 3 > 0 ? hb / 3 : 1);
		nova_cfg.timeout = hb / 3 > 0 ? hb / 3 : 1;
	}
	mgr_check_stall_bound();
	/* Before the fork, so that the workers share the cells and the supervisor serves them
	 * (manager/mmetrics.h). */
	if (mmetrics_init(mconf.workers) != 0)
		goto out_conf;
	if (mmetrics_serve(mconf.workers > 1) != 0)
		goto out_metrics;
	if (mconf.workers > 1) {
		/* The drain of a worker, plus a statement it may be in and one tick of its loop. */
		int drain_ms = mconf.drain_timeout * 1000 + MGR_STATEMENT_TIMEOUT_MS + MGR_TICK_MS;
		struct workers_watch watch = { mmetrics_wait, mmetrics_progress_s,
					       mconf.worker_stall_timeout };
		int rc = workers_run(mconf.workers, drain_ms, &mgr_stop, &mgr_slot, &watch);
		if (rc != WORKERS_CHILD) {
			status = rc;
			goto out_metrics;
		}
		mmetrics_worker_detach();
		mmetrics_worker(mgr_slot);
	}
	if (http_global_init() != 0) {
		log_error("cannot initialise the HTTP client");
		goto out_metrics;
	}
	if (job_driver->setup(err, sizeof(err)) != DRV_OK) {
		log_error("%s driver: %s", job_driver->name, err);
		goto out_http;
	}
	if (consumer_init(&consumer) != 0) {
		log_error("queue names for %s are too long", mconf.service_host);
		goto out_http;
	}
	log_info("volume-manager up: service %s, driver %s (%s), librabbitmq %s, msgpack %s, "
		 "libpq %d; queues %s, %s, %s", mconf.service_host, job_driver->name,
		 mconf.filestore_dir, amqp_version(), MSGPACK_VERSION, PQlibVersion(),
		 consumer.queues[0], consumer.queues[1], consumer.queues[2]);

	if (cfg_common.rabbit_qos_prefetch_count < mconf.batch_size)
		log_warning("[manager] batch_size %d is above rabbit_qos_prefetch_count %d: a "
			    "batch closes at %d messages", mconf.batch_size,
			    cfg_common.rabbit_qos_prefetch_count, cfg_common.rabbit_qos_prefetch_count);
	struct batch *batch = batch_new();
	if (batch == NULL)
		goto out_http;
	db_conn *db = mgr_db_open();
	/* A manager without its migration engine would leave migrations stuck: it does not
	 * serve, and says so by its exit status. */
	bool engine_failed = db != NULL && engine_start(&mgr_stop) != 0;
	/* One relay per service is enough, as for the sweeps: worker 0 runs it (a restarted
	 * worker 0 starts it again), and its advisory lock keeps any other manager of the
	 * database from interleaving with it. */
	bool relay_failed = db != NULL && !engine_failed && mgr_slot == 0 &&
			    relay_start(db, &mgr_stop) != 0;
	if (db != NULL && !engine_failed && !relay_failed) {
		/* One report per service: worker 0's (capabilities.h). A manager without its
		 * reports still serves; the schedulers then do not place volumes on it. */
		if (mgr_slot == 0 && caps_start(&mgr_stop) != 0)
			log_error("no capability reports will be sent to the schedulers");
		mgr_run(db, &consumer, batch);
		caps_join();
	} else {
		mgr_stop = 1;   /* ends whichever thread did start */
	}
	/* The engine ends a copy at the stop signal; a migration goes on from its recorded
	 * stage at the next start. The relay ends after its current publish; what it did not
	 * delete goes at the next start. */
	engine_join();
	relay_join();
	if (db != NULL)
		db_close(db);
	batch_free(batch);
	log_info("volume-manager stopped");
	status = engine_failed || relay_failed ? WORKERS_EXIT_STARTUP : 0;
out_http:
	http_global_cleanup();
out_metrics:
	mmetrics_stop();
out_conf:
	mconf_free();
	return status;
}
