/*
 * dbpool.c - thread-local PostgreSQL connections (see dbpool.h).
 */
#include "api-shim/dbpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "api-shim/smetrics.h"

#define DBPOOL_APP_NAME "volmgr-api-shim"
#define DBPOOL_RETRY_MS 1000

static char *pool_url;
static int pool_timeout_ms;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static db_conn **pool_conns;
static int pool_nconns, pool_max;

static __thread db_conn *tl_conn;

/* The database as the threads last found it. After a failed attempt, one thread at a time
 * tries again, at most once per DBPOOL_RETRY_MS, and the others fail at once instead of each
 * waiting for a connect of its own: an outage holds one server thread, not all of them. */
static atomic_bool db_down;
static atomic_bool db_probing;
static _Atomic int64_t db_failed_ms;

int dbpool_init(const char *url, int statement_timeout_ms, int max_conns)
{
	pool_url = strdup(url != NULL ? url : "");
	pool_conns = calloc((size_t)max_conns, sizeof(*pool_conns));
	if (pool_url == NULL || pool_conns == NULL || max_conns <= 0) {
		free(pool_url);
		free(pool_conns);
		pool_url = NULL;
		pool_conns = NULL;
		return -1;
	}
	pool_timeout_ms = statement_timeout_ms;
	pool_max = max_conns;
	pool_nconns = 0;
	return 0;
}

/* Records c so that dbpool_shutdown closes it. Returns 0, or -1 when the registry is full (more
 * threads than configured workers: the caller then closes c itself). */
static int pool_register(db_conn *c)
{
	int rc = -1;

	pthread_mutex_lock(&pool_lock);
	if (pool_nconns < pool_max) {
		pool_conns[pool_nconns++] = c;
		rc = 0;
	}
	pthread_mutex_unlock(&pool_lock);
	return rc;
}

/* Whether this thread may try to connect now; when it returns true after an outage, this
 * thread is the one prober and must report with tried(). */
static bool may_try(bool *probe)
{
	bool idle = false;

	*probe = false;
	if (!atomic_load(&db_down))
		return true;
	if (util_now_ms() - atomic_load(&db_failed_ms) < DBPOOL_RETRY_MS ||
	    !atomic_compare_exchange_strong(&db_probing, &idle, true))
		return false;
	*probe = true;
	return true;
}

static void tried(bool ok, bool probe)
{
	if (ok) {
		atomic_store(&db_down, false);
	} else {
		atomic_store(&db_failed_ms, util_now_ms());
		atomic_store(&db_down, true);
	}
	if (probe)
		atomic_store(&db_probing, false);
}

db_conn *dbpool_get(void)
{
	db_conn *c;
	bool probe;

	if (tl_conn != NULL && db_is_ok(tl_conn))
		return tl_conn;
	if (pool_url == NULL || !may_try(&probe))
		return NULL;
	if (tl_conn != NULL) {
		bool ok = db_reconnect(tl_conn) == DB_OK;

		tried(ok, probe);
		if (ok)
			smetrics_database_reconnect();
		return ok ? tl_conn : NULL;
	}
	c = db_open(pool_url, DBPOOL_APP_NAME, pool_timeout_ms);
	tried(c != NULL, probe);
	if (c == NULL)
		return NULL;
	if (pool_register(c) != 0) {
		log_error("dbpool: more threads than connections (%d); refusing", pool_max);
		db_close(c);
		return NULL;
	}
	tl_conn = c;
	return c;
}

void dbpool_shutdown(void)
{
	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < pool_nconns; i++)
		db_close(pool_conns[i]);
	free(pool_conns);
	pool_conns = NULL;
	pool_nconns = pool_max = 0;
	free(pool_url);
	pool_url = NULL;
	pthread_mutex_unlock(&pool_lock);
}
