/*
 * mmetrics.c - the manager's metrics table, its updates and its health check (mmetrics.h).
 */
#include "manager/mmetrics.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/health.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "common/util.h"
#include "core/status.h"
#include "manager/workers.h"
#include "proto/codec.h"

/* A worker whose loop has not turned, and whose handler has not made progress, for this long
 * is not serving, whatever it last said (a dead worker's slot keeps its last values until its
 * replacement starts). The loop turns at least once a second; a delivery restarts the clock
 * when it starts, and its long parts (a volume copy, an image transfer) once per buffer
 * through util_progress (mmetrics_progress), so that only a handler stuck this long between
 * two buffers, or in one statement or call, makes its worker stale. */
#define MM_STALE_S 30

enum mm_metric {
	MM_MESSAGES,
	MM_HANDLER_SECONDS,
	MM_PUBLISH_TO_COMMIT_SECONDS,
	MM_GROUP_COMMIT_MESSAGES,
	MM_DEAD_LETTERS,
	MM_REDELIVERIES,
	MM_BROKER_RECONNECTS,
	MM_DATABASE_RECONNECTS,
	MM_PENDING_EXTENDS,
	MM_MIGRATIONS,
	MM_OUTBOX_DEPTH,
	MM_NOTIFICATIONS_NACKED,
	MM_BROKER_CONNECTED,
	MM_DATABASE_CONNECTED,
	MM_LOOP_TIMESTAMP,
	MM_METRIC_COUNT
};

/* Why a message was dead-lettered: the "reason" label. */
enum mm_dead_reason {
	MM_DL_MALFORMED,
	MM_DL_UNKNOWN_METHOD,
	MM_DL_UNSUPPORTED_VERSION,
	MM_DL_INVALID_ARGUMENTS,
	MM_DL_HANDLER_FAILED,
	MM_DL_COUNT
};

static const char *const mm_outcomes[MM_OUTCOME_COUNT] = {
	[MM_OK] = "ok", [MM_FAILED] = "failed", [MM_DUPLICATE] = "duplicate",
	[MM_DEAD_LETTERED] = "dead_lettered", [MM_DEFERRED] = "deferred",
};
static const char *const mm_dead_reasons[MM_DL_COUNT] = {
	[MM_DL_MALFORMED] = "malformed", [MM_DL_UNKNOWN_METHOD] = "unknown_method",
	[MM_DL_UNSUPPORTED_VERSION] = "unsupported_version",
	[MM_DL_INVALID_ARGUMENTS] = "invalid_arguments", [MM_DL_HANDLER_FAILED] = "handler_failed",
};
/* A worker's slot number: the per-worker gauges have one series per worker. */
static const char *const mm_workers[WORKERS_MAX] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
	"17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
	"32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46",
	"47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61",
	"62", "63"
};
static const double mm_seconds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				     1, 2.5, 5, 10, 30, 60 };
static const double mm_sizes[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 };

#define MM_METHOD { "method", proto_method_labels, PROTO_M_COUNT + 1, NULL, NULL }
#define MM_N(a) (sizeof(a) / sizeof((a)[0]))

