/*
 * migrate.c - volctl db-sync: applies the embedded sql/NNN_name.sql files in order, each in
 * its own transaction together with its row in volmgr_schema_migrations.
 */
#include "core/migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

/* Any constant shared by every volmgr db-sync: 0x766f6c6d67720001, "volmgr" in ASCII then 1. */
#define MIGRATE_LOCK_KEY "8534159036033138689"

/*
 * Run at the start of every migration transaction. The advisory lock serialises concurrent
 * syncs until the transaction ends; the table is created under it, so two first syncs do not
 * race on it. NOTICEs ("already exists, skipping", which every guarded statement of 001
 * prints on a database Cinder made) would go to stderr through libpq's default processor.
 */
static const char *const migrate_prologue[] = {
	"SET LOCAL client_min_messages = warning",
	"SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
	"CREATE TABLE IF NOT EXISTS volmgr_schema_migrations ("
	" number integer PRIMARY KEY,"
	" name character varying(255),"
	" applied_at timestamp without time zone)",
};

static const char migrate_sql_applied[] =
	"SELECT 1 FROM volmgr_schema_migrations WHERE number = $1::integer";

static const char migrate_sql_record[] =
	"INSERT INTO volmgr_schema_migrations (number, name, applied_at)"
	" VALUES ($1::integer, $2, now() AT TIME ZONE 'utc')";

/*
 * Runs sql (possibly several statements) with the simple query protocol, which db_exec's
 * prepared statements cannot do. Returns DB_OK or the classified failure, logged with what.
 */
static int migrate_simple(db_conn *db, const char *sql, const char *what)
{
	PGconn *pg = db_pg(db);
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = DB_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		const char *msg = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg);

		rc = db_classify(state, PQstatus(pg) == CONNECTION_BAD);
		log_error("db-sync: %s failed (SQLSTATE %s): %s", what,
			  state != NULL ? state : "none", msg != NULL ? msg : "");
	}
	PQclear(r);
	return rc;
}

struct migrate_step {
	const struct migrate_file *file;
	bool applied;
};

static int migrate_one(db_conn *db, void *arg)
{
	struct migrate_step *step = arg;
	const struct migrate_file *f = step->file;
	char number[16];
	const char *p[2] = { number, f->name };
	PGresult *r;
	int rc;

	step->applied = false;
	for (size_t i = 0; i < sizeof(migrate_prologue) / sizeof(migrate_prologue[0]); i++) {
		rc = migrate_simple(db, migrate_prologue[i], "preparing the migration table");
		if (rc != DB_OK)
			return rc;
	}
	snprintf(number, sizeof(number), "%d", f->number);
	rc = db_exec(db, migrate_sql_applied, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) > 0) {
		PQclear(r);
		return DB_OK;
	}
	PQclear(r);
	rc = migrate_simple(db, f->sql, f->name);
	if (rc != DB_OK)
		return rc;
	rc = db_exec(db, migrate_sql_record, 2, p, NULL);
	if (rc == DB_OK)
		step->applied = true;
	return rc;
}

int migrate_apply(db_conn *db, int *applied)
{
	*applied = 0;
	for (int i = 0; i < migrate_nfiles; i++) {
		struct migrate_step step = { &migrate_files[i], false };
		int rc = db_transaction(db, migrate_one, &step, 3);

		if (rc != DB_OK) {
			log_error("db-sync: %s not applied: %s", migrate_files[i].name,
				  db_strerror(rc));
			return rc < 0 ? rc : DB_REJECT;
		}
		if (step.applied) {
			log_info("db-sync: applied %s", migrate_files[i].name);
			(*applied)++;
		}
	}
	return DB_OK;
}
