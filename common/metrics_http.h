/*
 * metrics_http.h - the small HTTP listener of [DEFAULT] metrics_listen: GET /metrics (the
 * metrics of common/metrics.h, summed over every slot) and GET or HEAD /healthcheck (the
 * daemon's health check, rendered by common/health.h). Anything else is 404.
 *
 * In a daemon that does not fork, one libmicrohttpd thread serves it, apart from the daemon's
 * own threads, so a scrape never waits on, or holds up, a consumer or a request: it reads
 * atomics and formats. A daemon that forks (the manager's supervisor, restarting a worker at
 * any time) must not have that thread: a child gets only the forking thread, and inherits any
 * lock another thread held at the fork still held, libc's own included (the listener's
 * gmtime_r for a Date header takes the lock that the child's next log line, through
 * localtime_r, would then wait on for ever). Such a daemon starts the listener without a
 * thread and serves it from its own loop with metrics_http_wait. The health function must be
 * bounded in time, and in that mode must not block the loop either.
 *
 * The listener is an operator's port, like the manager's: it authenticates nobody, so the
 * health check's detailed form is never served here.
 */
#ifndef VOLMGR_COMMON_METRICS_HTTP_H
#define VOLMGR_COMMON_METRICS_HTTP_H

#include <signal.h>

#include "common/health.h"

/* Fills a report with the daemon's checks; called where the listener runs (its thread, or
 * the caller's inside metrics_http_wait). */
typedef void (*metrics_http_health_fn)(struct health_report *h, void *arg);

/* Who runs the listener. */
enum metrics_http_mode {
	METRICS_HTTP_THREAD,   /* a thread of its own */
	METRICS_HTTP_CALLER    /* the caller's thread, inside metrics_http_wait */
};

/*
 * Listens on listen ("host:port", a numeric address) and serves as above, in the given mode;
 * health NULL makes /healthcheck a 404. Returns 0, or -1 with the reason in err.
 */
__attribute__((warn_unused_result))
int metrics_http_start(const char *listen, enum metrics_http_mode mode,
		       metrics_http_health_fn health, void *arg, char *err, size_t errlen);

/*
 * Waits ms milliseconds, or less once *wake (may be NULL) is set (seen within 100 ms), while
 * answering the requests of a listener started with METRICS_HTTP_CALLER. Without such a
 * listener it only waits, as util_sleep_ms does. Call it from one thread only.
 */
void metrics_http_wait(int ms, volatile sig_atomic_t *wake);

/* In a process forked while the listener ran (METRICS_HTTP_CALLER, see above): closes
 * the inherited listening socket, so that the port is the parent's alone, the scrape
 * connections open at the fork, so that the parent's close of one reaches the scraper, and
 * the listener's epoll descriptor; then forgets the listener without touching its state. */
void metrics_http_detach(void);

/* Stops the listener (and joins its thread, if it has one). Idempotent. */
void metrics_http_stop(void);

#endif
