/*
 * db.c - one libpq connection with a per-session statement cache, SQLSTATE classification and
 * whole-transaction retries.
 */
#include "common/db.h"

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

/*
 * Statements prepared per session. Callers pass a fixed set of SQL texts, so the cache never
 * evicts: once it is full, further texts run unprepared (PQexecParams), which is correct, only
 * slower. The index is open addressing at load <= 1/2.
 */
#define DB_CACHE_MAX 256
#define DB_CACHE_SLOTS 512
#define DB_CONNECT_TIMEOUT_S "10"
#define DB_BACKOFF_BASE_MS 20
#define DB_BACKOFF_CAP_MS 500

struct db_stmt {
	char *sql;
	uint32_t hash;
};

struct db_conn {
	PGconn *pg;
	char *url;
	char *application_name;
	char options[192];           /* DB_SERVER_KEEPALIVES, then "-c statement_timeout=N" */
	/* stmts[i] is prepared as "s<i+1>"; a NULL sql is a name used up without an entry. */
	struct db_stmt stmts[DB_CACHE_MAX];
	int nstmts;
	int16_t slots[DB_CACHE_SLOTS];       /* index + 1 into stmts, 0 = empty */
	char error[512];
	char sqlstate[6];
	/* The server's answer meant "this session is no use" (a standby's read-only refusal,
	 * an administrator's shutdown) while libpq still holds the socket: db_is_ok reports
	 * the session lost, so that every caller's usual reconnect path replaces it. */
	bool broken;
};

static const char *const db_status_names[] = {
	[0] = "ok",
	[1] = "duplicate key",
	[2] = "transaction must be retried",
	[3] = "connection lost",
	[4] = "rejected by the database",
	[5] = "transaction left open",
};

const char *db_strerror(int status)
{
	if (status > 0)
		return "application outcome";
	if (status < DB_OPEN)
		return "unknown database status";
	return db_status_names[-status];
}

enum db_status db_classify(const char *sqlstate, bool connection_bad)
{
	if (connection_bad)
		return DB_RECONNECT;
	/* No SQLSTATE on a live connection is a client-side failure (bad call, out of memory):
	 * the same call would fail again, so it is not worth a retry. */
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return DB_REJECT;
	if (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
	    strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0)
		return DB_RECONNECT;
	/* A system error (class 58: I/O error, missing file) leaves the server process that
	 * served us in doubt; a new session is the cheapest thing that may cure it. */
	if (strncmp(sqlstate, "58", 2) == 0)
		return DB_RECONNECT;
	/* A session on a server that is (or became) a standby refuses every write. With
	 * several hosts and target_session_attrs=read-write, a new session finds the primary. */
	if (strcmp(sqlstate, "25006") == 0)
		return DB_RECONNECT;
	/* Serialization failures and deadlocks by definition; a statement or lock timeout
	 * (57014, 55P03) means another transaction held a row for a while; insufficient
	 * resources (class 53: disk full, out of memory, too many connections) pass. The same
	 * transaction may succeed on another try in each case. */
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0 ||
	    strcmp(sqlstate, "57014") == 0 || strcmp(sqlstate, "55P03") == 0 ||
	    strncmp(sqlstate, "53", 2) == 0)
		return DB_RETRY;
	if (strcmp(sqlstate, "23505") == 0)
		return DB_DUPLICATE;
	return DB_REJECT;
}

