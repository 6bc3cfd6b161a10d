/*
 * lifecycle.c - create_volume and delete_volume: the driver operation and the row changes
 * Cinder's volume manager makes for them.
 */
#include <stdio.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "core/quota.h"
#include "core/settings.h"
#include "core/usermsg.h"
#include "manager/handlers.h"
#include "manager/migration.h"
#include "manager/records.h"
#include "proto/names.h"

#define LC_ERR_MAX 512

/* A migration's temporary volume (migration_status "target:<source id>"). */
static bool lc_temporary(const struct vol_row *v)
{
	return strncmp(v->migration_status, "target:", 7) == 0;
}

/* The temporary volume of a migration: its source's engine waits for it, woken by NOTIFY
 * at the commit instead of polling. */
static int lc_wake_migration(db_conn *db, const struct vol_row *v)
{
	return lc_temporary(v) ? mig_notify(db) : DB_OK;
}

/*
 * Loads and locks the volume a delete_volume names, as job_load_volume with the status the API
 * sets for it ("deleting", "unmanaging" when unmanage_only, "error_managing_deleting" for a
 * volume whose manage failed), except for a migration's temporary volume: a Cinder source
 * manager casts delete_volume for the destination it gives up as that is (available or
 * error), and Cinder's volume manager, which checks no status, deletes it. JOB_SKIP (with
 * job's outcome) when there is nothing to do, DB_OK or a negative db status.
 */
static int lc_load_deletable(db_conn *db, struct job *job, const char *id, bool unmanage_only,
			     struct vol_row *v)
{
	int rc = vol_get(db, id, true, v);

	if (rc == DB_OK &&
	    (lc_temporary(v) || strcmp(v->status, VOL_S_ERROR_MANAGING_DELETING) == 0))
		return DB_OK;
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	return job_load_volume(db, job, id, unmanage_only ? VOL_S_UNMANAGING : VOL_S_DELETING, v);
}

/*
 * Whether v was counted in its pool's allocated capacity: only a create or a manage that
 * succeeded counts it, and both set launched_at (vol_mark_created), which nothing else does;
 * the status cannot tell, as a delete (forced or not) has replaced it. A migration's
 * temporary volume is the exception: its row copies the source's launched_at, but it keeps
 * its status when deleted, and was counted unless it is still creating or failed.
 */
static bool lc_in_pool(const struct vol_row *v)
{
	if (lc_temporary(v))
		return strcmp(v->status, VOL_S_CREATING) != 0 && strcmp(v->status, VOL_S_ERROR) != 0;
	return v->launched_at[0] != '\0';
}

/*
 * Whether Cinder's delete_volume notifies the delete of v ("delete.*", "unmanage.*"): not for
 * a volume that counts in no quota, nor for either side of a migration under way (its
 * destination included), whose rows the migration replaces without a delete of the volume.
 */
static bool lc_delete_notified(const struct vol_row *v)
{
	const char *ms = v->migration_status;
	bool migrating = ms[0] != '\0' && strcmp(ms, "error") != 0 && strcmp(ms, "success") != 0;

	return v->use_quota && !migrating;
}

/* A create that failed, by its driver or for good: status error and the user message. */
static int lc_create_error(db_conn *db, struct job *job, const struct vol_row *v)
{
	int rc = vol_set_status(db, v->id, VOL_S_ERROR, -1);

	if (rc == DB_OK)
		rc = lc_wake_migration(db, v);
	if (rc == DB_OK)
		rc = usermsg_create(db, v->project_id, job->msg->ctx.request_id, v->id,
				    UMSG_ACTION_CREATE_VOLUME, UMSG_DETAIL_UNKNOWN_ERROR,
				    settings.message_ttl);
	return rc;
}

