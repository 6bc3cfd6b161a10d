/*
 * batch.h - group commit: the manager's loop takes up to [manager] batch_size deliveries (or
 * what arrives within batch_window_ms after the first, and while batch_interval_ms has not
 * passed since the previous batch closed), finalizes every extend_volume and
 * extend_volume_completion among them in one transaction of set-based statements (the one
 * finalization of manager/finalize_sql.h), commits once and acknowledges them together
 * (basic.ack multiple). The volumes of the extend_volume casts are grown by the driver as a
 * group inside that transaction (driver.h extend_group: every volume grown before any is
 * synced).
 *
 * Everything else goes through dispatch_delivery, one transaction per message, after the
 * group's commit: other methods, completions with error = true, and messages the group takes
 * out after looking at their volume (gone, not extending, size not above, backing store too
 * small, not the volume's current pending extend, an extend_volume of an attached volume or
 * one the driver failed to grow, a second message for the same volume or with the same
 * _unique_id in the batch), so that each of those gets its outcome, user message or dead
 * letter alone. Poison is dead-lettered alone while the batch is sorted. When the group's
 * transaction fails as a whole (a row the database refuses, a lost connection), its messages
 * go one at a time too, which isolates the one that failed.
 *
 * Crash safety is dispatch's: the _unique_id of every finalized message is committed with
 * its changes, so a batch redelivered after a crash between commit and ack finds them all
 * processed and is acknowledged without changing anything.
 */
#ifndef VOLMGR_MANAGER_BATCH_H
#define VOLMGR_MANAGER_BATCH_H

#include <signal.h>

#include "common/db.h"
#include "manager/consumer.h"

/* The largest [manager] batch_size. */
#define BATCH_MAX 512

enum batch_result {
	BATCH_IDLE = 0,      /* nothing arrived within the timeout */
	BATCH_DONE = 1,      /* every delivery taken was acked or dead-lettered */
	BATCH_MQ_LOST = -1,  /* the consumer connection failed: reconnect */
	BATCH_DB_DOWN = -2,  /* some deliveries unacked: the database is unreachable */
	BATCH_STOPPED = -3,  /* some deliveries unacked: shutdown reached the drain deadline */
};

struct batch;

/* Allocates the batch state (arrays for BATCH_MAX messages) and loads the statements.
 * Returns NULL (logged) on failure. */
__attribute__((warn_unused_result)) struct batch *batch_new(void);
void batch_free(struct batch *b);

/*
 * Waits up to timeout_ms for a delivery, fills the batch as described above, and handles
 * every delivery taken. stop is the daemon's signal counter (see dispatch_delivery).
 */
__attribute__((warn_unused_result))
int batch_run(struct batch *b, db_conn *db, struct consumer *c, int timeout_ms,
	      volatile sig_atomic_t *stop);

#endif
