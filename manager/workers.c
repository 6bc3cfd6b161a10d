/*
 * workers.c - the supervisor of [manager] workers processes (workers.h).
 */
#include "manager/workers.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* The supervisor's loop sleeps at most this long between looks at its flags. */
#define WORKERS_TICK_MS 1000
#define WORKERS_BACKOFF_BASE_MS 500
#define WORKERS_BACKOFF_CAP_MS 30000
/* A worker that ran this long died of something other than its start: the next restart
 * is quick again. */
#define WORKERS_STABLE_MS 60000

struct workers_slot {
	pid_t pid;            /* 0 while the slot has no worker */
	int attempt;          /* restarts since the slot's worker last ran WORKERS_STABLE_MS */
	int64_t started_ms;
	int64_t start_at_ms;  /* when an empty slot gets its next worker */
	int64_t progress;     /* the worker's progress stamp as the watchdog last read it */
	int64_t progress_ms;  /* when (util_now_ms) the watchdog saw it change, or the start */
	int64_t hung_ms;      /* when the watchdog killed it (0: it did not), until reaped */
};

struct workers_sup {
	struct workers_slot slot[WORKERS_MAX];
	int n;
	int live;
	int status;           /* the supervisor's exit status so far */
	bool stopping;        /* SIGTERM forwarded; nothing is restarted any more */
	bool killed;          /* the workers got SIGKILL */
	int64_t deadline_ms;  /* of the drain, once stopping */
};

/* Set by the handlers only; the loop reads them. */
static volatile sig_atomic_t workers_signals;  /* SIGINT and SIGTERM received */
static volatile sig_atomic_t workers_wake;     /* any signal: look at the workers now */

static void workers_on_stop(int sig)
{
	(void)sig;
	workers_signals++;
	workers_wake = 1;
}

static void workers_on_child(int sig)
{
	(void)sig;
	workers_wake = 1;
}

/* The signals the supervisor handles, blocked around fork so that a worker cannot receive
 * one before it has installed a manager's handlers. */
static void workers_block(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(how, &set, NULL);
}

/* In a new worker: a manager's signal handling, and a stop should the supervisor die. */
static void workers_become_worker(pid_t supervisor, volatile sig_atomic_t *stop)
{
	*stop = 0;
	util_handle_signal(SIGCHLD, SIG_DFL, 0);
	util_install_signals(stop);
	/* Its own process group: a terminal's Ctrl-C goes to the supervisor alone, whose one
	 * forwarded SIGTERM drains the worker (a second signal would kill it at once). */
	setpgid(0, 0);
	/* A supervisor killed with SIGKILL cannot forward anything; the worker drains then. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != supervisor)
		*stop = 1;
	workers_block(SIG_UNBLOCK);
}

/* Forks the worker of slot i. Returns true in the new worker. A failed fork is retried
 * after a backoff like a worker that died. */
static bool workers_spawn(struct workers_sup *s, int i, volatile sig_atomic_t *stop)
{
	struct workers_slot *w = &s->slot[i];
	pid_t supervisor = getpid();

	workers_block(SIG_BLOCK);
	pid_t pid = fork();
	if (pid == 0) {
		workers_become_worker(supervisor, stop);
		log_info("worker %d of %d started", i, s->n);
		return true;
	}
	workers_block(SIG_UNBLOCK);
	if (pid < 0) {
		w->start_at_ms = util_now_ms() + util_backoff_ms(w->attempt++,
			WORKERS_BACKOFF_BASE_MS, WORKERS_BACKOFF_CAP_MS);
		log_error("cannot fork worker %d: %s; trying again", i, strerror(errno));
		return false;
	}
	w->pid = pid;
	w->started_ms = util_now_ms();
	w->progress = -1;
	w->progress_ms = w->started_ms;
	w->hung_ms = 0;
	s->live++;
	return false;
}

/* Sends sig to every live worker. */
static void workers_signal_all(struct workers_sup *s, int sig)
{
	for (int i = 0; i < s->n; i++)
		if (s->slot[i].pid > 0)
			kill(s->slot[i].pid, sig);
}

/* The first stop signal, or a worker that cannot start: every worker drains. */
static void workers_stop(struct workers_sup *s, int drain_ms)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->deadline_ms = util_now_ms() + drain_ms;
	log_info("stopping: SIGTERM to %d workers, waiting up to %d ms for them to drain",
		 s->live, drain_ms);
	workers_signal_all(s, SIGTERM);
}

static void workers_kill(struct workers_sup *s, const char *why)
{
	if (s->killed)
		return;
	s->killed = true;
	s->status = WORKERS_EXIT_STARTUP;
	log_error("%s: SIGKILL to %d workers", why, s->live);
	workers_signal_all(s, SIGKILL);
}

