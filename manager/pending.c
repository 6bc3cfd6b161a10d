/*
 * pending.c - the deadline sweep: an extend that waits for compute feedback longer than
 * [manager] extend_feedback_timeout is rolled back by the manager itself, so that no volume
 * stays extending and no reservation stays held because compute never answered.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/pending_extend.h"
#include "core/quota.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/periodic.h"
#include "manager/records.h"
#include "proto/names.h"

#define PENDING_BATCH 16
#define PENDING_TXN_ATTEMPTS 3

struct pending_one {
	const char *volume_id;
	bool rolled_back;
	bool postponed;
};

/* One expired pending extend, in its own transaction. The volume row is locked before the
 * pending row, in the order the handlers use, so that the sweep never deadlocks with them. */
static int pending_one_txn(db_conn *db, void *arg)
{
	struct pending_one *p = arg;
	char timeout[16];
	const char *params[] = { p->volume_id, timeout };
	enum ext_abandon_result result;
	struct vol_row v;
	PGresult *res = NULL;

	p->rolled_back = false;
	p->postponed = false;
	int rc = vol_get(db, p->volume_id, true, &v);
	if (rc == VOL_NOT_FOUND)
		return pending_extend_clear(db, p->volume_id);
	if (rc != DB_OK)
		return rc;
	snprintf(timeout, sizeof(timeout), "%d", mconf.extend_feedback_timeout);
	rc = db_exec(db, "SELECT reservations, deadline - started_at > "
		     "make_interval(secs => $2::integer) FROM volmgr_pending_extends "
		     "WHERE volume_id = $1 AND deadline < now() AT TIME ZONE 'utc' "
		     "FOR UPDATE SKIP LOCKED", 2, params, &res);
	if (rc != DB_OK || PQntuples(res) == 0) {
		PQclear(res);
		return rc;   /* completed, renewed or taken by another manager meanwhile */
	}
	/* A row postponed once already (below) has waited a whole timeout for the completion
	 * its missing keys announced: that cast was lost (dead-lettered or purged), so the
	 * extend is rolled back with the row's own reservations. Should the completion still
	 * arrive, the reservation fence makes it a no-op. */
	char orphan[VOL_TEXT];
	bool overdue = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	util_strlcpy(orphan, PQgetvalue(res, 0, 0), sizeof(orphan));
	PQclear(res);

	rc = ext_abandon(db, p->volume_id, NULL, overdue ? orphan : NULL,
			 UMSG_DETAIL_COMPUTE_FEEDBACK_TIMEOUT, NULL, &result);
	if (rc != DB_OK)
		return rc;
	switch (result) {
	case EXT_ABANDONED:
		p->rolled_back = true;
		return DB_OK;   /* the completion removed the pending row */
	case EXT_NOT_EXTENDING:
		return pending_extend_clear(db, p->volume_id);
	case EXT_NOT_OURS:
		/* An admin's completion is on its way and will clean up, or it was lost. Either
		 * way the row must leave the head of the sweep's ORDER BY deadline, or a batch of
		 * such rows would hide every later expired extend for good; the volume is looked
		 * at again after one more timeout, and rolled back then. */
		p->postponed = true;
		return rec_pending_postpone(db, p->volume_id, mconf.extend_feedback_timeout);
	}
	return DB_OK;
}

static int pending_expired(db_conn *db, char ids[][37], int max, int *n)
{
	char limit[16];
	PGresult *res = NULL;

	snprintf(limit, sizeof(limit), "%d", max);
	const char *params[] = { limit };
	int rc = db_exec(db, "SELECT volume_id FROM volmgr_pending_extends WHERE deadline < "
			 "now() AT TIME ZONE 'utc' ORDER BY deadline LIMIT $1::integer",
			 1, params, &res);
	*n = 0;
	for (int i = 0; rc == DB_OK && i < PQntuples(res) && i < max; i++) {
		snprintf(ids[i], 37, "%s", PQgetvalue(res, i, 0));
		(*n)++;
	}
	PQclear(res);
	return rc;
}

static int pending_expire_quota_txn(db_conn *db, void *arg)
{
	return quota_expire(db, arg);
}

void pending_sweep(db_conn *db)
{
	char ids[PENDING_BATCH][37];
	int n = 0, expired = 0;

	int rc = pending_expired(db, ids, PENDING_BATCH, &n);
	if (rc != DB_OK)
		log_warning("pending extends: cannot list: %s: %s", db_strerror(rc),
			    db_last_error(db));
	for (int i = 0; i < n; i++) {
		struct pending_one p = { ids[i], false, false };
		rc = db_transaction(db, pending_one_txn, &p, PENDING_TXN_ATTEMPTS);
		if (rc != DB_OK)
			log_warning("pending extend of volume %s: %s: %s", ids[i], db_strerror(rc),
				    db_last_error(db));
		else if (p.rolled_back)
			log_warning("volume %s: compute did not report back before the deadline; "
				    "the extend was rolled back", ids[i]);
		else if (p.postponed)
			log_warning("volume %s: pending extend past its deadline, but its admin "
				    "metadata keys are gone (a completion in flight or lost); looking "
				    "again in %d s", ids[i], mconf.extend_feedback_timeout);
	}
	rc = db_transaction(db, pending_expire_quota_txn, &expired, PENDING_TXN_ATTEMPTS);
	if (rc != DB_OK)
		log_warning("quota expiry failed: %s: %s", db_strerror(rc), db_last_error(db));
	else if (expired > 0)
		log_info("expired %d quota reservations", expired);
}
