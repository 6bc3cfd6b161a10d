/*
 * migration.c - migration between backends (docs/cinder.md §16): migrate_volume and the start
 * of a generic migration on the source host, the completion on the source host (a call, or
 * the engine after its copy), update_migrated_volume on the destination host, and the swap of
 * the two rows that finish_volume_migration makes. The waits and the copy are the engine's
 * (engine.c); everything here is one step inside one transaction.
 */
#include "manager/migration.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/pending_extend.h"
#include "core/quota.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/records.h"
#include "proto/names.h"

#define MIG_S_MIGRATING "migrating"
#define MIG_S_STARTING "starting"
#define MIG_S_SUCCESS "success"
#define MIG_TARGET_PREFIX "target:"

/* The status a volume had before the migration, restored at its end: Cinder's
 * migrate_volume_completion takes previous_status (which the API set when it started the
 * migration); a volume without one keeps its status. */
static const char *mig_orig_status(const struct vol_row *v)
{
	return v->previous_status[0] != '\0' ? v->previous_status : v->status;
}

int mig_notify(db_conn *db)
{
	return rec_exec(db, "SELECT pg_notify('" MIG_CHANNEL "', $1)", 1,
			(const char *[]){ mconf.service_host }, NULL);
}

/* Commits (commit) or rolls back a retype's two reservation lists, each stored as JSON (NULL
 * or empty: none), of project. A damaged list settles what it still names: the rest expires
 * with its reservations. */
static int mig_settle(db_conn *db, const char *project_id, const char *resv,
		      const char *old_resv, bool commit)
{
	const char *lists[2] = { resv, old_resv };
	int rc = DB_OK;

	for (int l = 0; l < 2 && rc == DB_OK; l++) {
		char uuids[PROTO_MAX_RESERVATIONS][37];
		const char *p[PROTO_MAX_RESERVATIONS];
		int n = 0;

		if (lists[l] == NULL || lists[l][0] == '\0')
			continue;
		(void)pending_extend_parse_reservations(lists[l], uuids, PROTO_MAX_RESERVATIONS,
							&n);
		for (int i = 0; i < n; i++)
			p[i] = uuids[i];
		if (n > 0)
			rc = commit ? quota_commit(db, project_id, p, n) :
				      quota_rollback(db, project_id, p, n);
	}
	return rc;
}

/*
 * The source's side of a failed migration, as Cinder leaves it (migrate_volume's and
 * _retype_error's handlers): migration_status error, the status of before a retype or a
 * lock_volume restored, both reservation lists rolled back.
 */
static int mig_fail_source(db_conn *db, const struct vol_row *v, const char *resv,
			   const char *old_resv)
{
	const char *p[] = { v->id, mig_orig_status(v) };
	bool restore = strcmp(v->status, "retyping") == 0 || strcmp(v->status, "maintenance") == 0;
	int rc = rec_exec(db, restore ?
			  "UPDATE volumes SET migration_status = 'error', status = $2,"
			  " updated_at = now() AT TIME ZONE 'utc' WHERE id = $1" :
			  "UPDATE volumes SET migration_status = 'error',"
			  " updated_at = now() AT TIME ZONE 'utc' WHERE id = $1",
			  restore ? 2 : 1, p, NULL);
	return rc == DB_OK ? mig_settle(db, v->project_id, resv, old_resv, false) : rc;
}

/* The destination row: every column of the source but those Cinder's _migrate_volume_generic
 * skips (id, _name_id, status, attach_status, migration_status, use_quota, host,
 * cluster_name, availability_zone, snapshot_id, source_volid), which it sets itself. */
static const char mig_sql_insert_dest[] =
	"INSERT INTO volumes (created_at, updated_at, deleted_at, deleted, id, ec2_id, user_id,"
	" project_id, host, size, availability_zone, status, attach_status, scheduled_at,"
	" launched_at, terminated_at, display_name, display_description, provider_location,"
	" provider_auth, snapshot_id, volume_type_id, source_volid, bootable, provider_geometry,"
	" _name_id, encryption_key_id, migration_status, replication_status,"
	" replication_extended_status, replication_driver_data, consistencygroup_id,"
	" provider_id, multiattach, previous_status, cluster_name, group_id, service_uuid,"
	" shared_targets, use_quota)"
	" SELECT created_at, updated_at, deleted_at, deleted, $2, ec2_id, user_id,"
	" project_id, $3, size, $4, 'creating', 'detached', scheduled_at,"
	" launched_at, terminated_at, display_name, display_description, provider_location,"
	" provider_auth, NULL, COALESCE($5, volume_type_id), NULL, bootable, provider_geometry,"
	" NULL, encryption_key_id, 'target:' || id, replication_status,"
	" replication_extended_status, replication_driver_data, consistencygroup_id,"
	" provider_id, multiattach, previous_status, $6, group_id, service_uuid,"
	" shared_targets, false"
	" FROM volumes WHERE id = $1";

