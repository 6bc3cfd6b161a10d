/*
 * retype.c - retype (docs/cinder.md §16.4), Cinder's volume manager retype: a type whose specs
 * equal the old one's, or a destination on this backend, changes the type in place (the
 * filestore keeps nothing that depends on a type, so its in-place retype always succeeds);
 * otherwise, with the "on-demand" policy, the migration engine moves the volume to the
 * destination with its new type. Both quota reservation lists are committed on success and
 * rolled back on every failure, and the volume leaves "retyping" either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/quota.h"
#include "proto/names.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/migration.h"
#include "manager/records.h"

/* Cinder's volume_types_diff finds two types equal when their extra specs and their QoS
 * specs are (volmgr has no encryption types). */
static const char sql_types_equal[] =
	"SELECT (SELECT array_agg(key || '=' || COALESCE(value, '') ORDER BY key, value) "
	"FROM volume_type_extra_specs WHERE volume_type_id = $1 AND deleted = false) "
	"IS NOT DISTINCT FROM (SELECT array_agg(key || '=' || COALESCE(value, '') "
	"ORDER BY key, value) FROM volume_type_extra_specs WHERE volume_type_id = $2 "
	"AND deleted = false) AND (SELECT qos_specs_id FROM volume_types WHERE id = $1) "
	"IS NOT DISTINCT FROM t.qos_specs_id FROM volume_types t "
	"WHERE t.id = $2 AND t.deleted = false";

/* What forbids a migration: the volume's live snapshots and its replication status. */
static const char sql_migration_blockers[] =
	"SELECT (SELECT count(*) FROM snapshots WHERE volume_id = $1 AND deleted = false), "
	"COALESCE(replication_status, '') FROM volumes WHERE id = $1";

/* The in-place retype: the type, the host (pool) as the scheduler chose it, the status
 * before the retype; the snapshots follow the volume's type. */
static const char sql_retyped[] =
	"UPDATE volumes SET volume_type_id = $2, host = $3, cluster_name = $4, status = $5, "
	"updated_at = now() AT TIME ZONE 'utc' WHERE id = $1 AND deleted = false";
static const char sql_snapshots_retyped[] =
	"UPDATE snapshots SET volume_type_id = $2, updated_at = now() AT TIME ZONE 'utc' "
	"WHERE volume_id = $1 AND deleted = false";

static const char sql_migration_starting[] =
	"UPDATE volumes SET migration_status = 'starting', updated_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1 AND deleted = false";

/* The reservation lists of a retype as one array: the new type's, then the old type's. */
struct retype_resv {
	const char *all[2 * PROTO_MAX_RESERVATIONS];
	int n;
};

static void retype_resv_of(const struct proto_args_retype *a, struct retype_resv *r)
{
	r->n = 0;
	for (unsigned i = 0; i < a->nreservations; i++)
		r->all[r->n++] = a->reservations[i];
	for (unsigned i = 0; i < a->nold_reservations; i++)
		r->all[r->n++] = a->old_reservations[i];
}

/* The status a retype ends in: the one before it (Cinder's previous_status or status; a
 * volume that recorded none is available or in-use by its attachments). */
static const char *retype_status_before(const struct vol_row *v)
{
	if (v->previous_status[0] != '\0' && strcmp(v->previous_status, VOL_S_RETYPING) != 0)
		return v->previous_status;
	return v->nattachments > 0 ? VOL_S_IN_USE : VOL_S_AVAILABLE;
}

/* Cinder's _retype_error: the volume back to its status before the retype and both
 * reservation lists rolled back. Records outcome. */
static int retype_error(db_conn *db, struct job *job, const struct vol_row *v,
			const char *outcome)
{
	struct retype_resv r;
	int rc;

	retype_resv_of(&job->args.retype, &r);
	job_failed(job, outcome);
	rc = vol_set_status(db, v->id, retype_status_before(v), -1);
	if (rc == DB_OK)
		rc = quota_rollback(db, v->project_id, r.all, r.n);
	return rc;
}

/* Whether the types old_id and new_id have equal specs. *exists is false when the new type is
 * gone. */
static int retype_types_equal(db_conn *db, const char *old_id, const char *new_id,
			      bool *exists, bool *equal)
{
	const char *params[2] = { old_id[0] != '\0' ? old_id : NULL, new_id };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_types_equal, 2, params, &res);

	*exists = *equal = false;
	if (rc != DB_OK)
		return rc;
	*exists = PQntuples(res) > 0;
	*equal = *exists && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return DB_OK;
}

/* Cinder's _is_our_backend: host's "host@backend" (the pool stripped) is this service. */
static bool retype_is_our_backend(const char *host)
{
	size_t n = strcspn(host, "#");

	return n == strlen(mconf.service_host) && strncmp(host, mconf.service_host, n) == 0;
}

/*
 * The type changed without moving the data; both lists committed, volume.retype notified.
 * The host becomes the destination's when it is this backend (another pool of it). Types with
 * equal specs are retyped wherever the destination is; Cinder then records the destination as
 * the host although the data did not move, volmgr keeps the host where the data is.
 */
