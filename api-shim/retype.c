/*
 * retype.c - os-retype (docs/cinder.md §16.4): Cinder's API retype and, since volmgr has no
 * scheduler, the scheduler's choice of the backend that will hold the volume with its new
 * type, in the one transaction that publishes the retype cast to the volume's own host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/quota.h"
#include "core/snapshot.h"
#include "core/volume.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"
#include "api-shim/schedule.h"
#include "api-shim/shim.h"
#include "api-shim/vtype.h"

/* The policy a retype that changes multiattach to true needs as well (Cinder's
 * MULTIATTACH_POLICY). */
static const struct policy multiattach_policy = { "volume:multiattach", POLICY_ADMIN_OR_OWNER };

const char *const retype_migration_policies[] = { "on-demand", "never", NULL };

/*
 * Cinder's conditional update of retype: the volume available or in-use, no migration under
 * way (AVAILABLE_MIGRATION_STATUS: none, deleting, error, success), in no group or
 * consistency group, and of another type. volmgr has no QoS specs, so the QoS filter of an
 * in-use volume always passes.
 */
static const char sql_mark_retyping[] =
	"UPDATE volumes SET previous_status = status, status = 'retyping', "
	"updated_at = now() AT TIME ZONE 'utc' WHERE id = $1 AND deleted = false "
	"AND status IN ('available', 'in-use') "
	"AND (migration_status IS NULL OR migration_status IN ('deleting', 'error', 'success')) "
	"AND COALESCE(consistencygroup_id, '') = '' AND COALESCE(group_id, '') = '' "
	"AND volume_type_id IS DISTINCT FROM $2";

static const char sql_set_multiattach[] =
	"UPDATE volumes SET multiattach = $2::boolean WHERE id = $1 AND deleted = false";

/* Cinder's multiattach rules: a retype that changes multiattach only for an available volume,
 * and to multiattach only under the multiattach policy. Returns 0, or -1 with a fault set. */
static int retype_multiattach(struct action_ctx *a, const struct vol_type *type)
{
	const struct vol_row *row = &a->vol->row;
	struct shim_request *r = a->t.r;

	if (row->multiattach == type->multiattach)
		return 0;
	if (strcmp(row->status, VOL_S_AVAILABLE) != 0) {
		fault_reply(r, 400, "Invalid input received: Invalid volume_type passed, retypes "
			    "affecting multiattach are only allowed on available volumes, the "
			    "specified volume however currently has a status of: %s.", row->status);
		return -1;
	}
	if (type->multiattach && !policy_enforce(r, &multiattach_policy, row->project_id))
		return -1;
	return 0;
}

/* Room for retype_deltas: volumes_<type>, gigabytes_<type>, snapshots_<type>. */
#define RETYPE_DELTAS 3

/* The per-type deltas of one volume of type_name, times sign (Cinder's
 * get_volume_type_reservation with reserve_vol_type_only): volumes_<type> and
 * gigabytes_<type>, the latter with the sizes of the volume's snapshots, and snapshots_<type>
 * when it has snapshots. The snapshots follow the volume's type (the manager retypes them), so
 * their per-type usages move with it. Returns how many it filled in out (0 for a volume
 * without a type). */
static int retype_deltas(const char *type_name, const struct vol_row *row,
			 const struct snap_counts *snaps, int sign,
			 struct quota_delta out[RETYPE_DELTAS])
{
	struct quota_delta all[QUOTA_VOLUME_DELTAS];
	int gib = row->size + (int)snaps->quota_gigabytes;
	int n = type_name[0] != '\0' ? quota_volume_deltas(type_name, sign, sign * gib, all) : 0;

	/* The first two are the plain volumes and gigabytes, which a retype does not change. */
	if (n <= 2)
		return 0;
	out[0] = all[2];
	out[1] = all[3];
	if (snaps->quota_count == 0 ||
	    quota_snapshot_deltas(type_name, sign * (int)snaps->quota_count, 0, all) <= 2)
		return 2;
	out[2] = all[2];
	return 3;
}

