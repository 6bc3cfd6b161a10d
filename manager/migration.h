/*
 * migration.h - the migration engine's entry point for the handlers that start a migration
 * between backends (migrate_volume, and retype when the new type needs another backend).
 */
#ifndef VOLMGR_MANAGER_MIGRATION_H
#define VOLMGR_MANAGER_MIGRATION_H

#include <stdbool.h>

#include "common/db.h"
#include "core/volume.h"
#include "manager/handlers.h"

/* What a migration is asked to do. */
struct mig_request {
	const char *dest_host;        /* "host@backend#pool" */
	const char *new_type_id;      /* NULL: keep the type (os-migrate_volume) */
	const char *const *reservations; int nreservations;        /* retype: new type's */
	const char *const *old_reservations; int nold_reservations; /* retype: old type's */
	bool force_host_copy;
};

/*
 * Starts the migration of v (locked by the caller's transaction, migration_status
 * "starting") to req->dest_host, as part of job's transaction. On success the engine commits
 * both reservation lists and sets the new type; on failure it rolls them back and restores
 * the volume's status. Returns DB_OK, a negative db status, or JOB_PERMANENT with job->reason
 * set (the message is dead-lettered and the method's failed handler runs).
 */
__attribute__((warn_unused_result))
int mig_begin(db_conn *db, struct job *job, const struct vol_row *v,
	      const struct mig_request *req);

#endif
