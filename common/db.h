/*
 * db.h - one PostgreSQL connection (libpq): statements prepared on first use, SQLSTATE
 * classification, and transactions retried as a whole.
 *
 * Status convention of this layer: DB_OK (0) or a negative enum db_status. Positive values
 * are left to callers (a transaction body may return one to roll back with an
 * application-level outcome, see db_transaction).
 *
 * A db_conn is used by one thread at a time.
 */
#ifndef VOLMGR_COMMON_DB_H
#define VOLMGR_COMMON_DB_H

#include <signal.h>
#include <stdbool.h>
#include <libpq-fe.h>

enum db_status {
	DB_OK = 0,
	DB_DUPLICATE = -1,  /* 23505 unique_violation: the caller decides (often "already done") */
	DB_RETRY = -2,      /* 40001 serialization_failure, 40P01 deadlock, 57014 statement or
			     * lock timeout, 55P03 lock_not_available, class 53 insufficient
			     * resources: retry the whole txn */
	DB_RECONNECT = -3,  /* connection lost, class 08, 57P01..57P03, class 58 system error,
			     * 25006 read-only transaction (a standby): reconnect, do not ack */
	DB_REJECT = -4,     /* data, constraint or syntax error: retrying cannot help */
	DB_OPEN = -5,       /* not a failure: a transaction body left its transaction open, for
			     * its caller to end later with db_end (see db_transaction) */
};

typedef struct db_conn db_conn;

/*
 * Connects to url (a libpq URI or conninfo) with application_name set and
 * statement_timeout = statement_timeout_ms (0 = none), and TCP keepalives and a TCP user
 * timeout on both ends (a dead peer is found within about 25 s; the client's side can be
 * changed by the url's own keepalives* / tcp_user_timeout). Returns NULL on failure after
 * logging why. The caller owns the handle and frees it with db_close.
 */
__attribute__((warn_unused_result))
db_conn *db_open(const char *url, const char *application_name, int statement_timeout_ms);

void db_close(db_conn *db);

/* Drops the session and connects again with the same parameters; the statement cache is
 * cleared, so statements are prepared again on next use. Returns DB_OK or DB_RECONNECT. */
__attribute__((warn_unused_result)) int db_reconnect(db_conn *db);

/* True while libpq reports CONNECTION_OK and no statement has failed with a status that
 * classifies as DB_RECONNECT (e.g. 25006 on a standby, whose socket stays open): a caller
 * that reconnects when this is false thus leaves such a session too. */
bool db_is_ok(const db_conn *db);

/* The underlying connection, for the rare caller that needs libpq directly. */
PGconn *db_pg(db_conn *db);

/* Pure: maps a SQLSTATE (NULL for client-side errors) and the connection state to a status. */
enum db_status db_classify(const char *sqlstate, bool connection_bad);

/*
 * Runs sql with nparams text parameters (NUL-terminated; NULL means SQL NULL). The statement
 * is prepared once per session, keyed by its text, so pass the same SQL text for the same
 * statement. On DB_OK and res != NULL, *res is the result (caller PQclear()s it); on failure
 * *res is NULL, the error text is kept for db_last_error and the status says what to do.
 * sql is one statement (scripts go through db_pg and PQexec). The cache names its statements
 * "s1", "s2", ...: a caller preparing through db_pg must use other names.
 */
__attribute__((warn_unused_result))
int db_exec(db_conn *db, const char *sql, int nparams, const char *const *params, PGresult **res);

/*
 * db_exec with libpq's parameter and result formats: lengths[i] and formats[i] (1 = binary,
 * 0 = text) as PQexecParams takes them (either may be NULL: all text), and the result's
 * columns in binary when binary_result (PQgetlength gives each value's size). A binary
 * parameter carries raw bytes (bytea needs no escaping that way).
 */
__attribute__((warn_unused_result))
int db_exec_binary(db_conn *db, const char *sql, int nparams, const char *const *params,
		   const int *lengths, const int *formats, bool binary_result, PGresult **res);

/* The message and SQLSTATE of the last failed call on db ("" when none since the start of the
 * current or last transaction: db_transaction clears them before each BEGIN). */
const char *db_last_error(const db_conn *db);
const char *db_last_sqlstate(const db_conn *db);

/* The body of a transaction: returns DB_OK to commit, a negative db_status or a positive
 * application code to roll back, or DB_OPEN to leave the transaction open. */
typedef int (*db_txn_fn)(db_conn *db, void *arg);

/*
 * Runs fn inside BEGIN ... COMMIT. When fn or COMMIT yields DB_RETRY, the whole transaction
 * is run again, at most max_attempts times in all, with a short jittered backoff. Returns
 * DB_OK after a successful commit, fn's positive code (rolled back), or a negative status.
 * fn must be safe to run again from the start (it may not keep state from a rolled-back try).
 * Any failed statement aborts the transaction in PostgreSQL, so fn must return the failure (it
 * cannot treat a DB_DUPLICATE as "already done" and go on, short of ON CONFLICT or a
 * SAVEPOINT): a COMMIT after an ignored failure is rolled back and returns DB_REJECT.
 *
 * A body that must wait for something outside the database before the commit (a message
 * broker's confirm) returns DB_OPEN: db_transaction then returns DB_OPEN with the transaction
 * still open, and the caller ends it with db_commit or db_rollback once the wait is over. The connection serves
 * nothing else meanwhile.
 */
__attribute__((warn_unused_result))
int db_transaction(db_conn *db, db_txn_fn fn, void *arg, int max_attempts);

/* Commits the transaction that a body left open (DB_OPEN). Returns DB_OK, or a negative
 * status: a failed COMMIT has rolled back (DB_RETRY cannot be retried here, since the body's
 * wait cannot be undone). */
__attribute__((warn_unused_result))
int db_commit(db_conn *db);

/* Rolls back the open transaction. A failed ROLLBACK has either lost the session (the next
 * statement will say so) or been logged, so there is nothing to report. */
void db_rollback(db_conn *db);

/* LISTENs on channel (an SQL identifier, trusted: the caller's constant) on db's session,
 * outside any transaction; a reconnect ends it, so the caller listens again after one.
 * Returns DB_OK or a negative status. */
__attribute__((warn_unused_result))
int db_listen(db_conn *db, const char *channel);

/*
 * Waits up to timeout_ms for a notification of a channel db LISTENs on, looking at *stop
 * every 250 ms (NULL: never stops early), then drains every notification received. Returns
 * at once when one was already there. True when at least one arrived; a broken session
 * shows in db_is_ok afterwards.
 */
bool db_wait_notify(db_conn *db, int timeout_ms, volatile sig_atomic_t *stop);

const char *db_strerror(int status);

#endif
