/*
 * migrate.h - applies the numbered migrations of sql/ (volctl db-sync).
 *
 * The files sql/NNN_name.sql are compiled into the binary: the build generates
 * build/gen/migrations.c (scripts/gen-migrations.sh) defining migrate_files, so a deployed
 * volctl needs no source tree. Each migration runs in its own transaction together with the
 * insert of its number into volmgr_schema_migrations, so an interrupted sync resumes where it
 * stopped and a second sync does nothing.
 */
#ifndef VOLMGR_CORE_MIGRATE_H
#define VOLMGR_CORE_MIGRATE_H

#include "common/db.h"

struct migrate_file {
	int number;        /* NNN */
	const char *name;  /* "001_cinder_tables.sql" */
	const char *sql;
};

/* Generated; sorted by number. */
extern const struct migrate_file migrate_files[];
extern const int migrate_nfiles;

/*
 * Applies, in order, every migration not yet recorded in volmgr_schema_migrations (created
 * first if missing). *applied gets how many ran. Concurrent syncs are serialised with an
 * advisory lock. Returns DB_OK or a negative status (the file and the server's message are
 * logged).
 */
__attribute__((warn_unused_result))
int migrate_apply(db_conn *db, int *applied);

#endif
