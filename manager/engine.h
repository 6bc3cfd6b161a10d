/*
 * engine.h - the migration engine: a thread of each manager process that drives the
 * migrations whose source is this service (manager/migration.h), so that the consumer loop
 * keeps serving other messages while a migration waits for its destination or copies.
 *
 * The thread has connections of its own: one to PostgreSQL, on which it LISTENs on
 * MIG_CHANNEL (the migrate_volume handler, the destination's create_volume and every change
 * of stage notify it after their commit), and two to the broker, one publishing with
 * confirms and one consuming an exclusive reply queue for the calls it makes
 * (initialize_connection, terminate_connection, update_migrated_volume). Without a
 * notification it looks at its migrations again every ENGINE_RECHECK_MS, which covers a
 * destination that does not notify (a real cinder-volume) and the deadlines.
 *
 * Each migration is claimed with a session advisory lock on the engine's connection while a
 * step runs, so two workers or two processes of one service never drive the same one, and a
 * process that dies (kill -9) releases its claims with its session: the restarted manager
 * takes the migration over from its recorded stage (a copy starts again from the start).
 */
#ifndef VOLMGR_MANAGER_ENGINE_H
#define VOLMGR_MANAGER_ENGINE_H

#include <signal.h>

#define ENGINE_RECHECK_MS 2000

/* Starts the thread; stop is the daemon's signal counter, which ends it. Returns 0, or -1
 * (logged) when the thread cannot be created. */
__attribute__((warn_unused_result))
int engine_start(volatile sig_atomic_t *stop);

/* Waits for the thread to end (after *stop was set); a no-op when it was not started. */
void engine_join(void);

#endif
