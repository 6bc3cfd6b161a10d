/*
 * smetrics.h - the API shim's metrics (the table of common/metrics.h), served on its own
 * listener ([api] metrics_listen, else [DEFAULT] metrics_listen; docs/metrics.md lists every
 * metric), and the health check of GET /healthcheck on the API port.
 *
 * Labels are bounded by the shim's tables: a request counts under its route (method and
 * pattern of server.c's routing table, or "unmatched" for a URL no route takes, whatever
 * the URL), and its status code from a fixed list (others count as "other"); an RPC call
 * under its method of proto's table.
 */
#ifndef VOLMGR_SHIM_SMETRICS_H
#define VOLMGR_SHIM_SMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api-shim/request.h"
#include "common/health.h"

/* Makes the cells (route labels from server.c's table) and starts the listener when one is
 * configured. Call once before the server starts. Returns 0 or -1 (logged). */
__attribute__((warn_unused_result))
int smetrics_start(void);

/* Stops the listener and frees the cells, once the threads that count have stopped. */
void smetrics_stop(void);

/* A request ended: its route index in server.c's table (server_route_count() for none), the
 * status sent (0: none) and how long it took. */
void smetrics_request(size_t route, unsigned status, int64_t took_ms);

/* An RPC call of method (enum proto_method_id) got no reply in time. */
void smetrics_call_timeout(int method);

/* The broker confirmed (ok) or refused or never confirmed (!ok) a message. */
void smetrics_published(bool ok);

/* A broker / database connection was made again after one was lost or refused. */
void smetrics_broker_reconnect(void);
void smetrics_database_reconnect(void);

/* The checks of GET /healthcheck: a pooled database connection answers SELECT 1 (bounded by
 * the pool's statement timeout) and the broker connections are up (the reply queue's
 * consumer, and the publisher's last attempt). Opens no new broker connection. */
void smetrics_health(struct health_report *h);

#endif