/*
 * Reserves the new type's quota (into a->reservations[0..*nnew)) and the old type's negative
 * one (after it, *nold), for the volume's project. Returns DB_OK, TXN_FAULT with Cinder's 413
 * set, or a negative db status.
 */
static int retype_reserve(db_conn *db, struct action_ctx *a, const struct vol_type *type,
			  int *nnew, int *nold)
{
	const struct vol_row *row = &a->vol->row;
	struct quota_delta deltas[RETYPE_DELTAS];
	struct snap_counts snaps;
	struct quota_over over;
	int rc;

	rc = snap_count_of_volume(db, row->id, row->project_id, &snaps);
	if (rc != DB_OK)
		return rc;
	*nnew = retype_deltas(type->name, row, &snaps, 1, deltas);
	memset(&over, 0, sizeof(over));
	rc = *nnew > 0 ? quota_reserve(db, &shim_quota_defaults, row->project_id, deltas, *nnew,
				       a->reservations, &over) : DB_OK;
	if (rc == QUOTA_OVER || rc == QUOTA_OVERFLOW) {
		/* Cinder's process_reserve_over_quota, for resource "volumes". */
		if (strncmp(over.resource, QUOTA_RES_GIGABYTES, strlen(QUOTA_RES_GIGABYTES)) == 0)
			fault_quota(a->t.r, "VolumeSizeExceedsAvailableQuota", "Requested volume or "
				    "snapshot exceeds allowed %s quota. Requested %dG, quota is %ldG "
				    "and %ldG has been consumed.", over.resource, row->size,
				    over.limit, over.in_use + over.reserved);
		else
			fault_quota(a->t.r, "VolumeLimitExceeded", "Maximum number of volumes allowed "
				    "(%ld) exceeded for quota '%s'.", over.limit, over.resource);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return rc;
	*nold = retype_deltas(row->volume_type_name, row, &snaps, -1, deltas);
	if (*nold == 0)
		return DB_OK;
	return quota_reserve(db, &shim_quota_defaults, row->project_id, deltas, *nold,
			     a->reservations + *nnew, NULL);
}

/* Sets the volume retyping (previous_status = its status) if Cinder's conditions hold.
 * Returns DB_OK, VOL_CONFLICT when they do not, or a negative db status. */
static int retype_mark(db_conn *db, const char *volume_id, const char *type_id)
{
	const char *params[2] = { volume_id, type_id };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_mark_retyping, 2, params, &res);

	if (rc != DB_OK)
		return rc;
	rc = strtol(PQcmdTuples(res), NULL, 10) > 0 ? DB_OK : VOL_CONFLICT;
	PQclear(res);
	return rc;
}

/* The backend part of a volume host "host@backend#pool" into out ("" when it has none). */
static void retype_backend_of(const char *host, char *out, size_t outlen)
{
	const char *at = strchr(host, '@');
	size_t n;

	out[0] = '\0';
	if (at == NULL)
		return;
	n = strcspn(at + 1, "#");
	if (n < outlen)
		snprintf(out, outlen, "%.*s", (int)n, at + 1);
}

/*
 * The scheduler's find_retype_backend as volmgr has it: the volume's own backend when the new
 * type accepts it (the type names no backend, or the volume's), else, with the "on-demand"
 * policy only, a live enabled backend of the type's name in the volume's zone. Writes the
 * destination host into dest, "" when there is none (Cinder's NoValidBackend). Returns DB_OK
 * or a negative db status.
 */
static int retype_destination(db_conn *db, const struct vol_row *row,
			      const struct vol_type *type, bool on_demand, char *dest,
			      size_t destlen)
{
	char backend[VOL_TEXT];

	dest[0] = '\0';
	retype_backend_of(row->host, backend, sizeof(backend));
	if (backend[0] == '\0')
		return DB_OK;
	if (!type->has_backend_name || strcmp(type->backend_name, backend) == 0) {
		util_strlcpy(dest, row->host, destlen);
		return DB_OK;
	}
	if (!on_demand)
		return DB_OK;
	return schedule_pick_named(db, row->availability_zone, type->backend_name, dest, destlen);
}

