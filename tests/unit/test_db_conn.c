/*
 * test_db_conn.c - a db_conn against the test stack's PostgreSQL (VOLMGR_DB_URL, exported by
 * scripts/run-tests.sh; the tests are skipped without it): the statement cache after an
 * allocation failure, and the last error's lifetime.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"

/* Set by the PQprepare wrapper: the next strdup fails, which is db.c's copy of the SQL text
 * right after a successful prepare. */
static int fail_next_strdup;
static int fail_after_prepare;

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if (fail_next_strdup) {
		fail_next_strdup = 0;
		return NULL;
	}
	d = malloc(n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

PGresult *PQprepare(PGconn *conn, const char *name, const char *query, int nparams,
		    const Oid *types)
{
	PGresult *(*real)(PGconn *, const char *, const char *, int, const Oid *);
	PGresult *res;

	*(void **)&real = dlsym(RTLD_NEXT, "PQprepare");
	cr_assert(real != NULL);
	res = real(conn, name, query, nparams, types);
	if (fail_after_prepare) {
		fail_after_prepare = 0;
		fail_next_strdup = 1;
	}
	return res;
}

static db_conn *db;

static void setup(void)
{
	const char *url = getenv("VOLMGR_DB_URL");

	if (url == NULL || url[0] == '\0')
		cr_skip_test("VOLMGR_DB_URL is not set (run through make test)");
	db = db_open(url, "volmgr-unit-db-conn", 10000);
	cr_assert(db != NULL, "cannot connect to %s", url);
}

static void teardown(void)
{
	db_close(db);
	db = NULL;
}

TestSuite(db_conn, .init = setup, .fini = teardown, .timeout = 30.);

static void expect_value(const char *sql, const char *want)
{
	PGresult *res = NULL;
	int rc = db_exec(db, sql, 0, NULL, &res);

	cr_assert(eq(int, rc, DB_OK), "%s: %s (%s)", sql, db_last_error(db),
		  db_last_sqlstate(db));
	cr_expect(eq(str, PQgetvalue(res, 0, 0), (char *)want));
	PQclear(res);
}

Test(db_conn, failed_cache_copy_does_not_reuse_the_statement_name)
{
	fail_after_prepare = 1;
	expect_value("SELECT 'first'", "first");     /* prepared as s1, copy failed: unprepared */
	cr_expect(eq(int, fail_next_strdup, 0), "db.c copied the text after the prepare");
	expect_value("SELECT 'second'", "second");   /* must not be prepared as s1 again */
	expect_value("SELECT 'first'", "first");
	expect_value("SELECT 'second'", "second");
}

static char sqlstate_in_body[8];

/* A body that fails without a database error, as rec_notify's allocation failure does. */
static int reject_without_db_error(db_conn *conn, void *arg)
{
	(void)arg;
	snprintf(sqlstate_in_body, sizeof(sqlstate_in_body), "%s", db_last_sqlstate(conn));
	return DB_REJECT;
}

Test(db_conn, a_transaction_starts_without_the_last_error)
{
	cr_assert(eq(int, db_exec(db, "SELECT 1 / 0", 0, NULL, NULL), DB_REJECT));
	cr_assert(eq(str, (char *)db_last_sqlstate(db), "22012"));   /* division_by_zero */

	strcpy(sqlstate_in_body, "unset");
	cr_expect(eq(int, db_transaction(db, reject_without_db_error, NULL, 1), DB_REJECT));
	cr_expect(eq(str, sqlstate_in_body, ""), "stale SQLSTATE seen by the body");
	cr_expect(eq(str, (char *)db_last_sqlstate(db), ""), "stale SQLSTATE after the rollback");
	cr_expect(eq(str, (char *)db_last_error(db), ""));
}

/* A standby answers every write with 25006 on a socket that stays open: the session must
 * still count as lost, so that callers that reconnect on !db_is_ok leave it. */
Test(db_conn, a_read_only_refusal_marks_the_session_lost_until_it_reconnects)
{
	cr_assert(eq(int, db_exec(db, "SET default_transaction_read_only = on", 0, NULL, NULL),
		     DB_OK));
	cr_assert(db_is_ok(db));
	cr_expect(eq(int, db_exec(db, "CREATE TABLE volmgr_unit_ro (a int)", 0, NULL, NULL),
		     DB_RECONNECT));
	cr_expect(eq(str, (char *)db_last_sqlstate(db), "25006"));
	cr_expect(not(db_is_ok(db)));
	cr_assert(eq(int, db_reconnect(db), DB_OK));
	cr_expect(db_is_ok(db));
	/* The new session has the server's defaults again. */
	cr_expect(eq(int, db_exec(db, "CREATE TEMP TABLE volmgr_unit_ro (a int)", 0, NULL, NULL),
		     DB_OK));
}