/* Cinder's Volume.create writes the metadata and admin metadata it was given (the source's)
 * for the new row. */
static const char *const mig_sql_copy_md[] = {
	"INSERT INTO volume_metadata (created_at, updated_at, deleted, volume_id, key, value)"
	" SELECT now() AT TIME ZONE 'utc', NULL, false, $2, key, value FROM volume_metadata"
	" WHERE volume_id = $1 AND deleted = false",
	"INSERT INTO volume_admin_metadata (created_at, updated_at, deleted, volume_id, key,"
	" value) SELECT now() AT TIME ZONE 'utc', NULL, false, $2, key, value"
	" FROM volume_admin_metadata WHERE volume_id = $1 AND deleted = false",
};

/* $11 is the stage the row starts in: a stage past creating has had its create_volume. */
static const char mig_sql_insert[] =
	"INSERT INTO volmgr_migrations (volume_id, new_volume_id, source_host, dest_host,"
	" new_type_id, reservations, old_reservations, orig_status, stage, create_sent,"
	" request_id, deadline, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
	" $11::text, $11::text <> '" MIG_CREATING "', $9,"
	" now() AT TIME ZONE 'utc' + make_interval(secs => $10::integer),"
	" now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc')";

/* The destination service's availability zone (Cinder's _get_service(backend['host'])):
 * the live cinder-volume row of "host@backend". VOL_NOT_FOUND when there is none. */
static int mig_dest_zone(db_conn *db, const char *dest_host, char zone[VOL_TEXT])
{
	char service[VOL_TEXT];
	PGresult *r = NULL;

	util_strlcpy(service, dest_host, sizeof(service));
	service[strcspn(service, "#")] = '\0';
	int rc = db_exec(db, "SELECT availability_zone FROM services WHERE host = $1"
			 " AND \"binary\" = 'cinder-volume' AND deleted = false LIMIT 1", 1,
			 (const char *[]){ service }, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return VOL_NOT_FOUND;
	}
	util_strlcpy(zone, PQgetvalue(r, 0, 0), VOL_TEXT);
	PQclear(r);
	return DB_OK;
}

int mig_begin(db_conn *db, struct job *job, const struct vol_row *v,
	      const struct mig_request *req)
{
	char resv[MIG_RESV_MAX] = "", old_resv[MIG_RESV_MAX] = "";
	char zone[VOL_TEXT], new_id[37], timeout[16];
	int rc;

	if (pending_extend_format_reservations(req->reservations, req->nreservations, resv,
					       sizeof(resv)) != 0 ||
	    pending_extend_format_reservations(req->old_reservations, req->nold_reservations,
					       old_resv, sizeof(old_resv)) != 0) {
		snprintf(job->reason, sizeof(job->reason), "too many reservations");
		return JOB_PERMANENT;
	}
	rc = mig_dest_zone(db, req->dest_host, zone);
	if (rc == VOL_NOT_FOUND || strcmp(req->dest_host, v->host) == 0) {
		log_error("Volume %s: cannot migrate to %s: %s", v->id, req->dest_host,
			  rc == VOL_NOT_FOUND ? "no volume service there" : "it is its own host");
		job_outcome(job, rc == VOL_NOT_FOUND ? "no_service" : "same_host");
		rc = mig_fail_source(db, v, resv, old_resv);
		return rc == DB_OK ? JOB_SKIP : rc;
	}
	if (rc != DB_OK)
		return rc;
	util_uuid4(new_id);
	rc = rec_exec(db, mig_sql_insert_dest, 6,
		      (const char *[]){ v->id, new_id, req->dest_host, zone, req->new_type_id,
					NULL }, NULL);
	for (size_t i = 0; rc == DB_OK && i < sizeof(mig_sql_copy_md) / sizeof(*mig_sql_copy_md);
	     i++)
		rc = rec_exec(db, mig_sql_copy_md[i], 2, (const char *[]){ v->id, new_id }, NULL);
	snprintf(timeout, sizeof(timeout), "%d", mconf.migration_create_volume_timeout);
	if (rc == DB_OK)
		rc = rec_exec(db, mig_sql_insert, 11,
			      (const char *[]){ v->id, new_id, mconf.service_host, req->dest_host,
						req->new_type_id, resv[0] != '\0' ? resv : NULL,
						old_resv[0] != '\0' ? old_resv : NULL,
						mig_orig_status(v), job->msg->ctx.request_id, timeout,
						MIG_CREATING },
			      NULL);
	if (rc == DB_OK)
		rc = rec_exec(db, "UPDATE volumes SET migration_status = 'migrating',"
			      " updated_at = now() AT TIME ZONE 'utc' WHERE id = $1", 1,
			      (const char *[]){ v->id }, NULL);
	if (rc == DB_OK)
		rc = mig_notify(db);
	if (rc == DB_OK) {
		log_info("Volume %s: migrating to %s through the temporary volume %s.", v->id,
			 req->dest_host, new_id);
		job_outcome(job, "migrating");
	}
	return rc;
}