/*
 * The scheduler's retype failure (_retype_volume_set_error): the volume back to its previous
 * status and the reservations rolled back. Cinder's scheduler rolls back the new type's only
 * and leaves the old type's to expire; volmgr rolls both back, so that nothing stays open.
 * Cinder creates no user message for it. The API has already answered 202 in Cinder (the
 * scheduler fails after), and so does volmgr.
 */
static int retype_unscheduled(db_conn *db, struct action_ctx *a, const struct vol_type *type,
			      int nnew, int nold)
{
	const struct vol_row *row = &a->vol->row;
	const char *uuids[PROTO_MAX_RESERVATIONS];
	int rc;

	log_error("Failed to schedule_retype: No valid backend was found. No valid backends for "
		  "volume %s with type %s", row->id, type->id);
	for (int i = 0; i < nnew + nold; i++)
		uuids[i] = a->reservations[i];
	rc = vol_set_status(db, row->id, row->status, -1);
	if (rc == DB_OK)
		rc = quota_rollback(db, row->project_id, uuids, nnew + nold);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, row->id);
	a->skip_cast = true;
	return DB_OK;
}

int retype_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	struct shim_request *r = a->t.r;
	struct proto_args_retype *args = &a->rpc.retype;
	const char *name = action_arg(a, "new_type")->s;
	const char *policy = action_arg(a, "migration_policy")->s;
	const char *multiattach[2] = { row->id, NULL };
	struct vol_type type;
	int nnew = 0, nold = 0, rc;

	rc = vol_type_find(db, name, &type);
	if (rc == VOL_NOT_FOUND) {
		log_error("Invalid volume_type passed: %s.", name);
		fault_reply(r, 400, "Invalid input received: Invalid volume_type passed: %s.", name);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	if (vtype_check_size(r, &type, row->size) != 0 || retype_multiattach(a, &type) != 0)
		return TXN_FAULT;
	rc = retype_reserve(db, a, &type, &nnew, &nold);
	if (rc != DB_OK)
		return rc == TXN_FAULT ? rc : txn_fail(&a->t, rc, NULL);
	rc = retype_mark(db, row->id, type.id);
	if (rc == VOL_CONFLICT) {
		/* The transaction's rollback takes the reservations back, as Cinder's does. */
		fault_reply(r, 400, "Invalid volume: Retype needs volume to be in available or "
			    "in-use state, not be part of an active migration or a consistency "
			    "group, requested type has to be different that the one from the "
			    "volume, and for in-use volumes front-end qos specs cannot change.");
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, row->id);

	rc = retype_destination(db, row, &type, policy != NULL && strcmp(policy, "on-demand") == 0,
				a->dest_host, sizeof(a->dest_host));
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	if (a->dest_host[0] == '\0')
		return retype_unscheduled(db, a, &type, nnew, nold);

	multiattach[1] = type.multiattach ? "true" : "false";
	rc = db_exec(db, sql_set_multiattach, 2, multiattach, NULL);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	util_strlcpy(a->type_id, type.id, sizeof(a->type_id));
	args->new_type_id = a->type_id;
	args->host.host = a->dest_host;
	args->host.cluster_name = NULL;
	args->migration_policy = policy;
	for (int i = 0; i < nnew; i++)
		args->reservations[i] = a->reservations[i];
	args->nreservations = (unsigned)nnew;
	for (int i = 0; i < nold; i++)
		args->old_reservations[i] = a->reservations[nnew + i];
	args->nold_reservations = (unsigned)nold;
	log_info("retyping volume %s from type %s to %s on %s (%s)", row->id,
		 row->volume_type_id, type.id, a->dest_host, policy != NULL ? policy : "never");
	return DB_OK;
}
