/*
 * workers.h - [manager] workers > 1: the volume-manager process becomes a supervisor that
 * forks that many worker processes and keeps them running, in the style of oslo.service's
 * ProcessLauncher and pgbouncer/redis's one-loop daemons.
 *
 * Each worker is an ordinary manager from the point of the fork on: its own broker
 * connections, channel and prefetch, its own database connection, its own fanout queues
 * (consumer_init runs after the fork, so the names are unique per worker). The workers are
 * competing consumers on the service queues, which several manager processes on one backend
 * already are; row locks order concurrent work on one volume and the processed message ids
 * make a message apply once whichever worker takes it.
 *
 * The supervisor holds no connection. Its signal handlers only set flags and its loop wakes
 * at least once a second. It restarts a worker that exits while the service runs, after a
 * capped backoff that starts over once a worker has run for a while; on the first SIGTERM or
 * SIGINT it forwards SIGTERM to every worker and waits for them up to the drain deadline
 * (SIGKILL after it); a second signal SIGKILLs them at once. A worker that exits with
 * WORKERS_EXIT_STARTUP (the manager's "configuration or backend unusable" status) is not
 * restarted: the supervisor stops the others and exits with that status, as one manager
 * would, rather than restart a worker that cannot start. A worker that stays alive but shows
 * no progress for the watchdog's bound is killed (SIGKILL) and restarted like a dead one.
 *
 * Under systemd the unit needs KillMode=mixed, so that a stop signals the supervisor alone
 * and each worker sees exactly one SIGTERM (a second one means "exit now" to a manager).
 */
#ifndef VOLMGR_MANAGER_WORKERS_H
#define VOLMGR_MANAGER_WORKERS_H

#include <signal.h>
#include <stdint.h>

/* The largest [manager] workers. */
#define WORKERS_MAX 64

/* The manager's exit status when its configuration or backend is unusable at start-up. */
#define WORKERS_EXIT_STARTUP 1

/* What workers_run returns in a worker process. */
#define WORKERS_CHILD (-1)

/* What the supervisor waits with between looks at its workers: util_sleep_ms, or a wait
 * that also answers a listener on the supervisor's own thread. It must return soon after
 * *wake is set. */
typedef void (*workers_wait_fn)(int ms, volatile sig_atomic_t *wake);

/* How the supervisor waits and watches. */
struct workers_watch {
	workers_wait_fn wait;
	/* The worker of slot's progress stamp, read from memory the workers share with the
	 * supervisor: any value that changes while the worker makes progress; NULL: no
	 * watchdog. */
	int64_t (*progress_s)(int slot);
	/* A worker whose stamp did not change for this many seconds (counted from its start at
	 * the latest) is hung: the supervisor kills it with SIGKILL and starts another. */
	int stall_s;
};

/*
 * Runs n (2..WORKERS_MAX) workers. Call it single-threaded, and keep the supervisor so (a
 * fork copies only the calling thread, and a lock that another thread held stays held in the
 * child for ever); after the configuration and the log are set up and before any connection
 * is opened, with util_install_signals(stop) in force. The supervisor replaces those
 * handlers with its own, and waits and watches as watch says.
 *
 * In a worker, returns WORKERS_CHILD with *slot set to its slot in [0, n), a replacement
 * taking the slot of the worker it replaces. The worker then has util_install_signals(stop)
 * with *stop cleared, a process group of its own (a terminal's Ctrl-C reaches the
 * supervisor only, which forwards it once), and SIGTERM on the supervisor's death.
 *
 * In the supervisor, returns the exit status once every worker has exited after a stop: 0
 * when every worker exited 0 on the forwarded SIGTERM; WORKERS_EXIT_STARTUP when a worker
 * failed at start-up, a worker could not be forked at start-up, a worker was killed at the
 * drain deadline or by a second signal, or one exited with another failure during the stop.
 * drain_ms is how long the supervisor waits for the workers after forwarding SIGTERM.
 */
__attribute__((warn_unused_result))
int workers_run(int n, int drain_ms, volatile sig_atomic_t *stop, int *slot,
		const struct workers_watch *watch);

#endif