int h_migrate_volume(db_conn *db, struct job *job)
{
	const struct proto_args_migrate_volume *a = &job->args.migrate_volume;
	struct vol_row v;

	int rc = vol_get(db, a->volume_id, true, &v);
	if (rc == VOL_NOT_FOUND) {
		job_outcome(job, "not_found");
		return DB_OK;
	}
	if (rc != DB_OK)
		return rc;
	/* The API marks the volume "starting" before it casts: anything else means that this
	 * message is stale (a migration already ran, or the volume was reset meanwhile). */
	if (strcmp(v.migration_status, MIG_S_STARTING) != 0) {
		log_warning("migrate_volume: volume %s has migration_status '%s', not %s; nothing "
			    "to do", v.id, v.migration_status, MIG_S_STARTING);
		job_outcome(job, "wrong_status");
		return DB_OK;
	}
	struct mig_request req = { .dest_host = a->host.host,
				   .force_host_copy = a->force_host_copy };
	rc = mig_begin(db, job, &v, &req);
	return rc == JOB_SKIP ? DB_OK : rc;
}

int h_migrate_volume_failed(db_conn *db, struct job *job)
{
	struct vol_row v;

	int rc = vol_get(db, job->args.migrate_volume.volume_id, true, &v);
	if (rc == VOL_NOT_FOUND)
		return DB_OK;
	if (rc != DB_OK)
		return rc;
	/* Only the mark this message left: a migration that started is the engine's. */
	if (strcmp(v.migration_status, MIG_S_STARTING) != 0)
		return DB_OK;
	log_error("Volume %s: migrate_volume failed for good; migration_status set to error.",
		  v.id);
	return mig_fail_source(db, &v, NULL, NULL);
}

/* ---- the live migration rows ---- */

#define MIG_COLUMNS \
	"SELECT id, volume_id, new_volume_id, source_host, dest_host, new_type_id," \
	" reservations, old_reservations, orig_status, stage, reply_q, reply_msg_id," \
	" reply_format, request_id, create_sent, reason IS NOT NULL," \
	" deadline < now() AT TIME ZONE 'utc', swap_sent," \
	" updated_at < now() AT TIME ZONE 'utc' - make_interval(secs => " MIG_REPLY_WINDOW_S ")" \
	" FROM volmgr_migrations"
#define MIG_LIVE " stage NOT IN ('done', 'failed')"

static void mig_copy(const PGresult *r, int c, char *out, size_t len)
{
	util_strlcpy(out, PQgetisnull(r, 0, c) ? "" : PQgetvalue(r, 0, c), len);
}

