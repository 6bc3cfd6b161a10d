/*
 * snapshot.c - create_snapshot, delete_snapshot and revert_to_snapshot, the snapshots a
 * cascading delete_volume takes with it, and the filling of a new volume's store from the
 * snapshot or volume it is created from: the driver operation and the row changes Cinder's
 * volume manager makes for them (docs/cinder.md §17).
 *
 * Every handler locks the volume first, then the snapshot. The API inserts a snapshot in a
 * transaction that holds the volume's row lock until its cast was confirmed and it committed,
 * so a create_snapshot that overtakes that commit waits for the lock, and the next statement
 * (read committed) sees the new row. The message's Snapshot primitive names the volume for
 * this; the row must agree with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/quota.h"
#include "core/settings.h"
#include "core/snapshot.h"
#include "manager/handlers.h"
#include "manager/records.h"
#include "proto/names.h"

#define SN_ERR_MAX 512

/* The snapshots a cascading delete reads at a time: it reads again until none is left. */
#define SN_CASCADE_MAX 256

/*
 * Loads and locks the volume, then the snapshot, of ref. Returns DB_OK when the snapshot
 * belongs to the volume and is in status want; JOB_SKIP (with job's outcome) when either is
 * gone or the snapshot is in another status; JOB_PERMANENT when the message names the
 * snapshot of another volume; or a negative db status.
 */
static int sn_load(db_conn *db, struct job *job, const struct proto_snapshot_ref *ref,
		   const char *want, struct vol_row *v, struct snap_row *s)
{
	int rc = vol_get(db, ref->volume_id, true, v);

	if (rc == DB_OK)
		rc = snap_get(db, ref->id, true, s);
	if (rc == VOL_NOT_FOUND) {
		log_warning("%s: snapshot %s of volume %s does not exist (any more); nothing to do",
			    job->method->name, ref->id, ref->volume_id);
		job_outcome(job, "not_found");
		return JOB_SKIP;
	}
	if (rc != DB_OK)
		return rc;
	if (strcmp(s->volume_id, v->id) != 0) {
		snprintf(job->reason, sizeof(job->reason), "snapshot %s belongs to volume %s, not "
			 "to %s", s->id, s->volume_id, v->id);
		return JOB_PERMANENT;
	}
	if (strcmp(s->status, want) != 0) {
		log_warning("%s: snapshot %s is %s, not %s; nothing to do", job->method->name, s->id,
			    s->status, want);
		job_outcome(job, "wrong_status");
		return JOB_SKIP;
	}
	return DB_OK;
}

/* A moved status that another writer may already have moved counts as done. */
static int sn_status(db_conn *db, const char *id, const char *from, const char *to)
{
	int rc = snap_cas_status(db, id, (const char *const[]){ from }, 1, to, NULL);

	return rc == VOL_CONFLICT ? DB_OK : rc;
}

int h_create_snapshot(db_conn *db, struct job *job)
{
	const struct proto_snapshot_ref *ref = &job->args.create_snapshot.snapshot;
	char err[SN_ERR_MAX], location[VOL_TEXT];
	struct snap_row s;
	struct vol_row v;

	int rc = sn_load(db, job, ref, SNAP_S_CREATING, &v, &s);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	/* Cinder notifies create.start before the driver runs, create.end only after it
	 * succeeded. */
	rc = rec_notify_snapshot(db, "create.start", s.id, NULL, job->msg->ctx.request_id);
	if (rc != DB_OK)
		return rc;
	if (job_driver->snapshot_create(&v, s.id, location, sizeof(location), err,
					sizeof(err)) != DRV_OK) {
		log_error("Snapshot %s: create failed: %s", s.id, err);
		job_failed(job, "driver_error");
		return sn_status(db, s.id, SNAP_S_CREATING, SNAP_S_ERROR);
	}
	rc = snap_mark_created(db, s.id, location);
	if (rc == DB_OK)
		rc = rec_notify_snapshot(db, "create.end", s.id, NULL, job->msg->ctx.request_id);
	if (rc == DB_OK)
		log_info("Snapshot %s of volume %s: created at %s.", s.id, v.id, location);
	job_outcome(job, "created");
	return rc;
}

int h_create_snapshot_failed(db_conn *db, struct job *job)
{
	struct snap_row s;
	struct vol_row v;

	int rc = sn_load(db, job, &job->args.create_snapshot.snapshot, SNAP_S_CREATING, &v, &s);
	if (rc != DB_OK)
		return rc == JOB_SKIP || rc == JOB_PERMANENT ? DB_OK : rc;
	log_error("Snapshot %s: create failed for good; status set to %s.", s.id, SNAP_S_ERROR);
	return sn_status(db, s.id, SNAP_S_CREATING, SNAP_S_ERROR);
}

/*
 * The end of a snapshot whose delete the API asked for (v locked, s in "deleting"): the
 * store removed unless unmanage_only, the quota given back as Cinder's manager does
 * (snapshots -1, gigabytes -volume_size and their per-type forms, reserved and committed at
 * once, for a snapshot that counts), the row and its metadata soft-deleted. A failing driver
 * leaves it "error_deleting" with *failed set. Returns DB_OK, JOB_PERMANENT or a negative db
 * status.
 */
