/*
 * server.h - the HTTP server (libmicrohttpd): a pool of [api] workers threads, bodies capped at
 * SHIM_MAX_BODY, the routing table, authentication and microversion negotiation before a
 * handler runs, and one log line per request (method, path, status, duration, request id).
 */
#ifndef VOLMGR_SHIM_SERVER_H
#define VOLMGR_SHIM_SERVER_H

#include <stdbool.h>


/* Starts listening on listen:port with workers threads, at most [api] max_connections
 * connections (max_connections_per_address from one address), their deadlines kept by
 * clients.h. Returns 0, or -1 after logging. */
__attribute__((warn_unused_result))
int server_start(const char *listen, int port, int workers);

/* Stops accepting new connections; requests already received still complete. */
void server_quiesce(void);

/* Requests received and not yet answered. */
int server_inflight(void);

/* Prints the route table, one "route <method> <pattern> <microversions>" line each, for
 * docs/api.md's check (api-shim --print-api). */
void server_print_routes(void);

/* Stops the server and joins its threads. */
void server_stop(void);

#endif