int mig_get(db_conn *db, const char *volume_id, bool for_update, struct mig_row *out)
{
	PGresult *r = NULL;
	int rc = db_exec(db, for_update ?
			 MIG_COLUMNS " WHERE volume_id = $1 AND" MIG_LIVE " FOR UPDATE" :
			 MIG_COLUMNS " WHERE volume_id = $1 AND" MIG_LIVE, 1,
			 (const char *[]){ volume_id }, &r);

	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return VOL_NOT_FOUND;
	}
	memset(out, 0, sizeof(*out));
	mig_copy(r, 0, out->id, sizeof(out->id));
	mig_copy(r, 1, out->volume_id, sizeof(out->volume_id));
	mig_copy(r, 2, out->new_volume_id, sizeof(out->new_volume_id));
	mig_copy(r, 3, out->source_host, sizeof(out->source_host));
	mig_copy(r, 4, out->dest_host, sizeof(out->dest_host));
	mig_copy(r, 5, out->new_type_id, sizeof(out->new_type_id));
	mig_copy(r, 6, out->reservations, sizeof(out->reservations));
	mig_copy(r, 7, out->old_reservations, sizeof(out->old_reservations));
	mig_copy(r, 8, out->orig_status, sizeof(out->orig_status));
	mig_copy(r, 9, out->stage, sizeof(out->stage));
	mig_copy(r, 10, out->reply_q, sizeof(out->reply_q));
	mig_copy(r, 11, out->reply_msg_id, sizeof(out->reply_msg_id));
	mig_copy(r, 12, out->reply_format, sizeof(out->reply_format));
	mig_copy(r, 13, out->request_id, sizeof(out->request_id));
	out->create_sent = strcmp(PQgetvalue(r, 0, 14), "t") == 0;
	out->failing = strcmp(PQgetvalue(r, 0, 15), "t") == 0;
	out->expired = strcmp(PQgetvalue(r, 0, 16), "t") == 0;
	out->swap_sent = strcmp(PQgetvalue(r, 0, 17), "t") == 0;
	out->reply_late = strcmp(PQgetvalue(r, 0, 18), "t") == 0;
	PQclear(r);
	return DB_OK;
}

int mig_list_mine(db_conn *db, char ids[][37], int max, int *n)
{
	char lim[16];
	PGresult *r = NULL;

	*n = 0;
	snprintf(lim, sizeof(lim), "%d", max);
	int rc = db_exec(db, "SELECT volume_id FROM volmgr_migrations WHERE source_host = $1 AND"
			 MIG_LIVE " AND NOT (stage = '" MIG_SWAPPING "' AND swap_sent AND"
			 " deadline >= now() AT TIME ZONE 'utc')"
			 " ORDER BY stage IN ('" MIG_COMPLETING "', '" MIG_CLEANUP "') DESC, id"
			 " LIMIT $2::integer", 2,
			 (const char *[]){ mconf.service_host, lim }, &r);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && i < max; i++)
		util_strlcpy(ids[(*n)++], PQgetvalue(r, i, 0), 37);
	PQclear(r);
	return DB_OK;
}

int mig_set_stage(db_conn *db, const struct mig_row *m, const char *stage, bool create_sent,
		  int timeout_s, const char *why)
{
	char timeout[16];

	snprintf(timeout, sizeof(timeout), "%d", timeout_s);
	int rc = rec_exec(db, "UPDATE volmgr_migrations SET stage = $2,"
			  " create_sent = create_sent OR $3::boolean,"
			  " deadline = CASE WHEN $4::integer > 0 THEN now() AT TIME ZONE 'utc' +"
			  " make_interval(secs => $4::integer) ELSE deadline END,"
			  " reason = COALESCE($5, reason),"
			  " updated_at = now() AT TIME ZONE 'utc' WHERE id = $1::bigint", 5,
			  (const char *[]){ m->id, stage, create_sent ? "true" : "false", timeout,
					    why }, NULL);
	return rc == DB_OK ? mig_notify(db) : rc;
}

int mig_set_swap_sent(db_conn *db, const struct mig_row *m)
{
	return rec_exec(db, "UPDATE volmgr_migrations SET swap_sent = true,"
			" updated_at = now() AT TIME ZONE 'utc' WHERE id = $1::bigint", 1,
			(const char *[]){ m->id }, NULL);
}

int mig_close(db_conn *db, const struct mig_row *m)
{
	return mig_set_stage(db, m, m->failing ? "failed" : "done", false, 0, NULL);
}

static const char mig_sql_mark_deleting[] =
	"UPDATE volumes SET status = 'deleting', updated_at = now() AT TIME ZONE 'utc'"
	" WHERE id = $1 AND deleted = false";

/* The inverse of update_migrated_volume's swap, $1 the source, $2 the destination: the
 * source takes back its own _name_id and provider_location, and the destination, which was
 * created without a _name_id, its own store's. */
static const char mig_sql_unswap[] =
	"UPDATE volumes t SET"
	" _name_id = CASE WHEN t.id = $1 THEN o._name_id ELSE NULL END,"
	" provider_location = o.provider_location, updated_at = now() AT TIME ZONE 'utc'"
	" FROM volumes o WHERE (t.id = $1 AND o.id = $2) OR (t.id = $2 AND o.id = $1)";