/* Books the exit of the worker of slot i and decides what follows. */
static void workers_exited(struct workers_sup *s, int i, int ws, int drain_ms)
{
	struct workers_slot *w = &s->slot[i];
	int64_t now = util_now_ms();
	bool clean = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;

	w->pid = 0;
	s->live--;
	if (s->stopping) {
		if (!clean && s->status == 0)
			s->status = WORKERS_EXIT_STARTUP;
		return;
	}
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == WORKERS_EXIT_STARTUP) {
		log_error("worker %d exited with status %d: the configuration or the backend is "
			  "unusable; stopping the service instead of restarting it", i,
			  WORKERS_EXIT_STARTUP);
		s->status = WORKERS_EXIT_STARTUP;
		workers_stop(s, drain_ms);
		return;
	}
	if (now - w->started_ms >= WORKERS_STABLE_MS)
		w->attempt = 0;
	int delay = util_backoff_ms(w->attempt++, WORKERS_BACKOFF_BASE_MS, WORKERS_BACKOFF_CAP_MS);
	w->start_at_ms = now + delay;
	if (WIFSIGNALED(ws))
		log_error("worker %d died of signal %d; restarting it in %d ms", i, WTERMSIG(ws),
			  delay);
	else
		log_error("worker %d exited with status %d; restarting it in %d ms", i,
			  WEXITSTATUS(ws), delay);
}

/* Kills each worker that showed no progress for watch->stall_s seconds. A hung worker holds
 * its prefetched deliveries and its share of the service while the health check, which asks
 * for one fresh worker, stays green; killed, its deliveries go back to the queues (nothing
 * was acknowledged before its commit) and the slot restarts as after any death. The workers
 * stamp their progress with the wall clock, which may step; so the watchdog times only how
 * long a worker's stamp has not changed, on the supervisor's monotonic clock. */
static void workers_watchdog(struct workers_sup *s, const struct workers_watch *watch)
{
	int64_t now = util_now_ms();

	if (watch->progress_s == NULL || s->stopping)
		return;
	for (int i = 0; i < s->n; i++) {
		struct workers_slot *w = &s->slot[i];

		if (w->pid <= 0)
			continue;
		if (w->hung_ms > 0) {
			/* SIGKILL waits for a process in uninterruptible sleep (stuck I/O): say so
			 * while the slot stays empty. */
			if (now - w->hung_ms >= (int64_t)watch->stall_s * 1000) {
				log_error("worker %d (pid %ld) was killed %d s ago and has not exited",
					  i, (long)w->pid, watch->stall_s);
				w->hung_ms = now;
			}
			continue;
		}
		int64_t stamp = watch->progress_s(i);

		if (stamp != w->progress) {
			w->progress = stamp;
			w->progress_ms = now;
			continue;
		}
		if (now - w->progress_ms <= (int64_t)watch->stall_s * 1000)
			continue;
		log_error("worker %d (pid %ld) showed no progress for %lld s (the bound is %d s): "
			  "killing it", i, (long)w->pid, (long long)((now - w->progress_ms) / 1000),
			  watch->stall_s);
		kill(w->pid, SIGKILL);
		w->hung_ms = now;
	}
}

/* Reaps every worker that has exited. */
static void workers_reap(struct workers_sup *s, int drain_ms)
{
	int ws;
	pid_t pid;

	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		for (int i = 0; i < s->n; i++) {
			if (s->slot[i].pid == pid) {
				workers_exited(s, i, ws, drain_ms);
				break;
			}
		}
	}
}

int workers_run(int n, int drain_ms, volatile sig_atomic_t *stop, int *slot,
		const struct workers_watch *watch)
{
	struct workers_sup s;

	memset(&s, 0, sizeof(s));
	s.n = n;
	/* Blocked while the handlers change hands, so that no stop signal is lost: one that
	 * arrived during start-up already asked for a stop. */
	workers_block(SIG_BLOCK);
	util_handle_signal(SIGINT, workers_on_stop, 0);
	util_handle_signal(SIGTERM, workers_on_stop, 0);
	util_handle_signal(SIGCHLD, workers_on_child, SA_NOCLDSTOP);
	workers_signals = *stop;
	workers_block(SIG_UNBLOCK);
	log_info("supervising %d workers", n);
	for (;;) {
		workers_wake = 0;
		workers_reap(&s, drain_ms);
		if (workers_signals >= 2)
			workers_kill(&s, "second stop signal");
		else if (workers_signals == 1)
			workers_stop(&s, drain_ms);
		if (s.stopping && util_now_ms() >= s.deadline_ms)
			workers_kill(&s, "workers still running at the drain deadline");
		if (s.stopping && s.live == 0)
			break;
		int64_t now = util_now_ms();
		for (int i = 0; i < n && !s.stopping; i++) {
			if (s.slot[i].pid == 0 && now >= s.slot[i].start_at_ms &&
			    workers_spawn(&s, i, stop)) {
				*slot = i;
				return WORKERS_CHILD;
			}
		}
		workers_watchdog(&s, watch);
		watch->wait(WORKERS_TICK_MS, &workers_wake);
	}
	log_info("all workers stopped");
	return s.status;
}
