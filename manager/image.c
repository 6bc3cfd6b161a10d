/*
 * image.c - copy_volume_to_image and reimage (placeholder: refused until its handlers land).
 */
#include <stdio.h>

#include "manager/handlers.h"

/* Refuses a method whose handler has not landed yet. */
static int not_served(struct job *job)
{
	snprintf(job->reason, sizeof(job->reason), "%s is not served yet", job->method->name);
	return JOB_PERMANENT;
}

/* A message of such a method changed nothing, so its failure has nothing to undo. */
static int nothing_to_undo(db_conn *db, struct job *job)
{
	(void)db;
	(void)job;
	return DB_OK;
}

int h_copy_volume_to_image(db_conn *db, struct job *job)
{
	(void)db;
	return not_served(job);
}

int h_copy_volume_to_image_failed(db_conn *db, struct job *job)
{
	return nothing_to_undo(db, job);
}

int h_reimage(db_conn *db, struct job *job)
{
	(void)db;
	return not_served(job);
}

int h_reimage_failed(db_conn *db, struct job *job)
{
	return nothing_to_undo(db, job);
}