int mig_abort(db_conn *db, const struct mig_row *m, const char *why)
{
	struct vol_row src, dst;
	int rc;

	log_error("Volume %s: migration to %s failed: %s", m->volume_id, m->dest_host, why);
	/* Source first, then destination: the order every migration step locks them in. */
	int src_rc = vol_get(db, m->volume_id, true, &src);
	if (src_rc != DB_OK && src_rc != VOL_NOT_FOUND)
		return src_rc;
	rc = vol_get(db, m->new_volume_id, true, &dst);
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	bool dst_live = rc == DB_OK;
	rc = src_rc;
	if (rc == DB_OK && dst_live && strcmp(src.name_id, dst.id) == 0) {
		/* update_migrated_volume committed before the failure: the source names the
		 * destination's store, which is deleted next; it gets its own back. */
		log_warning("Volume %s: taking back its own store from %s.", src.id, dst.id);
		rc = rec_exec(db, mig_sql_unswap, 2, (const char *[]){ src.id, dst.id }, NULL);
	}
	if (rc == DB_OK)
		rc = mig_fail_source(db, &src, m->reservations, m->old_reservations);
	else if (rc == VOL_NOT_FOUND)
		rc = DB_OK;
	if (rc != DB_OK)
		return rc;
	/* A created destination is marked deleting. One that is not (creating, error) keeps its
	 * status, so that its manager's delete_volume knows that no capacity was counted for
	 * it, and is deleted all the same: a create that ran on the destination without
	 * committing (its manager killed) may have left a file. The delete_volume cast is the
	 * cleanup stage's; a create delivered after it finds the row gone. */
	bool created = dst_live && strcmp(dst.status, VOL_S_CREATING) != 0 &&
		       strcmp(dst.status, VOL_S_ERROR) != 0;
	if (created)
		rc = rec_exec(db, mig_sql_mark_deleting, 1, (const char *[]){ dst.id }, NULL);
	if (rc != DB_OK)
		return rc;
	return mig_set_stage(db, m, dst_live ? MIG_CLEANUP : "failed", false, 0, why);
}

int mig_complete(db_conn *db, const struct mig_row *m, bool error, const char *reply_q,
		 const char *msg_id, const char *fmt)
{
	int rc = rec_exec(db, "UPDATE volmgr_migrations SET reply_q = $2, reply_msg_id = $3,"
			  " reply_format = $4 WHERE id = $1::bigint", 4,
			  (const char *[]){ m->id, reply_q, msg_id, fmt }, NULL);
	if (rc != DB_OK)
		return rc;
	if (!error) {
		rc = rec_exec(db, "UPDATE volumes SET migration_status = 'completing',"
			      " updated_at = now() AT TIME ZONE 'utc' WHERE id = $1", 1,
			      (const char *[]){ m->volume_id }, NULL);
		return rc == DB_OK ? mig_set_stage(db, m, MIG_COMPLETING, false,
						   mconf.migration_update_timeout, NULL) : rc;
	}
	log_info("Volume %s: the migration's completion reports an error; removing %s.",
		 m->volume_id, m->new_volume_id);
	rc = rec_exec(db, mig_sql_mark_deleting, 1, (const char *[]){ m->new_volume_id }, NULL);
	/* Cinder's error branch sets status = previous_status whatever the status is. */
	if (rc == DB_OK)
		rc = rec_exec(db, "UPDATE volumes SET migration_status = 'error', status = $2,"
			      " updated_at = now() AT TIME ZONE 'utc' WHERE id = $1", 2,
			      (const char *[]){ m->volume_id, m->orig_status }, NULL);
	struct vol_row src;
	if (rc == DB_OK && (rc = vol_get(db, m->volume_id, false, &src)) == DB_OK)
		rc = mig_settle(db, src.project_id, m->reservations, m->old_reservations, false);
	if (rc == VOL_NOT_FOUND)
		rc = DB_OK;
	return rc == DB_OK ? mig_set_stage(db, m, MIG_CLEANUP, false, 0,
					   "the completion reported an error") : rc;
}

/*
 * finish_volume_migration's swap: every column Cinder's Volume object swaps (all of them but
 * id, provider_location, use_quota and volume_type_id, which only the source takes), with
 * its special cases: _name_id stays on the source (update_migrated_volume set it) and the
 * leftover gets the source id when it has none; migration_status goes to the leftover as
 * "deleting"; the leftover's status is "deleting" and its description names the source.
 * $1 is the source, $2 the destination.
 */
