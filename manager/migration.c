/*
 * migration.c - migration between backends (placeholder: the methods are refused until the
 * migration engine lands).
 */
#include <stdio.h>

#include "manager/handlers.h"
#include "manager/migration.h"

static int not_yet(struct job *job)
{
	snprintf(job->reason, sizeof(job->reason), "%s is not served yet", job->method->name);
	return JOB_PERMANENT;
}

int h_migrate_volume(db_conn *db, struct job *job)
{
	(void)db;
	return not_yet(job);
}

int h_migrate_volume_failed(db_conn *db, struct job *job)
{
	(void)db;
	(void)job;
	return DB_OK;
}

int h_migrate_volume_completion(db_conn *db, struct job *job)
{
	(void)db;
	return not_yet(job);
}

int h_update_migrated_volume(db_conn *db, struct job *job)
{
	(void)db;
	return not_yet(job);
}

int mig_begin(db_conn *db, struct job *job, const struct vol_row *v,
	      const struct mig_request *req)
{
	(void)db;
	(void)v;
	(void)req;
	snprintf(job->reason, sizeof(job->reason), "%s: the migration engine is not built yet",
		 job->method->name);
	return JOB_PERMANENT;
}
