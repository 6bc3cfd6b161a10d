/*
 * retype.c - retype (placeholder: refused until the retype handler lands).
 */
#include <stdio.h>

#include "manager/handlers.h"

int h_retype(db_conn *db, struct job *job)
{
	(void)db;
	snprintf(job->reason, sizeof(job->reason), "%s is not served yet", job->method->name);
	return JOB_PERMANENT;
}

int h_retype_failed(db_conn *db, struct job *job)
{
	(void)db;
	(void)job;
	return DB_OK;
}