int h_create_volume(db_conn *db, struct job *job)
{
	const struct proto_args_create_volume *a = &job->args.create_volume;
	char err[LC_ERR_MAX], location[VOL_STR];
	struct vol_row v;

	int rc = job_load_volume(db, job, a->volume_id, VOL_S_CREATING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	/* Cinder's create flow notifies create.start before the driver runs, and create.end
	 * only when the volume was created, for every source and for a migration's
	 * destination alike. */
	rc = rec_notify(db, "create.start", &v, v.status, v.size, job->msg->ctx.request_id);
	if (rc != DB_OK)
		return rc;
	bool failed = job_driver->create(&v, location, sizeof(location), err, sizeof(err)) !=
		      DRV_OK;
	/* A volume created from a snapshot or another volume gets its source's bytes. */
	if (!failed && (rc = sn_fill_from_source(db, &v, &failed, err, sizeof(err))) != DB_OK)
		return rc;
	if (failed) {
		log_error("Volume %s: create failed: %s", v.id, err);
		job_failed(job, "driver_error");
		return lc_create_error(db, job, &v);
	}
	rc = img_fill_created(db, job, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = vol_mark_created(db, v.id, location);
	/* Cinder counts a created volume in its pool's allocated capacity; delete takes it
	 * back out, so both sides have to be kept. */
	if (rc == DB_OK)
		rc = rec_pool_add(db, &v, v.size);
	if (rc == DB_OK)
		rc = lc_wake_migration(db, &v);
	if (rc == DB_OK)
		rc = rec_notify(db, "create.end", &v, VOL_S_AVAILABLE, v.size,
				job->msg->ctx.request_id);
	if (rc == DB_OK)
		log_info("Volume %s: created (%d GiB at %s).", v.id, v.size, location);
	job_outcome(job, "created");
	return rc;
}

int h_create_volume_failed(db_conn *db, struct job *job)
{
	struct vol_row v;

	int rc = job_load_volume(db, job, job->args.create_volume.volume_id, VOL_S_CREATING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	log_error("Volume %s: create failed for good; status set to %s.", v.id, VOL_S_ERROR);
	return lc_create_error(db, job, &v);
}

int h_delete_volume_failed(db_conn *db, struct job *job)
{
	bool unmanage_only = job->args.delete_volume.unmanage_only;
	/* Cinder's manager leaves error_unmanaging for an unmanage that raised. */
	const char *status = unmanage_only ? VOL_S_ERROR_UNMANAGING : VOL_S_ERROR_DELETING;
	struct vol_row v;

	int rc = lc_load_deletable(db, job, job->args.delete_volume.volume_id, unmanage_only, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	log_error("Volume %s: delete failed for good; status set to %s.", v.id, status);
	return vol_set_status(db, v.id, status, -1);
}

int h_delete_volume(db_conn *db, struct job *job)
{
	const struct proto_args_delete_volume *a = &job->args.delete_volume;
	struct quota_delta deltas[QUOTA_VOLUME_DELTAS];
	struct quota_defaults qd;
	struct quota_over over;
	char err[LC_ERR_MAX];
	struct vol_row v;

	int rc = lc_load_deletable(db, job, a->volume_id, a->unmanage_only, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	bool notified = lc_delete_notified(&v);
	const char *start = a->unmanage_only ? "unmanage.start" : "delete.start";
	/* Cinder reports a volume whose manage failed as "deleting". */
	if (notified)
		rc = rec_notify(db, start, &v, strcmp(v.status, VOL_S_ERROR_MANAGING_DELETING) == 0 ?
				VOL_S_DELETING : v.status, v.size, job->msg->ctx.request_id);
	if (rc != DB_OK)
		return rc;
	/* With cascade its snapshots go first; one that cannot keeps the volume, in
	 * error_deleting as Cinder's manager leaves it. */
	if (a->cascade) {
		bool refused;

		rc = sn_cascade(db, job, &v, &refused);
		if (rc != DB_OK)
			return rc;
		if (refused) {
			job_outcome(job, "cascade_refused");
			return vol_set_status(db, v.id, VOL_S_ERROR_DELETING, -1);
		}
	}
	/* unmanage_only leaves the backing store to the operator, as Cinder does. */
	if (!a->unmanage_only && job_driver->remove(&v, err, sizeof(err)) != DRV_OK) {
		log_error("Volume %s: delete failed: %s", v.id, err);
		job_failed(job, "driver_error");
		return vol_set_status(db, v.id, VOL_S_ERROR_DELETING, -1);
	}
	/* The deltas of a volume whose type is gone (no name) are the base resources only. Unlike
	 * Cinder, a volume whose manage failed gives back the volumes 1 its API committed
	 * (docs/differences.md). */
	if (v.use_quota) {
		settings_quota_defaults(&settings, &qd);
		rc = quota_reserve_and_commit(db, &qd, v.project_id, deltas,
					      quota_volume_deltas(v.volume_type_name, -1, -v.size,
								  deltas), &over);
		if (rc > 0) {
			/* Negative deltas are never over a limit; anything else is a bug. */
			snprintf(job->reason, sizeof(job->reason),
				 "quota refused the release of volume %s (code %d)", v.id, rc);
			return JOB_PERMANENT;
		}
		if (rc != DB_OK)
			return rc;
	}
	rc = vol_soft_delete(db, v.id);
	/* Connections initialized and never terminated go with the volume. */
	if (rc == DB_OK)
		rc = rec_exec(db, "DELETE FROM volmgr_connections WHERE volume_id = $1", 1,
			      (const char *[]){ v.id }, NULL);
	if (rc == DB_OK && lc_in_pool(&v))
		rc = rec_pool_add(db, &v, -(long)v.size);
	if (rc == DB_OK && notified)
		rc = rec_notify(db, a->unmanage_only ? "unmanage.end" : "delete.end", &v,
				VOL_S_DELETED, v.size, job->msg->ctx.request_id);
	if (rc == DB_OK)
		log_info("Volume %s: deleted%s.", v.id, a->unmanage_only ? " (unmanaged)" : "");
	job_outcome(job, "deleted");
	return rc;
}
