/*
 * extend.c - os-extend and os-extend_volume_completion (docs/cinder.md §3.1, §3.2, §4.2,
 * §4.3), each in one transaction that ends with a confirmed cast.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "core/pending_extend.h"
#include "core/quota.h"
#include "core/settings.h"
#include "core/volume.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/cast.h"
#include "api-shim/fault.h"
#include "api-shim/shim.h"
#include "api-shim/vtype.h"

/* ---- os-extend ---- */

/* Cinder's 3.42 rule: an in-use volume goes through extend_attached_volume from 3.42 on. */
static bool extend_attached(const struct action_ctx *a)
{
	return req_ver_ge(a->t.r, 3, 42) && strcmp(a->vol->row.status, VOL_S_IN_USE) == 0;
}

const struct policy *extend_policy(const struct action_ctx *a)
{
	static const struct policy attached = { "volume:extend_attached_volume",
						POLICY_ADMIN_OR_OWNER };

	return extend_attached(a) ? &attached : &a->def->policy;
}

int extend_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	struct shim_request *r = a->t.r;
	const char *expected = extend_attached(a) ? VOL_S_IN_USE : VOL_S_AVAILABLE;
	struct quota_delta deltas[2];
	char (*uuids)[37] = a->reservations;
	struct proto_args_extend_volume *args = &a->rpc.extend_volume;
	struct quota_over over;
	struct vol_type type;
	char resv_json[VOL_TEXT];
	int new_size = action_arg(a, "new_size")->i, inc, ndeltas = 1, rc;
	long limit;

	inc = new_size - row->size;
	if (inc <= 0) {
		fault_reply(r, 400, "Invalid input received: New size for extend must be greater "
			    "than current size. (current: %d, extended: %d).", row->size, new_size);
		return TXN_FAULT;
	}
	rc = vtype_for_volume(db, row->volume_type_id, &type);
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return txn_fail(&a->t, rc, NULL);
	if (rc == DB_OK && vtype_check_size(r, &type, new_size) != 0)
		return TXN_FAULT;
	rc = vol_cas_status(db, row->id, &expected, 1, VOL_S_EXTENDING, row->status);
	if (rc == VOL_CONFLICT) {
		fault_reply(r, 400, "Invalid volume: Volume %s status must be '{'status': '%s'}' to "
			    "extend, currently %s.", row->id, expected, row->status);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, row->id);

	/* Per-volume limit, for the caller's project as Cinder's limit_check does. */
	rc = quota_get_limit(db, &shim_quota_defaults, r->auth.project_id,
			     QUOTA_RES_PER_VOLUME_GIGABYTES, &limit);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	if (limit >= 0 && new_size > limit) {
		fault_quota(r, "VolumeSizeExceedsLimit", "Requested volume size %dG is larger than "
			    "maximum allowed limit %ldG.", new_size, limit);
		return TXN_FAULT;
	}

	/* gigabytes and gigabytes_<type>, reserved for the volume's project. */
	memset(deltas, 0, sizeof(deltas));
	util_strlcpy(deltas[0].resource, QUOTA_RES_GIGABYTES, sizeof(deltas[0].resource));
	deltas[0].delta = inc;
	if (row->volume_type_name[0] != '\0' &&
	    quota_type_resource(QUOTA_RES_GIGABYTES, row->volume_type_name, deltas[1].resource,
				sizeof(deltas[1].resource)) == 0) {
		deltas[1].delta = inc;
		ndeltas = 2;
	}
	memset(&over, 0, sizeof(over));
	rc = quota_reserve(db, &shim_quota_defaults, row->project_id, deltas, ndeltas, uuids,
			   &over);
	if (rc == QUOTA_OVER || rc == QUOTA_OVERFLOW) {
		fault_quota(r, "VolumeSizeExceedsAvailableQuota", "Requested volume or snapshot "
			    "exceeds allowed gigabytes quota. Requested %dG, quota is %ldG and %ldG "
			    "has been consumed.", inc, over.limit, over.in_use + over.reserved);
		return TXN_FAULT;
	}
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);

	for (int i = 0; i < ndeltas; i++)
		args->reservations[i] = uuids[i];
	args->nreservations = (unsigned)ndeltas;
	args->new_size = new_size;
	/* The pending extend is recorded with its reservations now, so that a reset before the
	 * manager has seen the cast gives the quota back, and the manager's fence then makes
	 * the cast a no-op. It is due when the reservations expire: the cast cannot commit
	 * them after that anyway. */
	rc = pending_extend_format_reservations(args->reservations, ndeltas, resv_json,
						sizeof(resv_json));
	if (rc == 0)
		rc = pending_extend_record(db, row->id, row->project_id, new_size, resv_json, NULL,
					   settings.reservation_expire);
	else
		rc = DB_REJECT;
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	log_info("extending volume %s from %dG to %dG (%s)", row->id, row->size, new_size,
		 expected);
	return DB_OK;
}

