/*
 * server.h - the HTTP server (libmicrohttpd): a pool of [api] workers threads, bodies capped at
 * SHIM_MAX_BODY, the routing table, authentication and microversion negotiation before a
 * handler runs, and one log line per request (method, path, status, duration, request id).
 */
#ifndef VOLMGR_SHIM_SERVER_H
#define VOLMGR_SHIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct shim_request;
/* An entry of the routing table; its members are server.c's own. */
struct server_route;

/* Starts listening on listen:port with workers threads, at most [api] max_connections
 * connections (max_connections_per_address from one address), their deadlines kept by
 * clients.h. Returns 0, or -1 after logging. */
__attribute__((warn_unused_result))
int server_start(const char *listen, int port, int workers);

/* Stops accepting new connections; requests already received still complete. */
void server_quiesce(void);

/* Requests received and not yet answered. */
int server_inflight(void);

/* The number of routes, and the method and pattern of route i (for the metrics' labels). */
size_t server_route_count(void);
void server_route_label(size_t i, const char **method, const char **pattern);

/* Prints the route table, one "route <method> <pattern> <microversions>" line each, for
 * docs/api.md's check (api-shim --print-api). */
void server_print_routes(void);

/*
 * Pure: matches r->method and r->path (as received) against the routing table, in table
 * order. On a match, fills r->captures (pointing into r->segbuf; a "{project_id}" that the URL
 * left out is NULL) and r->ncaptures and returns the route; otherwise returns NULL with
 * r->ncaptures 0. Exposed for the fuzzer (tests/fuzz/fuzz_http_route.c).
 */
const struct server_route *server_route_find(struct shim_request *r);

/* True when a query argument of r (whose conn must be set) has a name or a value that is not
 * UTF-8. Exposed for the fuzzer as well. */
bool server_query_invalid(struct shim_request *r);

/* Stops the server and joins its threads. */
void server_stop(void);

#endif
