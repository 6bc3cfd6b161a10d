/*
 * metrics_http.h - the small HTTP listener of [DEFAULT] metrics_listen: GET /metrics (the
 * metrics of common/metrics.h, summed over every slot) and GET or HEAD /healthcheck (the
 * daemon's health check, rendered by common/health.h). Anything else is 404.
 *
 * One libmicrohttpd thread serves it, apart from the daemon's own threads, so a scrape never
 * waits on, or holds up, a consumer or a request: it reads atomics and formats. The listener
 * thread writes no log line and takes no lock of the daemon's own, which makes it safe for a
 * process that keeps forking while the listener runs (the manager's supervisor restarting a
 * worker): a child can never inherit a lock held by this thread. The health function must
 * follow the same rules where the daemon forks, and be bounded in time everywhere.
 *
 * The listener is an operator's port, like the manager's: it authenticates nobody, so the
 * health check's detailed form is never served here.
 */
#ifndef VOLMGR_COMMON_METRICS_HTTP_H
#define VOLMGR_COMMON_METRICS_HTTP_H

#include "common/health.h"

/* Fills a report with the daemon's checks; called on the listener's thread. */
typedef void (*metrics_http_health_fn)(struct health_report *h, void *arg);

/*
 * Listens on listen ("host:port", a numeric address) and serves as above; health NULL makes
 * /healthcheck a 404. Returns 0, or -1 with the reason in err.
 */
__attribute__((warn_unused_result))
int metrics_http_start(const char *listen, metrics_http_health_fn health, void *arg,
		       char *err, size_t errlen);

/* In a process forked while the listener ran (whose thread the child does not have): closes
 * the inherited listening socket, so that the port is the parent's alone, the scrape
 * connections open at the fork, so that the parent's close of one reaches the scraper, and
 * the listener's epoll descriptor; then forgets the listener without touching its state. */
void metrics_http_detach(void);

/* Stops the listener and joins its thread. Idempotent. */
void metrics_http_stop(void);

#endif