/* ---- os-extend_volume_completion ---- */

#define MSG_MD_MALFORMED "Invalid volume: Required volume admin metadata is malformed or missing."

/*
 * The pending extend's admin metadata: extend_new_size (an integer) and extend_reservations
 * (a JSON list of reservation uuids, into uuids[0..*n)), checked in Cinder's order. Returns
 * DB_OK, TXN_FAULT with a 400 set, or a negative status.
 */
static int completion_metadata(db_conn *db, struct action_ctx *a, long *new_size,
			       char uuids[][37], int *n)
{
	const struct vol_row *row = &a->vol->row;
	char size_text[VOL_TEXT], resv_text[VOL_TEXT];
	int parsed = PENDING_EXTEND_NOT_JSON, rc;

	*n = 0;
	rc = vol_admin_md_get(db, row->id, ADMIN_MD_EXTEND_NEW_SIZE, size_text, sizeof(size_text));
	if (rc == DB_OK)
		rc = vol_admin_md_get(db, row->id, ADMIN_MD_EXTEND_RESERVATIONS, resv_text,
				      sizeof(resv_text));
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return txn_fail(&a->t, rc, NULL);
	if (rc == DB_OK)
		parsed = pending_extend_parse_reservations(resv_text, uuids, PROTO_MAX_RESERVATIONS,
							   n);
	if (rc == VOL_NOT_FOUND || util_parse_long(size_text, 1, INT_MAX, new_size) != 0 ||
	    parsed == PENDING_EXTEND_NOT_JSON) {
		fault_reply(a->t.r, 400, MSG_MD_MALFORMED);
		return TXN_FAULT;
	}
	if (*new_size <= row->size) {
		fault_reply(a->t.r, 400, "Invalid volume: The target volume size provided in volume "
			    "admin metadata %ld is smaller or equal to the current volume size.",
			    *new_size);
		return TXN_FAULT;
	}
	if (parsed == PENDING_EXTEND_NOT_LIST) {
		fault_reply(a->t.r, 400, "Invalid volume: The stored quota reservations for extending "
			    "the volume must be in a list format.");
		return TXN_FAULT;
	}
	/* Cinder does not look at the elements; the cast needs them as uuid strings. */
	if (parsed != PENDING_EXTEND_OK) {
		fault_reply(a->t.r, 400, MSG_MD_MALFORMED);
		return TXN_FAULT;
	}
	return DB_OK;
}

/*
 * The volume row is locked (actions.c loads it FOR UPDATE) and both keys are deleted in the
 * same transaction as the cast, so of two concurrent completions the second waits for the
 * first and then finds the keys gone (400). Unlike upstream, which deletes the keys before the
 * cast, a failed publish rolls the deletion back: the keys stay and the completion can be
 * sent again.
 */
int completion_body(db_conn *db, struct action_ctx *a)
{
	const struct vol_row *row = &a->vol->row;
	struct proto_args_extend_volume_completion *args = &a->rpc.extend_volume_completion;
	char (*uuids)[37] = a->reservations;
	long new_size;
	int n, rc;

	if (strcmp(row->status, VOL_S_EXTENDING) != 0) {
		fault_reply(a->t.r, 400, "Invalid volume: Volume is not being extended.");
		return TXN_FAULT;
	}
	rc = completion_metadata(db, a, &new_size, uuids, &n);
	if (rc != DB_OK)
		return rc;
	rc = pending_extend_clear_keys(db, row->id);
	if (rc != DB_OK)
		return txn_fail(&a->t, rc, NULL);
	for (int i = 0; i < n; i++)
		args->reservations[i] = uuids[i];
	args->nreservations = (unsigned)n;
	args->new_size = (int)new_size;
	args->error = action_arg(a, "error")->b;
	log_info("completing the extend of volume %s to %ldG (error=%s)", row->id, new_size,
		 args->error ? "true" : "false");
	return DB_OK;
}
