/*
 * capabilities.h - the capability reports of the volume service to the schedulers, as
 * Cinder's volume manager makes them (publish_service_capabilities, docs/cinder.md §22).
 *
 * A thread of the manager's worker 0 (one per service: every report of one service says the
 * same) gathers the driver's stats (drv_ops.stats) and the pool's allocated and provisioned
 * capacity from the database, keeps the report in volmgr_service_capabilities (sql/014), and
 * casts update_service_capabilities to the fanout exchange "cinder-scheduler_fanout" in oslo's
 * JSON envelope. It reports at start, every [DEFAULT] backend_stats_polling_interval seconds,
 * and at once when caps_wake() asks (the scheduler's publish_service_capabilities fanout).
 *
 * The thread has its own PostgreSQL and broker connections, so a dead broker or a slow
 * database delays only the reports: every publish waits at most CAPS_PUBLISH_TIMEOUT_MS for
 * the broker's confirm, and a failed report is tried again at the next period.
 */
#ifndef VOLMGR_MANAGER_CAPABILITIES_H
#define VOLMGR_MANAGER_CAPABILITIES_H

#include <signal.h>
#include <stdbool.h>

#define CAPS_PUBLISH_TIMEOUT_MS 5000

/* Starts the reporting thread; stop is the daemon's signal counter, which ends it.
 * Returns 0, or -1 (logged) when the thread cannot be created. */
__attribute__((warn_unused_result))
int caps_start(volatile sig_atomic_t *stop);

/* Asks the thread for a report now. Returns false, doing nothing, when this process runs
 * no capability thread (a worker other than 0). Called from the thread that started it. */
bool caps_wake(void);

/* Waits for the thread to end (after *stop was set); a no-op when it was not started. */
void caps_join(void);

#endif
