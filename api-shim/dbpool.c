/*
 * dbpool.c - thread-local PostgreSQL connections (see dbpool.h).
 */
#include "api-shim/dbpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

#define DBPOOL_APP_NAME "volmgr-api-shim"
#define DBPOOL_RETRY_MS 1000

static char *pool_url;
static int pool_timeout_ms;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static db_conn **pool_conns;
static int pool_nconns, pool_max;

static __thread db_conn *tl_conn;
static __thread int64_t tl_last_fail_ms;
static __thread bool tl_failed_once;

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

/* True when the last failed attempt of this thread is too recent to try again. */
static bool throttled(void)
{
	return tl_failed_once && util_now_ms() - tl_last_fail_ms < DBPOOL_RETRY_MS;
}

static void note_failure(void)
{
	tl_failed_once = true;
	tl_last_fail_ms = util_now_ms();
}

db_conn *dbpool_get(void)
{
	db_conn *c;

	if (tl_conn != NULL) {
		if (db_is_ok(tl_conn))
			return tl_conn;
		if (throttled())
			return NULL;
		if (db_reconnect(tl_conn) != DB_OK) {
			note_failure();
			return NULL;
		}
		tl_failed_once = false;
		return tl_conn;
	}
	if (pool_url == NULL || throttled())
		return NULL;
	c = db_open(pool_url, DBPOOL_APP_NAME, pool_timeout_ms);
	if (c == NULL) {
		note_failure();
		return NULL;
	}
	if (pool_register(c) != 0) {
		log_error("dbpool: more threads than connections (%d); refusing", pool_max);
		db_close(c);
		return NULL;
	}
	tl_failed_once = false;
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
