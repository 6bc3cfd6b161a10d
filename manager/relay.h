/*
 * relay.h - the notification relay: a thread of the manager (of worker 0 under a supervisor)
 * that publishes the outbox volmgr_notifications as oslo.messaging's messagingv2 driver
 * publishes notifications on the rabbit transport (docs/cinder.md §21), and deletes each row
 * once the broker confirmed it.
 *
 * The thread has a PostgreSQL connection and a confirming broker connection of its own, so
 * the consumer never waits for it. It LISTENs on NOTIFICATION_CHANNEL (an insert into the
 * outbox notifies it at its commit, sql/012) and looks at the outbox again every
 * RELAY_RECHECK_MS without one. It publishes only while it holds a session advisory lock on
 * its connection: one relay per database publishes at a time, so that two managers never
 * interleave a volume's events; a relay whose process dies releases it with its session.
 *
 * At least once: a row is deleted only after the broker confirmed every copy of it (one per
 * topic); a broker or database outage leaves the rows where they are until both answer
 * again; a crash between the confirm and the delete publishes the row again, with the same
 * message_id and _unique_id. With several topics, the retry of a row that some topics
 * confirmed publishes it on the others only (the relay remembers the topics done for the one
 * row it retries; another relay taking over does not know them and publishes it on all).
 */
#ifndef VOLMGR_MANAGER_RELAY_H
#define VOLMGR_MANAGER_RELAY_H

#include <signal.h>

#include "common/db.h"

#define RELAY_RECHECK_MS 5000

/* Starts the thread unless the notification driver is noop; stop is the daemon's signal
 * counter, which ends it. With noop it warns, through db (the caller's session, used during
 * the call only), when the outbox holds rows: the API shim (whose driver is its own
 * configuration's) or an earlier run wrote events nobody will publish. Returns 0, or -1
 * (logged) when the thread cannot be created. */
__attribute__((warn_unused_result))
int relay_start(db_conn *db, volatile sig_atomic_t *stop);

/* Waits for the thread to end (after *stop was set); a no-op when it was not started. */
void relay_join(void);

#endif