#define MIG_SWAP(col) " " col " = o." col ","
static const char mig_sql_swap[] =
	"UPDATE volumes t SET"
	MIG_SWAP("created_at") MIG_SWAP("updated_at") MIG_SWAP("deleted_at") MIG_SWAP("deleted")
	MIG_SWAP("ec2_id") MIG_SWAP("user_id") MIG_SWAP("project_id") MIG_SWAP("host")
	MIG_SWAP("size") MIG_SWAP("availability_zone") MIG_SWAP("attach_status")
	MIG_SWAP("scheduled_at") MIG_SWAP("launched_at") MIG_SWAP("terminated_at")
	MIG_SWAP("display_name") MIG_SWAP("provider_auth") MIG_SWAP("snapshot_id")
	MIG_SWAP("source_volid") MIG_SWAP("bootable") MIG_SWAP("provider_geometry")
	MIG_SWAP("encryption_key_id") MIG_SWAP("replication_status")
	MIG_SWAP("replication_extended_status") MIG_SWAP("replication_driver_data")
	MIG_SWAP("consistencygroup_id") MIG_SWAP("provider_id") MIG_SWAP("multiattach")
	MIG_SWAP("previous_status") MIG_SWAP("cluster_name") MIG_SWAP("group_id")
	MIG_SWAP("service_uuid") MIG_SWAP("shared_targets")
	" _name_id = CASE WHEN t.id = $1 THEN t._name_id ELSE COALESCE(t._name_id, $1) END,"
	" migration_status = CASE WHEN t.id = $1 THEN NULL ELSE 'deleting' END,"
	" display_description = CASE WHEN t.id = $1 THEN o.display_description"
	"  ELSE 'migration src for ' || $1 END,"
	" status = CASE WHEN t.id = $1 THEN o.status ELSE 'deleting' END,"
	" volume_type_id = CASE WHEN t.id = $1 THEN o.volume_type_id ELSE t.volume_type_id END"
	" FROM volumes o WHERE (t.id = $1 AND o.id = $2) OR (t.id = $2 AND o.id = $1)";
#undef MIG_SWAP

int mig_finish(db_conn *db, const struct mig_row *m)
{
	struct vol_row src, dst;

	/* Source first, then destination: the order every migration step locks them in. */
	int rc = vol_get(db, m->volume_id, true, &src);
	if (rc == DB_OK)
		rc = vol_get(db, m->new_volume_id, true, &dst);
	if (rc == VOL_NOT_FOUND)
		return mig_abort(db, m, "a volume of the migration disappeared before its swap");
	if (rc != DB_OK)
		return rc;
	rc = rec_exec(db, mig_sql_swap, 2, (const char *[]){ src.id, dst.id }, NULL);
	if (rc == DB_OK)
		rc = rec_exec(db, "UPDATE volume_attachment SET volume_id = $1,"
			      " updated_at = now() AT TIME ZONE 'utc'"
			      " WHERE volume_id = $2 AND deleted = false", 2,
			      (const char *[]){ src.id, dst.id }, NULL);
	/* Cinder's updates after the swap: the status of before, previous_status the one the
	 * swap brought (the destination's), success. The swap brought the destination's
	 * attach_status too, "detached" when compute did not attach it; Cinder ends "attached"
	 * all the same while an attachment is live (its legacy flow detaches and attaches the
	 * source again, its new flow's attachments are the destination's), and so does volmgr,
	 * which keeps the source's attachments rather than replaying them. */
	if (rc == DB_OK)
		rc = rec_exec(db, "UPDATE volumes SET status = $2, previous_status = $3,"
			      " migration_status = 'success', attach_status = CASE WHEN EXISTS"
			      " (SELECT 1 FROM volume_attachment WHERE volume_id = $1"
			      " AND deleted = false AND attach_status = 'attached')"
			      " THEN 'attached' ELSE attach_status END,"
			      " updated_at = now() AT TIME ZONE 'utc' WHERE id = $1", 3,
			      (const char *[]){ src.id, m->orig_status, dst.status }, NULL);
	if (rc == DB_OK)
		rc = mig_settle(db, src.project_id, m->reservations, m->old_reservations, true);
	/* A retype that migrated is notified as one done in place is (retype.c), with the
	 * volume as it ends. */
	struct vol_row after;
	if (rc == DB_OK && m->new_type_id[0] != '\0' &&
	    (rc = vol_get(db, src.id, false, &after)) == DB_OK)
		rc = rec_notify(db, "retype", &after, after.status, after.size,
				m->request_id[0] != '\0' ? m->request_id : NULL);
	if (rc == DB_OK)
		log_info("Volume %s: migrated to %s; %s now names the old backend's store and is "
			 "deleted next.", src.id, m->dest_host, dst.id);
	return rc == DB_OK ? mig_set_stage(db, m, MIG_CLEANUP, false, 0, NULL) : rc;
}