static uint32_t db_hash(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void db_cache_clear(db_conn *db)
{
	for (int i = 0; i < db->nstmts; i++)
		free(db->stmts[i].sql);
	db->nstmts = 0;
	memset(db->slots, 0, sizeof(db->slots));
}

/* Returns the slot where sql lives or would be inserted; *idx is its index or -1. */
static size_t db_cache_find(const db_conn *db, const char *sql, uint32_t hash, int *idx)
{
	size_t slot = hash % DB_CACHE_SLOTS;

	for (;;) {
		int i = db->slots[slot] - 1;

		if (i < 0) {
			*idx = -1;
			return slot;
		}
		if (db->stmts[i].hash == hash && strcmp(db->stmts[i].sql, sql) == 0) {
			*idx = i;
			return slot;
		}
		slot = (slot + 1) % DB_CACHE_SLOTS;
	}
}

static void db_set_error(db_conn *db, const char *sqlstate, const char *msg)
{
	util_strlcpy(db->sqlstate, sqlstate != NULL ? sqlstate : "", sizeof(db->sqlstate));
	util_strlcpy(db->error, msg != NULL && msg[0] != '\0' ? msg : "unknown error",
		     sizeof(db->error));
	/* libpq messages end with a newline; keep the stored text a single line. */
	db->error[strcspn(db->error, "\n")] = '\0';
}

/*
 * Classifies a failed result (res may be NULL), keeps its text, logs it, and drops the
 * statement cache when the session is gone. Always PQclear()s res.
 */
static int db_fail(db_conn *db, PGresult *res, const char *what)
{
	const char *st = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	bool bad = PQstatus(db->pg) == CONNECTION_BAD;
	int status = db_classify(st, bad);

	if (msg == NULL || msg[0] == '\0')
		msg = PQerrorMessage(db->pg);
	db_set_error(db, st, msg);
	PQclear(res);
	/* A duplicate key is often the expected "already done" outcome, so it is not a warning. */
	if (status == DB_DUPLICATE)
		log_debug("db: %s: %s (SQLSTATE %s)", what, db->error, db->sqlstate);
	else
		log_warning("db: %s failed: %s (SQLSTATE %s): %s", what, db->error,
			    db->sqlstate[0] != '\0' ? db->sqlstate : "none", db_strerror(status));
	if (status == DB_RECONNECT) {
		db_cache_clear(db);
		db->broken = true;
	}
	return status;
}

static bool db_result_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* Server notices (e.g. "table does not exist, skipping") would go to stderr unformatted. */
static void db_on_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("db: server notice: %s", message);
}

/* The server's side of the keepalives of db_connect: session settings any role may set. */
#define DB_SERVER_KEEPALIVES \
	"-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 " \
	"-c tcp_user_timeout=15000"

static int db_connect(db_conn *db)
{
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			       "dbname", "application_name", "client_encoding", "options", NULL };
	const char *vals[] = { DB_CONNECT_TIMEOUT_S, "1", "10", "5", "3", "15000", db->url,
			       db->application_name, "UTF8",
			       db->options[0] != '\0' ? db->options : NULL, NULL };

	/* A NULL value leaves that parameter unset. With expand_dbname the URL's own parameters
	 * (a URI's or a key=value string's) take dbname's place in the list and later entries
	 * win: the ones before it are defaults the URL may override, the ones after it are ours.
	 * The keepalives and the TCP user timeout make a connection lost in a network partition
	 * fail within about 25 s on our end; DB_SERVER_KEEPALIVES in options does the same on
	 * the server's end (it ends a backend whose client is gone), so that a session advisory lock (the relay's) does not stay with an
	 * orphan backend for the kernel's two hours. */
	db->pg = PQconnectdbParams(keys, vals, 1);
	if (db->pg == NULL) {
		db_set_error(db, NULL, "out of memory");
		return DB_RECONNECT;
	}
	if (PQstatus(db->pg) != CONNECTION_OK) {
		db_set_error(db, NULL, PQerrorMessage(db->pg));
		log_warning("db: cannot connect: %s", db->error);
		return DB_RECONNECT;
	}
	PQsetNoticeProcessor(db->pg, db_on_notice, NULL);
	return DB_OK;
}