static int sn_destroy(db_conn *db, struct job *job, const struct vol_row *v,
		      const struct snap_row *s, bool unmanage_only, bool *failed)
{
	struct quota_delta deltas[QUOTA_VOLUME_DELTAS];
	struct quota_defaults qd;
	struct quota_over over;
	char err[SN_ERR_MAX];
	int rc;

	*failed = false;
	/* Cinder's delete_snapshot notifies delete.start (also when it unmanages, and for each
	 * snapshot of a cascade), and delete.end once the row is gone. */
	rc = rec_notify_snapshot(db, "delete.start", s->id, NULL, job->msg->ctx.request_id);
	if (rc != DB_OK)
		return rc;
	if (!unmanage_only && job_driver->snapshot_remove(s->id, err, sizeof(err)) != DRV_OK) {
		log_error("Snapshot %s: delete failed: %s", s->id, err);
		*failed = true;
		job_failed(job, "driver_error");
		return sn_status(db, s->id, SNAP_S_DELETING, SNAP_S_ERROR_DELETING);
	}
	if (s->use_quota) {
		settings_quota_defaults(&settings, &qd);
		rc = quota_reserve_and_commit(db, &qd, s->project_id, deltas,
					      quota_snapshot_deltas(v->volume_type_name, -1,
								    -s->volume_size, deltas),
					      &over);
		if (rc > 0) {
			/* Negative deltas are never over a limit; anything else is a bug. */
			snprintf(job->reason, sizeof(job->reason),
				 "quota refused the release of snapshot %s (code %d)", s->id, rc);
			return JOB_PERMANENT;
		}
		if (rc != DB_OK)
			return rc;
	}
	rc = snap_soft_delete(db, s->id);
	if (rc == DB_OK)
		rc = rec_notify_snapshot(db, "delete.end", s->id, NULL, job->msg->ctx.request_id);
	if (rc == DB_OK)
		log_info("Snapshot %s: deleted%s.", s->id, unmanage_only ? " (unmanaged)" : "");
	job_outcome(job, "deleted");
	return rc;
}

int h_delete_snapshot(db_conn *db, struct job *job)
{
	const struct proto_args_delete_snapshot *a = &job->args.delete_snapshot;
	struct snap_row s;
	struct vol_row v;
	bool failed;

	/* Cinder's API marks a snapshot it unmanages "unmanaging", one it deletes "deleting". */
	int rc = sn_load(db, job, &a->snapshot, a->unmanage_only ? SNAP_S_UNMANAGING :
			 SNAP_S_DELETING, &v, &s);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	return sn_destroy(db, job, &v, &s, a->unmanage_only, &failed);
}

int h_delete_snapshot_failed(db_conn *db, struct job *job)
{
	struct snap_row s;
	struct vol_row v;

	int rc = sn_load(db, job, &job->args.delete_snapshot.snapshot,
			 job->args.delete_snapshot.unmanage_only ? SNAP_S_UNMANAGING :
			 SNAP_S_DELETING, &v, &s);
	if (rc != DB_OK)
		return rc == JOB_SKIP || rc == JOB_PERMANENT ? DB_OK : rc;
	log_error("Snapshot %s: delete failed for good; status set to %s.", s.id,
		  SNAP_S_ERROR_DELETING);
	return sn_status(db, s.id, s.status, SNAP_S_ERROR_DELETING);
}

int sn_cascade(db_conn *db, struct job *job, const struct vol_row *v, bool *refused)
{
	char (*ids)[37] = malloc(SN_CASCADE_MAX * sizeof(*ids));
	struct snap_row s;
	int n = 0, rc = ids != NULL ? DB_OK : DB_REJECT;

	*refused = false;
	/* Each pass deletes every snapshot it read (or stops), so the next reads the rest. */
	while (rc == DB_OK && !*refused) {
		rc = snap_of_volume(db, v->id, ids, SN_CASCADE_MAX, &n);
		if (n == 0)
			break;
		for (int i = 0; rc == DB_OK && i < n && !*refused; i++) {
			rc = snap_get(db, ids[i], true, &s);
			if (rc == VOL_NOT_FOUND) {
				rc = DB_OK;
				continue;
			}
			if (rc != DB_OK)
				break;
			/* The API moved every snapshot to "deleting" with the volume; one that is
			 * not keeps the volume, as Cinder's manager refuses the cascade then. */
			if (strcmp(s.status, SNAP_S_DELETING) != 0) {
				log_error("Volume %s: snapshot %s was found in state %s rather than "
					  "'deleting' during cascade delete.", v->id, s.id, s.status);
				*refused = true;
				break;
			}
			rc = sn_destroy(db, job, v, &s, false, refused);
		}
	}
	free(ids);
	return rc;
}

/* Cinder's revert notifies "volume.revert.<suffix>" then "snapshot.revert.<suffix>", with
 * the rows as they are then (status NULL: the rows' own). */