/* ---- the calls ---- */

/*
 * Adopts a migration this engine did not start, as Cinder's migrate_volume_completion
 * completes any pair it is given: one a Cinder source manager began before volmgr's manager
 * replaced it, or Cinder's own code driving the steps. When new_id names v's temporary
 * volume (migration_status "target:<v id>") and v (locked by the caller) is migrating, the
 * volmgr_migrations row is created in the stage a swap waits for its completion in, with
 * the status to restore taken from v's previous_status and no reservations (whoever started
 * the migration keeps them), and loaded into m, locked. Returns DB_OK, VOL_NOT_FOUND when
 * there is no such pair, or a negative db status.
 */
static int mig_adopt(db_conn *db, const struct job *job, const struct vol_row *v,
		     const char *new_id, struct mig_row *m)
{
	char target[sizeof(MIG_TARGET_PREFIX) + 36], timeout[16];
	struct vol_row dst;

	/* Only a migration under way: one that failed (volmgr aborted it, its destination is
	 * being deleted) or succeeded must not be completed again onto its destination. */
	if (strcmp(v->migration_status, MIG_S_MIGRATING) != 0 &&
	    strcmp(v->migration_status, MIG_S_STARTING) != 0)
		return VOL_NOT_FOUND;
	/* Source first, then destination: the order every migration step locks them in. */
	int rc = vol_get(db, new_id, true, &dst);
	if (rc != DB_OK)
		return rc;
	snprintf(target, sizeof(target), MIG_TARGET_PREFIX "%s", v->id);
	if (strcmp(dst.migration_status, target) != 0 ||
	    strcmp(dst.status, VOL_S_DELETING) == 0 || strcmp(dst.status, VOL_S_ERROR) == 0)
		return VOL_NOT_FOUND;
	snprintf(timeout, sizeof(timeout), "%d", mconf.migration_create_volume_timeout);
	rc = rec_exec(db, mig_sql_insert, 11,
		      (const char *[]){ v->id, dst.id, mconf.service_host, dst.host, NULL, NULL,
					NULL, mig_orig_status(v), job->msg->ctx.request_id,
					timeout, MIG_SWAPPING },
		      NULL);
	if (rc != DB_OK)
		return rc;
	log_info("Volume %s: adopting its migration to %s through %s, which this service did "
		 "not start.", v->id, dst.host, dst.id);
	return mig_get(db, v->id, true, m);
}

/*
 * The completion call (Cinder's migrate_volume_completion, from compute after a swap, or an
 * admin's os-migrate_volume_completion). It only records the request: the engine makes the
 * update_migrated_volume call and answers this one (save_volume_id) when the rows are
 * swapped, so that no consumer waits on another manager. A completion of a migration that
 * already succeeded changes nothing and is answered at once with the source id. A pair
 * without a migrations row is adopted (mig_adopt) and completed the same way.
 */
