/*
 * mmetrics.h - the volume manager's metrics (the table of common/metrics.h) and its health
 * check, served on [DEFAULT] metrics_listen (docs/metrics.md lists every metric).
 *
 * With [manager] workers > 1 the supervisor makes the cells before it forks, so that every
 * worker writes its own slot of one shared mapping, and serves the port itself: one set of
 * figures, summed over the workers, on one port. The supervisor holds no connection, so its
 * health check reads what each worker's main loop last recorded (mmetrics_loop): a worker
 * serves when its loop ran lately with its consumer connected and its database session up.
 * "Lately" counts a delivery's progress too (mmetrics_progress): a manager busy copying a
 * large volume or downloading an image inline stays healthy, and only a handler stuck for
 * the whole bound makes its worker stale. No test covers the bound itself: it would take a
 * copy that lasts longer than 30 s, and a bound settable for tests would be a knob no
 * operator needs. A worker's wait between two attempts to reach the database or the broker
 * shows progress too: it is alive, and the checks of those two say what it waits for. The
 * supervisor's watchdog reads the same stamp (workers.h).
 * The same holds for a single manager, whose listener thread must not touch the main
 * thread's database connection either.
 *
 * The gauges of rows are never counted at scrape time. Pending extends and migrations in
 * progress are counted by the periodic work of the worker that runs the sweeps
 * (mmetrics_refresh), on the main loop's own connection: both tables hold one row per
 * operation under way, so the counts stay small and quick. The outbox may hold a large
 * backlog (a broker down for hours): its depth is set by the relay thread, which reads the
 * outbox anyway (mmetrics_outbox_depth), never by the thread that serves deliveries.
 */
#ifndef VOLMGR_MANAGER_MMETRICS_H
#define VOLMGR_MANAGER_MMETRICS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"
#include "proto/schema.h"

/* How a delivery ended, the "outcome" label of volmgr_manager_messages_total. */
enum mmetrics_outcome {
	MM_OK,            /* handled and committed (including "nothing to do") */
	MM_FAILED,        /* handled, with a failure recorded for its caller or volume */
	MM_DUPLICATE,     /* its _unique_id was processed already: acked, nothing done */
	MM_DEAD_LETTERED,
	MM_DEFERRED,      /* left unacknowledged: the database is down or the service stops */
	MM_OUTCOME_COUNT
};

/* Makes the cells for nslots processes (1, or [manager] workers). Call once, before any
 * fork or thread. Returns 0 or -1 (logged). */
__attribute__((warn_unused_result))
int mmetrics_init(int nslots);

/* A worker's first call: its slot. */
void mmetrics_worker(int slot);

/* Starts the listener when [DEFAULT] metrics_listen is set. A supervisor (a process that
 * forks workers) must stay single-threaded: its listener then answers only inside
 * mmetrics_wait, which its loop waits with. Returns 0 or -1 (logged). */
__attribute__((warn_unused_result))
int mmetrics_serve(bool supervisor);

/* The wall-clock second at which the worker of slot last ran its loop or showed progress (0:
 * not since it started); for the supervisor's watchdog (workers.h). */
int64_t mmetrics_progress_s(int slot);

/* Waits ms milliseconds, or less once *wake is set, answering the supervisor's listener
 * meanwhile (common/metrics_http.h, metrics_http_wait). */
void mmetrics_wait(int ms, volatile sig_atomic_t *wake);

/* In a worker forked after mmetrics_serve: closes the inherited listening socket (the
 * supervisor serves it). */
void mmetrics_worker_detach(void);

/* Stops the listener and frees the cells. */
void mmetrics_stop(void);

/* A delivery of method m (NULL: not decoded or not served) ended with outcome. */
void mmetrics_message(const struct proto_method *m, enum mmetrics_outcome outcome);

/*
 * A message of m was committed (handled or failed): records its handler time (handler_us,
 * from the start of its transaction to the commit) and its publish-to-commit time, from the
 * timestamp of the caller's request context (naive UTC isoformat, which the sender stamps as
 * it builds the message; NULL or unparsable: not recorded).
 */
void mmetrics_committed(const struct proto_method *m, int64_t handler_us,
			const char *ctx_timestamp);

/* A group commit finalized n messages in one transaction. */
void mmetrics_group_commit(int n);

/* A delivery was dead-lettered: method as received (NULL: not decoded), status the proto
 * status or JOB_PERMANENT it was dead-lettered for. */
void mmetrics_dead_letter(const char *method, int status);

/* A delivery came with the redelivered flag. */
void mmetrics_redelivered(void);

/* The relay's view of the outbox: rows written and not yet relayed. */
void mmetrics_outbox_depth(int64_t rows);

/* The broker refused a notification the relay published. */
void mmetrics_notification_nacked(void);

/* A broker / database connection was made again after one was lost or refused. */
void mmetrics_broker_reconnect(void);
void mmetrics_database_reconnect(void);

/* The main loop's state, recorded at each turn: whether it consumes and whether its
 * database session is up. */
void mmetrics_loop(bool consuming, bool database_up);

/* The main thread made progress: its handler moved a buffer (util_progress's hook, set by the
 * main loop), or it waits between two attempts to reach the database or the broker.
 * Restarts the staleness clock of the health check and of the supervisor's watchdog for this
 * worker without changing its state. */
void mmetrics_progress(void);

/* Refreshes the gauges of rows with one bounded query on db (errors are logged). */
void mmetrics_refresh(db_conn *db);

#endif