static int sn_revert_notify(db_conn *db, const struct job *job, const char *suffix,
			    const struct vol_row *v, const char *status, const struct snap_row *s)
{
	const char *request_id = job->msg->ctx.request_id;
	int rc = rec_notify(db, suffix, v, status, v->size, request_id);

	return rc == DB_OK ? rec_notify_snapshot(db, suffix, s->id, NULL, request_id) : rc;
}

/* A revert that ends, well or not: the volume back to "available" (to "error" when it
 * failed) and the snapshot to "available", as Cinder's manager leaves them, and revert.end.
 * Cinder sends revert.end after resetting the statuses when the revert went, and before
 * when it failed (its exception handler notifies first), so the failure's payloads show the
 * volume "reverting" and the snapshot "restoring". */
static int sn_revert_end(db_conn *db, const struct job *job, const struct vol_row *v,
			 const struct snap_row *s, bool failed)
{
	const char *status = failed ? VOL_S_ERROR : VOL_S_AVAILABLE;
	int rc = failed ? sn_revert_notify(db, job, "revert.end", v, v->status, s) : DB_OK;

	if (rc == DB_OK)
		rc = vol_cas_status(db, v->id, (const char *const[]){ VOL_S_REVERTING }, 1,
				    status, NULL);
	if (rc == DB_OK || rc == VOL_CONFLICT)
		rc = sn_status(db, s->id, SNAP_S_RESTORING, SNAP_S_AVAILABLE);
	return rc == DB_OK && !failed ? sn_revert_notify(db, job, "revert.end", v, status, s)
				      : rc;
}

int h_revert_to_snapshot(db_conn *db, struct job *job)
{
	const struct proto_args_revert_to_snapshot *a = &job->args.revert_to_snapshot;
	char err[SN_ERR_MAX];
	struct snap_row s;
	struct vol_row v;

	int rc = sn_load(db, job, &a->snapshot, SNAP_S_RESTORING, &v, &s);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	if (strcmp(v.id, a->volume_id) != 0) {
		snprintf(job->reason, sizeof(job->reason), "snapshot %s is not of volume %s", s.id,
			 a->volume_id);
		return JOB_PERMANENT;
	}
	if (strcmp(v.status, VOL_S_REVERTING) != 0) {
		/* Someone (an operator's reset-state) moved the volume out of "reverting": the
		 * revert does not run, but the snapshot the API set "restoring" with it must not
		 * stay so. */
		log_warning("revert_to_snapshot: volume %s is %s, not reverting; snapshot %s back "
			    "to available", v.id, v.status, s.id);
		job_outcome(job, "wrong_status");
		return sn_status(db, s.id, SNAP_S_RESTORING, SNAP_S_AVAILABLE);
	}
	rc = sn_revert_notify(db, job, "revert.start", &v, v.status, &s);
	if (rc != DB_OK)
		return rc;
	if (job_driver->from_snapshot(&v, s.id, err, sizeof(err)) != DRV_OK) {
		log_error("Volume %s: revert to snapshot %s failed: %s", v.id, s.id, err);
		job_failed(job, "driver_error");
		return sn_revert_end(db, job, &v, &s, true);
	}
	log_info("Volume %s reverted to snapshot %s.", v.id, s.id);
	job_outcome(job, "reverted");
	return sn_revert_end(db, job, &v, &s, false);
}

int h_revert_to_snapshot_failed(db_conn *db, struct job *job)
{
	struct snap_row s;
	struct vol_row v;

	int rc = sn_load(db, job, &job->args.revert_to_snapshot.snapshot, SNAP_S_RESTORING, &v,
			 &s);
	if (rc != DB_OK)
		return rc == JOB_SKIP || rc == JOB_PERMANENT ? DB_OK : rc;
	log_error("Volume %s: revert failed for good; status set to %s.", v.id, VOL_S_ERROR);
	return sn_revert_end(db, job, &v, &s, true);
}

int sn_fill_from_source(db_conn *db, const struct vol_row *v, bool *failed, char *err,
			size_t errlen)
{
	struct vol_row *src;
	int rc;

	*failed = false;
	if (v->snapshot_id[0] != '\0') {
		*failed = job_driver->from_snapshot(v, v->snapshot_id, err, errlen) != DRV_OK;
		return DB_OK;
	}
	if (v->source_volid[0] == '\0')
		return DB_OK;
	src = malloc(sizeof(*src));
	if (src == NULL)
		return DB_REJECT;
	/* Read without a lock: the API made sure the source was available or in-use, and the
	 * copy runs unlocked in Cinder too. */
	rc = vol_get(db, v->source_volid, false, src);
	if (rc == VOL_NOT_FOUND) {
		snprintf(err, errlen, "source volume %s is gone", v->source_volid);
		*failed = true;
		rc = DB_OK;
	} else if (rc == DB_OK) {
		*failed = job_driver->from_volume(v, src, err, errlen) != DRV_OK;
	}
	free(src);
	return rc;
}