db_conn *db_open(const char *url, const char *application_name, int statement_timeout_ms)
{
	db_conn *db = calloc(1, sizeof(*db));

	if (db == NULL) {
		log_error("db: out of memory");
		return NULL;
	}
	db->url = strdup(url != NULL ? url : "");
	db->application_name = strdup(application_name != NULL ? application_name : "volmgr");
	if (db->url == NULL || db->application_name == NULL) {
		log_error("db: out of memory");
		goto fail;
	}
	if (statement_timeout_ms > 0)
		snprintf(db->options, sizeof(db->options), "%s -c statement_timeout=%d",
			 DB_SERVER_KEEPALIVES, statement_timeout_ms);
	else
		snprintf(db->options, sizeof(db->options), "%s", DB_SERVER_KEEPALIVES);
	if (db_connect(db) != DB_OK)
		goto fail;
	return db;
fail:
	db_close(db);
	return NULL;
}

void db_close(db_conn *db)
{
	if (db == NULL)
		return;
	db_cache_clear(db);
	PQfinish(db->pg);
	free(db->url);
	free(db->application_name);
	free(db);
}

int db_reconnect(db_conn *db)
{
	db_cache_clear(db);
	PQfinish(db->pg);
	db->pg = NULL;
	db->broken = false;
	return db_connect(db);
}

bool db_is_ok(const db_conn *db)
{
	return db != NULL && db->pg != NULL && !db->broken && PQstatus(db->pg) == CONNECTION_OK;
}

PGconn *db_pg(db_conn *db)
{
	return db->pg;
}

const char *db_last_error(const db_conn *db)
{
	return db->error;
}

const char *db_last_sqlstate(const db_conn *db)
{
	return db->sqlstate;
}

/* Prepares sql as a new cache entry and sets *idx to it, or to -1 when the cache is full (the
 * statement then runs unprepared). Returns DB_OK or the failure's status. */
static int db_prepare(db_conn *db, const char *sql, uint32_t hash, size_t slot, int nparams,
		      int *idx)
{
	char name[16];
	PGresult *res;
	int i = db->nstmts;

	*idx = -1;
	if (i == DB_CACHE_MAX)
		return DB_OK;
	snprintf(name, sizeof(name), "s%d", i + 1);
	res = PQprepare(db->pg, name, sql, nparams, NULL);
	if (!db_result_ok(res))
		return db_fail(db, res, "prepare");
	PQclear(res);
	/* Out of memory leaves a server-side statement that is never looked up: its entry stays
	 * empty (no slot points at it) but its name is used up all the same, or the next prepare
	 * would reuse "s<i+1>" and fail with 42P05 for the rest of the session. The statement
	 * runs unprepared this time. */
	db->stmts[i].sql = strdup(sql);
	if (db->stmts[i].sql == NULL) {
		db->nstmts++;
		return DB_OK;
	}
	db->stmts[i].hash = hash;
	db->slots[slot] = (int16_t)(i + 1);
	db->nstmts++;
	*idx = i;
	return DB_OK;
}

int db_exec(db_conn *db, const char *sql, int nparams, const char *const *params, PGresult **res)
{
	return db_exec_binary(db, sql, nparams, params, NULL, NULL, false, res);
}

int db_exec_binary(db_conn *db, const char *sql, int nparams, const char *const *params,
		   const int *lengths, const int *formats, bool binary_result, PGresult **res)
{
	int result_format = binary_result ? 1 : 0;
	uint32_t hash = db_hash(sql);
	PGresult *r;
	size_t slot;
	int idx;

	if (res != NULL)
		*res = NULL;
	if (!db_is_ok(db)) {
		db_set_error(db, NULL, "not connected");
		return DB_RECONNECT;
	}
	slot = db_cache_find(db, sql, hash, &idx);
	if (idx < 0) {
		int rc = db_prepare(db, sql, hash, slot, nparams, &idx);

		if (rc != DB_OK)
			return rc;
	}
	if (idx >= 0) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", idx + 1);
		r = PQexecPrepared(db->pg, name, nparams, params, lengths, formats,
				   result_format);
	} else {
		r = PQexecParams(db->pg, sql, nparams, NULL, params, lengths, formats,
				 result_format);
	}
	if (!db_result_ok(r))
		return db_fail(db, r, "statement");
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return DB_OK;
}

