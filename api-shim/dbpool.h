/*
 * dbpool.h - one PostgreSQL connection per server thread, opened on first use.
 *
 * The connection lives in thread-local storage, so a request never shares it; every handle
 * opened is also recorded in a registry so that dbpool_shutdown can close them all once the
 * server threads have stopped.
 */
#ifndef VOLMGR_SHIM_DBPOOL_H
#define VOLMGR_SHIM_DBPOOL_H

#include "common/db.h"

/* Remembers the URL and statement timeout (copied). max_conns bounds the registry (one per
 * thread that uses the database: server threads and the casts' offload threads). Returns 0 or
 * -1. Call once before the server starts. */
__attribute__((warn_unused_result))
int dbpool_init(const char *url, int statement_timeout_ms, int max_conns);

/*
 * This thread's connection, opened (or reconnected when libpq reports it bad) on demand.
 * Returns NULL when the database cannot be reached. After a failure one thread at a time tries
 * again, at most once a second, while the others fail at once: an outage costs a request one
 * fast failure, and holds at most one server thread in a connect.
 */
db_conn *dbpool_get(void);

/* Closes every connection and forgets them. Only after the server threads have stopped. */
void dbpool_shutdown(void);

#endif