/* Not const: the worker label's count is the number of slots, known at mmetrics_init. */
static struct metrics_def mm_defs[MM_METRIC_COUNT] = {
	[MM_MESSAGES] = { "volmgr_manager_messages_total",
		"Deliveries taken from the service queues, by method and how they ended.",
		METRICS_COUNTER, { MM_METHOD, { "outcome", mm_outcomes, MM_OUTCOME_COUNT, NULL,
					       NULL } }, NULL, 0, 0 },
	[MM_HANDLER_SECONDS] = { "volmgr_manager_handler_seconds",
		"Time from the start of a message's transaction (retries included) to its commit.",
		METRICS_HISTOGRAM, { MM_METHOD }, mm_seconds, MM_N(mm_seconds), 1e-6 },
	[MM_PUBLISH_TO_COMMIT_SECONDS] = { "volmgr_manager_publish_to_commit_seconds",
		"Time from the timestamp of the sender's request context to the commit of the "
		"message.", METRICS_HISTOGRAM, { MM_METHOD }, mm_seconds, MM_N(mm_seconds), 1e-6 },
	[MM_GROUP_COMMIT_MESSAGES] = { "volmgr_manager_group_commit_messages",
		"Messages finalized together by one group commit.", METRICS_HISTOGRAM, { { 0 } },
		mm_sizes, MM_N(mm_sizes), 0 },
	[MM_DEAD_LETTERS] = { "volmgr_manager_dead_letters_total",
		"Deliveries dead-lettered, by reason class.", METRICS_COUNTER,
		{ { "reason", mm_dead_reasons, MM_DL_COUNT, NULL, NULL } }, NULL, 0, 0 },
	[MM_REDELIVERIES] = { "volmgr_manager_redeliveries_total",
		"Deliveries the broker flagged as redelivered.", METRICS_COUNTER, { { 0 } }, NULL,
		0, 0 },
	[MM_BROKER_RECONNECTS] = METRICS_ROW_BROKER_RECONNECTS,
	[MM_DATABASE_RECONNECTS] = METRICS_ROW_DATABASE_RECONNECTS,
	[MM_PENDING_EXTENDS] = { "volmgr_manager_pending_extends",
		"Online extends waiting for compute's completion (rows of "
		"volmgr_pending_extends).", METRICS_GAUGE, { { 0 } }, NULL, 0, 0 },
	[MM_MIGRATIONS] = { "volmgr_manager_migrations_in_progress",
		"Migrations neither done nor failed (rows of volmgr_migrations).", METRICS_GAUGE,
		{ { 0 } }, NULL, 0, 0 },
	[MM_OUTBOX_DEPTH] = { "volmgr_notifications_outbox_depth",
		"Notifications written and not yet relayed (rows of volmgr_notifications), as the "
		"relay last saw them.",
		METRICS_GAUGE, { { 0 } }, NULL, 0, 0 },
	[MM_NOTIFICATIONS_NACKED] = { "volmgr_notifications_nacked_total",
		"Notifications the broker refused (basic.nack); the relay tries each again before "
		"any later one.", METRICS_COUNTER, { { 0 } }, NULL, 0, 0 },
	[MM_BROKER_CONNECTED] = { "volmgr_manager_broker_connected",
		"1 while the worker's consumer connection is up.", METRICS_GAUGE,
		{ { "worker", mm_workers, 1, NULL, NULL } }, NULL, 0, 0 },
	[MM_DATABASE_CONNECTED] = { "volmgr_manager_database_connected",
		"1 while the worker's database session is up.", METRICS_GAUGE,
		{ { "worker", mm_workers, 1, NULL, NULL } }, NULL, 0, 0 },
	[MM_LOOP_TIMESTAMP] = { "volmgr_manager_last_loop_timestamp_seconds",
		"When the worker's main loop last turned, its handler last made progress, or it "
		"last waited to retry the database or the broker (Unix time).", METRICS_GAUGE,
		{ { "worker", mm_workers, 1, NULL, NULL } }, NULL, 0, 0 },
};

/* This process's slot: the series of the per-worker gauges. */
static int mm_slot;
static bool mm_serving;

int mmetrics_init(int nslots)
{
	mm_defs[MM_BROKER_CONNECTED].labels[0].n = (size_t)nslots;
	mm_defs[MM_DATABASE_CONNECTED].labels[0].n = (size_t)nslots;
	mm_defs[MM_LOOP_TIMESTAMP].labels[0].n = (size_t)nslots;
	if (metrics_init(mm_defs, MM_METRIC_COUNT, nslots) != 0) {
		log_error("cannot set up the metrics");
		return -1;
	}
	return 0;
}

void mmetrics_worker(int slot)
{
	mm_slot = slot;
	metrics_set_slot(slot);
	/* A replacement takes the slot of a worker that died: what that one last recorded is
	 * not this worker's state. */
	mmetrics_loop(false, false);
	metrics_set(MM_LOOP_TIMESTAMP, (size_t)slot, 0);
}

/* One worker's state as its loop last recorded it. */
struct mm_worker_state {
	bool fresh, consuming, database_up;
};

static struct mm_worker_state mm_worker_state(int slot, int64_t now_s)
{
	int64_t seen = metrics_slot_value(MM_LOOP_TIMESTAMP, (size_t)slot, slot);
	struct mm_worker_state w = { .fresh = seen > 0 && now_s - seen <= MM_STALE_S };

	w.consuming = w.fresh && metrics_slot_value(MM_BROKER_CONNECTED, (size_t)slot, slot);
	w.database_up = w.fresh && metrics_slot_value(MM_DATABASE_CONNECTED, (size_t)slot, slot);
	return w;
}

/* The listener's health check: the database and the broker as the workers see them. It
 * reads atomics only, so it is quick on the supervisor's loop, which it shares with the
 * watch over the workers (metrics_http.h). */
static void mmetrics_health(struct health_report *h, void *arg)
{
	int64_t now_s = util_wall_us() / 1000000;
	int n = metrics_slots(), db = 0, mq = 0, fresh = 0;
	char details[HEALTH_TEXT_MAX];

	(void)arg;
	for (int s = 0; s < n; s++) {
		struct mm_worker_state w = mm_worker_state(s, now_s);

		fresh += w.fresh;
		db += w.database_up;
		mq += w.consuming;
	}
	snprintf(details, sizeof(details), "%d of %d workers have a database session", db, n);
	health_add(h, "DatabaseCheck", db > 0, details, "database unreachable");
	snprintf(details, sizeof(details), "%d of %d workers consume from the broker", mq, n);
	health_add(h, "BrokerCheck", mq > 0, details, "message broker unreachable");
	snprintf(details, sizeof(details), "%d of %d workers' loops ran in the last %d s", fresh,
		 n, MM_STALE_S);
	health_add(h, "WorkerCheck", fresh > 0, details, "no worker is running its loop");
}