/* BEGIN, COMMIT, ROLLBACK and LISTEN: simple-protocol commands outside the statement
 * cache. */
static int db_command(db_conn *db, const char *cmd)
{
	PGresult *r;

	if (!db_is_ok(db)) {
		db_set_error(db, NULL, "not connected");
		return DB_RECONNECT;
	}
	r = PQexec(db->pg, cmd);
	if (!db_result_ok(r))
		return db_fail(db, r, cmd);
	/* COMMIT of a transaction that already failed succeeds with the tag ROLLBACK: the body
	 * ignored an error, and nothing was written. */
	if (strcmp(cmd, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "ROLLBACK") == 0) {
		PQclear(r);
		db_set_error(db, "25P02", "transaction was aborted by an earlier error; rolled back");
		log_warning("db: COMMIT rolled back: %s", db->error);
		return DB_REJECT;
	}
	PQclear(r);
	return DB_OK;
}

static int db_transaction_once(db_conn *db, db_txn_fn fn, void *arg)
{
	int rc;

	/* The last error belongs to the transaction it happened in: a body that fails without a
	 * database error (an allocation, a JSON encoding) must not be classified or reported by
	 * an older statement's SQLSTATE. */
	db->error[0] = '\0';
	db->sqlstate[0] = '\0';
	rc = db_command(db, "BEGIN");

	if (rc != DB_OK)
		return rc;
	rc = fn(db, arg);
	if (rc == DB_OPEN)
		return rc;
	if (rc != DB_OK) {
		/* fn's outcome is what the caller needs. */
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

int db_commit(db_conn *db)
{
	return db_command(db, "COMMIT");
}

void db_rollback(db_conn *db)
{
	if (db_is_ok(db))
		(void)db_command(db, "ROLLBACK");
}

int db_transaction(db_conn *db, db_txn_fn fn, void *arg, int max_attempts)
{
	int rc = DB_RETRY;

	if (max_attempts < 1)
		max_attempts = 1;
	for (int attempt = 0; attempt < max_attempts; attempt++) {
		if (attempt > 0) {
			int ms = util_backoff_ms(attempt - 1, DB_BACKOFF_BASE_MS, DB_BACKOFF_CAP_MS);

			log_info("db: retrying transaction (attempt %d of %d) in %d ms",
				 attempt + 1, max_attempts, ms);
			util_sleep_ms(ms, NULL);
		}
		rc = db_transaction_once(db, fn, arg);
		if (rc != DB_RETRY)
			return rc;
	}
	return rc;
}

int db_listen(db_conn *db, const char *channel)
{
	char cmd[128];

	if (snprintf(cmd, sizeof(cmd), "LISTEN %s", channel) >= (int)sizeof(cmd))
		return DB_REJECT;
	return db_command(db, cmd);
}

/* Frees the notifications libpq received; true when there was one. */
static bool db_drain_notifies(PGconn *pg)
{
	PGnotify *n;
	bool got = false;

	(void)PQconsumeInput(pg);
	while ((n = PQnotifies(pg)) != NULL) {
		got = true;
		PQfreemem(n);
	}
	return got;
}

bool db_wait_notify(db_conn *db, int timeout_ms, volatile sig_atomic_t *stop)
{
	struct pollfd p = { .fd = PQsocket(db->pg), .events = POLLIN };

	if (db_drain_notifies(db->pg) || p.fd < 0)
		return p.fd >= 0;
	for (int waited = 0; waited < timeout_ms && (stop == NULL || !*stop); waited += 250) {
		if (poll(&p, 1, 250) > 0)
			break;
	}
	return db_drain_notifies(db->pg);
}