int h_migrate_volume_completion(db_conn *db, struct job *job)
{
	const struct proto_args_migrate_volume_completion *a =
		&job->args.migrate_volume_completion;
	struct mig_row m;
	struct vol_row v;

	/* The migration row, then the source (then the destination): the order the engine's
	 * steps lock them in, so that neither waits for the other's second lock. */
	int rc = mig_get(db, a->volume_id, true, &m);
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	bool known = rc == DB_OK;
	rc = vol_get(db, a->volume_id, true, &v);
	if (rc == VOL_NOT_FOUND)
		return job_fail(job, "VolumeNotFound", "Volume %s could not be found.",
				a->volume_id);
	if (rc != DB_OK)
		return rc;
	rc = known ? DB_OK : mig_adopt(db, job, &v, a->new_volume.id, &m);
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	if (rc == VOL_NOT_FOUND || strcmp(m.new_volume_id, a->new_volume.id) != 0 ||
	    strcmp(m.stage, MIG_COMPLETING) == 0 || strcmp(m.stage, MIG_CLEANUP) == 0) {
		/* Already completed (or being completed): the same answer, no change. */
		if (strcmp(v.migration_status, MIG_S_SUCCESS) == 0 ||
		    (rc == DB_OK && strcmp(m.new_volume_id, a->new_volume.id) == 0)) {
			job_outcome(job, "already_completed");
			job->result = pv_new_str(&job->reply_arena, v.id);
			return job->result != NULL ? DB_OK : DB_RETRY;
		}
		return job_fail(job, "InvalidVolume", "Invalid volume: volume %s is not migrating "
				"to %s.", v.id, a->new_volume.id);
	}
	/* Cinder's completion trusts its caller; volmgr knows that the destination holds a
	 * whole copy only once compute was asked to swap: before, it is empty or partly copied,
	 * and the source must not take it over. An error ends the migration in any stage. */
	if (!a->error && strcmp(m.stage, MIG_SWAPPING) != 0)
		return job_fail(job, "InvalidVolume", "Invalid volume: the migration of volume %s "
				"to %s is in stage %s, not waiting for a swap: only a completion "
				"with an error is accepted now.", v.id, a->new_volume.id, m.stage);
	rc = mig_complete(db, &m, a->error, job->msg->reply_q, job->msg->msg_id,
			  proto_format_name(job->fmt));
	if (rc != DB_OK)
		return rc;
	job->defer_reply = true;
	if (a->error)
		job_failed(job, "completion_error");
	else
		job_outcome(job, "completing");
	return DB_OK;
}

/*
 * On the destination host: Cinder's update_migrated_volume for a driver that has none of
 * its own. The source takes the destination's _name_id (or id) and provider_location, the
 * destination the source's old values of both. volume_status is not needed by the filestore.
 */
int h_update_migrated_volume(db_conn *db, struct job *job)
{
	const struct proto_args_update_migrated_volume *a = &job->args.update_migrated_volume;
	struct vol_row src, dst;

	int rc = vol_get(db, a->volume_id, true, &src);
	if (rc == DB_OK)
		rc = vol_get(db, a->new_volume.id, true, &dst);
	if (rc == VOL_NOT_FOUND)
		return job_fail(job, "VolumeNotFound", "Volume %s could not be found.",
				src.id[0] != '\0' ? a->new_volume.id : a->volume_id);
	if (rc != DB_OK)
		return rc;
	/* Only the temporary volume of src, before finish_volume_migration and before a failure
	 * marked it deleting: a stale call after the swap (the leftover's migration_status is
	 * "deleting" then) or after the abort, or a call about two unrelated volumes would
	 * trade their stores. */
	char target[sizeof(MIG_TARGET_PREFIX) + 36];
	snprintf(target, sizeof(target), MIG_TARGET_PREFIX "%s", src.id);
	if (strcmp(dst.migration_status, target) != 0 || strcmp(dst.status, VOL_S_DELETING) == 0)
		return job_fail(job, "InvalidVolume", "Invalid volume: volume %s is not the "
				"migration target of %s.", dst.id, src.id);
	/* A repeated call (another _unique_id after a lost reply or a crash of the source's
	 * engine) finds the source already named after the destination's id: the destination
	 * row is created without a _name_id, so nothing else makes them equal. Swapping again
	 * would undo the first call. The destination's own _name_id cannot tell: after the
	 * first call it holds the source's old one, which a volume migrated before has. */
	if (strcmp(src.name_id, dst.id) == 0) {
		job_outcome(job, "already_updated");
		return DB_OK;
	}
	const char *dst_name = dst.name_id[0] != '\0' ? dst.name_id : dst.id;
	const char *p[] = { src.id, dst.id };
	rc = rec_exec(db, "UPDATE volumes t SET"
		      " _name_id = CASE WHEN t.id = $1 THEN COALESCE(o._name_id, o.id)"
		      "  ELSE o._name_id END,"
		      " provider_location = o.provider_location,"
		      " updated_at = now() AT TIME ZONE 'utc'"
		      " FROM volumes o WHERE (t.id = $1 AND o.id = $2) OR (t.id = $2 AND o.id = $1)",
		      2, p, NULL);
	if (rc == DB_OK)
		log_info("Volume %s: now stored as %s (update_migrated_volume).", src.id, dst_name);
	return rc;
}