int mmetrics_serve(bool supervisor)
{
	char err[256];

	if (cfg_common.metrics_listen == NULL || cfg_common.metrics_listen[0] == '\0')
		return 0;
	if (metrics_http_start(cfg_common.metrics_listen,
			       supervisor ? METRICS_HTTP_CALLER : METRICS_HTTP_THREAD,
			       mmetrics_health, NULL, err, sizeof(err)) != 0) {
		log_error("[DEFAULT] metrics_listen: %s", err);
		return -1;
	}
	mm_serving = true;
	log_info("serving /metrics and /healthcheck on %s", cfg_common.metrics_listen);
	return 0;
}

int64_t mmetrics_progress_s(int slot)
{
	return metrics_slot_value(MM_LOOP_TIMESTAMP, (size_t)slot, slot);
}

void mmetrics_wait(int ms, volatile sig_atomic_t *wake)
{
	metrics_http_wait(ms, wake);
}

void mmetrics_worker_detach(void)
{
	if (mm_serving)
		metrics_http_detach();
	mm_serving = false;
}

void mmetrics_stop(void)
{
	if (mm_serving)
		metrics_http_stop();
	mm_serving = false;
	metrics_free();
}

static size_t mm_method(const struct proto_method *m)
{
	return m != NULL ? (size_t)m->id : PROTO_M_COUNT;
}

void mmetrics_message(const struct proto_method *m, enum mmetrics_outcome outcome)
{
	metrics_add(MM_MESSAGES, metrics_series(MM_MESSAGES, mm_method(m), outcome, 0), 1);
}

void mmetrics_committed(const struct proto_method *m, int64_t handler_us,
			const char *ctx_timestamp)
{
	int64_t sent_us;

	metrics_observe(MM_HANDLER_SECONDS, mm_method(m), handler_us > 0 ? (uint64_t)handler_us
									 : 0);
	if (util_iso_us(ctx_timestamp, &sent_us) != 0)
		return;
	int64_t waited = util_wall_us() - sent_us;
	/* A sender's clock ahead of ours is no reason to drop the observation. */
	metrics_observe(MM_PUBLISH_TO_COMMIT_SECONDS, mm_method(m),
			waited > 0 ? (uint64_t)waited : 0);
}

void mmetrics_group_commit(int n)
{
	if (n > 0)
		metrics_observe(MM_GROUP_COMMIT_MESSAGES, 0, (uint64_t)n);
}

void mmetrics_dead_letter(const char *method, int status)
{
	enum mm_dead_reason r;

	switch (status) {
	case PROTO_EMETHOD:
		r = MM_DL_UNKNOWN_METHOD;
		break;
	case PROTO_EVERSION:
		r = MM_DL_UNSUPPORTED_VERSION;
		break;
	case PROTO_EARGS:
	case PROTO_ERANGE:
		r = MM_DL_INVALID_ARGUMENTS;
		break;
	case JOB_PERMANENT:
		r = MM_DL_HANDLER_FAILED;
		break;
	default:
		r = MM_DL_MALFORMED;
		break;
	}
	metrics_add(MM_DEAD_LETTERS, r, 1);
	mmetrics_message(method != NULL ? proto_method_find(method) : NULL, MM_DEAD_LETTERED);
}

void mmetrics_redelivered(void)
{
	metrics_add(MM_REDELIVERIES, 0, 1);
}

void mmetrics_notification_nacked(void)
{
	metrics_add(MM_NOTIFICATIONS_NACKED, 0, 1);
}

void mmetrics_broker_reconnect(void)
{
	metrics_add(MM_BROKER_RECONNECTS, 0, 1);
}

void mmetrics_database_reconnect(void)
{
	metrics_add(MM_DATABASE_RECONNECTS, 0, 1);
}

void mmetrics_loop(bool consuming, bool database_up)
{
	metrics_set(MM_BROKER_CONNECTED, (size_t)mm_slot, consuming);
	metrics_set(MM_DATABASE_CONNECTED, (size_t)mm_slot, database_up);
	metrics_set(MM_LOOP_TIMESTAMP, (size_t)mm_slot, util_wall_us() / 1000000);
}

void mmetrics_progress(void)
{
	metrics_set(MM_LOOP_TIMESTAMP, (size_t)mm_slot, util_wall_us() / 1000000);
}

void mmetrics_outbox_depth(int64_t rows)
{
	metrics_set(MM_OUTBOX_DEPTH, 0, rows);
}

void mmetrics_refresh(db_conn *db)
{
	static const enum mm_metric gauges[] = { MM_PENDING_EXTENDS, MM_MIGRATIONS };
	PGresult *res = NULL;
	int rc = db_exec(db, "SELECT (SELECT count(*) FROM volmgr_pending_extends), "
			 "(SELECT count(*) FROM volmgr_migrations WHERE stage NOT IN "
			 "('done', 'failed'))", 0, NULL, &res);

	if (rc != DB_OK) {
		log_warning("metrics: counting rows failed: %s", db_last_error(db));
		PQclear(res);
		return;
	}
	for (size_t i = 0; i < MM_N(gauges); i++)
		metrics_set(gauges[i], 0, atoll(PQgetvalue(res, 0, (int)i)));
	PQclear(res);
}
