/*
 * periodic.h - the manager's periodic tasks between deliveries: the services row and its
 * heartbeat (service.c), the deadline sweep of pending extends (pending.c) and the retention
 * of processed message ids (retention.c).
 *
 * Database failures here are logged and never fatal: the next period tries again.
 */
#ifndef VOLMGR_MANAGER_PERIODIC_H
#define VOLMGR_MANAGER_PERIODIC_H

#include "common/db.h"

/*
 * Creates or refreshes this service's row in services (host "<host>@<backend>", binary and
 * topic "cinder-volume"), reusing the live row of that host and binary so that its uuid stays
 * stable across restarts. A failure is logged; service_report tries again.
 */
void service_register(db_conn *db);

/* The heartbeat: report_count + 1, updated_at = now; registers again when the row is gone. */
void service_report(db_conn *db);

/*
 * Rolls back, in batches of bounded size, every pending extend past its deadline whose
 * volume is still extending with its reservations in the admin metadata (user message
 * 007/volmgr-001 and the completion with error). Forgets pending rows whose volume is no
 * longer extending. Then expires old quota reservations (quota_expire).
 */
void pending_sweep(db_conn *db);

/*
 * Deletes volmgr_processed_messages rows older than [manager] processed_message_retention, in
 * autocommitted batches of bounded size and at most a bounded number of batches per call.
 */
void retention_sweep(db_conn *db);

#endif