static int retype_in_place(db_conn *db, struct job *job, const struct vol_row *v, bool ours)
{
	const struct proto_args_retype *a = &job->args.retype;
	const char *status = retype_status_before(v);
	const char *params[5] = { v->id, a->new_type_id, ours ? a->host.host : v->host,
				  ours ? a->host.cluster_name :
				  v->cluster_name[0] != '\0' ? v->cluster_name : NULL, status };
	struct retype_resv r;
	struct vol_row after;
	int rc;

	retype_resv_of(a, &r);
	rc = rec_exec(db, sql_retyped, 5, params, NULL);
	if (rc == DB_OK)
		rc = rec_exec(db, sql_snapshots_retyped, 2, params, NULL);
	if (rc == DB_OK)
		rc = quota_commit(db, v->project_id, r.all, r.n);
	if (rc == DB_OK)
		rc = vol_get(db, v->id, false, &after);
	if (rc == DB_OK)
		rc = rec_notify(db, "retype", &after, status, after.size, job->msg->ctx.request_id);
	if (rc == DB_OK) {
		job_outcome(job, "retyped");
		log_info("Retype volume completed successfully (volume %s, type %s -> %s, %s).",
			 v->id, v->volume_type_id, a->new_type_id, status);
	}
	return rc;
}

/* The refusals Cinder's retype makes before it migrates: snapshots, replication. Sets
 * *refusal to the outcome, or NULL when the migration may go. */
static int retype_may_migrate(db_conn *db, const struct vol_row *v, const char **refusal)
{
	const char *params[1] = { v->id };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_migration_blockers, 1, params, &res);

	*refusal = NULL;
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) > 0) {
		const char *rep = PQgetvalue(res, 0, 1);

		if (strtol(PQgetvalue(res, 0, 0), NULL, 10) > 0) {
			log_error("Volume %s: Volume must not have snapshots.", v->id);
			*refusal = "has_snapshots";
		} else if (rep[0] != '\0' && strcmp(rep, "disabled") != 0 &&
			   strcmp(rep, "not-capable") != 0) {
			log_error("Volume %s: Volume must not be replicated.", v->id);
			*refusal = "replicated";
		}
	}
	PQclear(res);
	return DB_OK;
}

/* The volume leaves for the destination: migration_status "starting", then the engine. */
static int retype_migrate(db_conn *db, struct job *job, struct vol_row *v)
{
	const struct proto_args_retype *a = &job->args.retype;
	const char *params[1] = { v->id };
	struct mig_request req = {
		.dest_host = a->host.host,
		.new_type_id = a->new_type_id,
		.reservations = a->reservations,
		.nreservations = (int)a->nreservations,
		.old_reservations = a->old_reservations,
		.nold_reservations = (int)a->nold_reservations,
		.force_host_copy = false,
	};
	const char *refusal;
	int rc = retype_may_migrate(db, v, &refusal);

	if (rc != DB_OK)
		return rc;
	if (refusal != NULL)
		return retype_error(db, job, v, refusal);
	rc = rec_exec(db, sql_migration_starting, 1, params, NULL);
	if (rc != DB_OK)
		return rc;
	snprintf(v->migration_status, sizeof(v->migration_status), "starting");
	job_outcome(job, "migrating");
	log_info("volume %s: retype to %s needs a migration to %s", v->id, a->new_type_id,
		 a->host.host);
	rc = mig_begin(db, job, v, &req);
	/* A refusal has already failed the migration and the retype in this transaction (the
	 * status restored, both lists rolled back), which must commit. */
	return rc == JOB_SKIP ? DB_OK : rc;
}

int h_retype(db_conn *db, struct job *job)
{
	const struct proto_args_retype *a = &job->args.retype;
	struct retype_resv r;
	struct vol_row v;
	bool stale, exists, equal;

	retype_resv_of(a, &r);
	int rc = job_load_volume(db, job, a->volume_id, VOL_S_RETYPING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = ext_stale(db, job, &v, r.all, (unsigned)r.n, &stale);
	if (rc != DB_OK || stale)
		return rc;
	rc = retype_types_equal(db, v.volume_type_id, a->new_type_id, &exists, &equal);
	if (rc != DB_OK)
		return rc;
	if (!exists) {
		log_error("Volume %s: volume type %s could not be found.", v.id, a->new_type_id);
		return retype_error(db, job, &v, "type_not_found");
	}
	bool ours = retype_is_our_backend(a->host.host);
	if (equal || ours)
		return retype_in_place(db, job, &v, ours);
	if (a->migration_policy == NULL || strcmp(a->migration_policy, "never") == 0) {
		/* Cinder raises VolumeMigrationFailed, which for a cast is a log line. */
		log_error("Volume %s: Volume migration failed: Retype requires migration but is "
			  "not allowed.", v.id);
		return retype_error(db, job, &v, "migration_not_allowed");
	}
	return retype_migrate(db, job, &v);
}

/* Dead-lettered for good: nothing stays retyping, and no reservation stays open. */
int h_retype_failed(db_conn *db, struct job *job)
{
	struct retype_resv r;
	struct vol_row v;
	bool stale;

	retype_resv_of(&job->args.retype, &r);
	int rc = job_load_volume(db, job, job->args.retype.volume_id, VOL_S_RETYPING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = ext_stale(db, job, &v, r.all, (unsigned)r.n, &stale);
	if (rc != DB_OK || stale)
		return rc;
	if (v.migration_status[0] != '\0' && strcmp(v.migration_status, "starting") != 0 &&
	    strcmp(v.migration_status, "error") != 0 && strcmp(v.migration_status, "success") != 0)
		return DB_OK; /* a migration under way owns the volume now */
	return retype_error(db, job, &v, "failed");
}
