/*
 * extend.c - extend_volume and extend_volume_completion (docs/cinder.md §2.2, §2.3),
 * with the compute-feedback loop Cinder's spec planned and never merged (§2.2 "Spec plan").
 *
 * The feedback loop in three steps, each one durable before the next starts:
 *   1. transaction: admin metadata extend_new_size / extend_reservations and a
 *      volmgr_pending_extends row with a deadline are committed with the message id;
 *   2. after the commit, the volume-extended event goes to compute (no lock held, so that
 *      compute's os-extend_volume_completion can never race a transaction still open);
 *   3. if compute could not be told, a second transaction rolls the extend back, but only
 *      if the keys are still ours. If the manager dies between the steps, the deadline sweep
 *      (pending.c) rolls the extend back: a volume never stays extending for ever.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "core/pending_extend.h"
#include "core/quota.h"
#include "core/settings.h"
#include "core/usermsg.h"
#include "manager/finalize_sql.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/records.h"
#include "proto/names.h"

#define EXT_ERR_MAX 512
/* Tries of the short transactions after a compute call. */
#define EXT_TXN_ATTEMPTS 3

/* The request id of the message, for user messages and notifications. */
static const char *job_request_id(const struct job *job)
{
	return job->msg->ctx.request_id;
}

int ext_complete(db_conn *db, const struct vol_row *v, int new_size,
		 const char *const *reservations, int nreservations, bool error,
		 const char *request_id)
{
	int rc;

	if (!error) {
		/* The one finalization (finalize_sql.h), with arrays of one element; it clears
		 * the pending extend itself. */
		rc = fin_one(db, v, new_size, reservations, nreservations, request_id);
		if (rc == DB_OK)
			log_info("Extend volume completed successfully (volume %s, %d -> %d GiB, %s).",
				 v->id, v->size, new_size,
				 v->nattachments > 0 ? VOL_S_IN_USE : VOL_S_AVAILABLE);
		return rc;
	}
	log_error("Failed to extend volume %s to %d GiB.", v->id, new_size);
	rc = usermsg_create(db, v->project_id, request_id, v->id, UMSG_ACTION_EXTEND_VOLUME,
			    UMSG_DETAIL_DRIVER_FAILED_EXTEND, settings.message_ttl);
	if (rc == DB_OK)
		rc = vol_set_status(db, v->id, VOL_S_ERROR_EXTENDING, -1);
	if (rc == DB_OK)
		rc = quota_rollback(db, v->project_id, reservations, nreservations);
	if (rc == DB_OK)
		rc = pending_extend_clear(db, v->id);
	return rc;
}

/* Parses a stored extend_reservations value into out. Reservations that cannot be read are
 * left alone: they expire on their own (reservation_expire). */
static int ext_parse_reservations(const char *volume_id, const char *text,
				  char out[][37], const char **ptrs)
{
	int n;

	if (pending_extend_parse_reservations(text, out, PROTO_MAX_RESERVATIONS, &n) !=
	    PENDING_EXTEND_OK)
		log_warning("volume %s: extend_reservations '%s' is not a JSON list of uuids; "
			    "using the %d readable ones", volume_id, text, n);
	for (int i = 0; i < n; i++)
		ptrs[i] = out[i];
	return n;
}

int ext_abandon(db_conn *db, const char *volume_id, const char *expect_reservations,
		const char *orphan_reservations, const char *detail_id, const char *request_id,
		enum ext_abandon_result *result)
{
	struct vol_row v;
	char stored[VOL_TEXT], size_text[32];
	char uuids[PROTO_MAX_RESERVATIONS][37];
	const char *ptrs[PROTO_MAX_RESERVATIONS];
	long new_size = 0;

	*result = EXT_NOT_EXTENDING;
	int rc = vol_get(db, volume_id, true, &v);
	if (rc == VOL_NOT_FOUND)
		return DB_OK;
	if (rc != DB_OK)
		return rc;
	if (strcmp(v.status, VOL_S_EXTENDING) != 0)
		return DB_OK;
	*result = EXT_NOT_OURS;
	rc = vol_admin_md_get(db, volume_id, ADMIN_MD_EXTEND_RESERVATIONS, stored, sizeof(stored));
	if (rc == VOL_NOT_FOUND && orphan_reservations != NULL) {
		util_strlcpy(stored, orphan_reservations, sizeof(stored));
		rc = DB_OK;
	}
	if (rc == VOL_NOT_FOUND)
		return DB_OK;
	if (rc != DB_OK)
		return rc;
	if (expect_reservations != NULL && strcmp(stored, expect_reservations) != 0)
		return DB_OK;
	rc = vol_admin_md_get(db, volume_id, ADMIN_MD_EXTEND_NEW_SIZE, size_text,
			      sizeof(size_text));
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	if (rc != DB_OK || util_parse_long(size_text, 1, INT32_MAX, &new_size) != 0)
		new_size = v.size;

	*result = EXT_ABANDONED;
	int n = ext_parse_reservations(volume_id, stored, uuids, ptrs);
	rc = usermsg_create(db, v.project_id, request_id, v.id, UMSG_ACTION_EXTEND_VOLUME,
			    detail_id, settings.message_ttl);
	if (rc != DB_OK)
		return rc;
	return ext_complete(db, &v, (int)new_size, ptrs, n, true, request_id);
}

/* The distinct instances of v's attachments (Glance store attachments have none). */
static int ext_servers(const struct vol_row *v, char out[][37])
{
	int n = 0;
	int na = v->nattachments < VOL_MAX_ATTACHMENTS ? v->nattachments : VOL_MAX_ATTACHMENTS;

	for (int i = 0; i < na; i++) {
		const char *s = v->attachments[i].instance_uuid;
		bool seen = s[0] == '\0';
		for (int j = 0; j < n && !seen; j++)
			seen = strcmp(out[j], s) == 0;
		if (!seen && n < NOVA_MAX_SERVERS)
			memcpy(out[n++], s, 37);
	}
	return n;
}

/* The live attachments of v that belong to an instance. */
static int ext_instance_attachments(const struct vol_row *v)
{
	int n = 0;
	int na = v->nattachments < VOL_MAX_ATTACHMENTS ? v->nattachments : VOL_MAX_ATTACHMENTS;

	for (int i = 0; i < na; i++)
		n += v->attachments[i].instance_uuid[0] != '\0';
	return n + (v->nattachments - na); /* rows beyond the array: count them as instances */
}

/* The reservations of the message as the JSON list the admin metadata stores (Python's
 * json.dumps layout: ["a", "b"]). Returns 0, or -1 when it does not fit the column. */
/* The driver cannot grow this attached volume: record the pending extend and leave the
 * asking to h_extend_after, or fail the extend when the spec's conditions do not hold. */
static int ext_wait_for_compute(db_conn *db, struct job *job, const struct vol_row *v)
{
	const struct proto_args_extend_volume *a = &job->args.extend_volume;
	const char *const *res = a->reservations;
	struct job_after *after = &job->after;
	char size[16];
	int rc;

	int ninst = ext_instance_attachments(v);
	if (ninst != 1) {
		log_warning("volume %s: the driver needs compute feedback, which takes exactly one "
			    "attached instance; the volume has %d", v->id, ninst);
		job_failed(job, "feedback_impossible");
		return ext_complete(db, v, a->new_size, res, a->nreservations, true,
				    job_request_id(job));
	}
	if (pending_extend_format_reservations(res, (int)a->nreservations, after->reservations,
					       sizeof(after->reservations)) != 0) {
		log_warning("volume %s: %u reservations do not fit the admin metadata", v->id,
			    a->nreservations);
		job_failed(job, "feedback_impossible");
		return ext_complete(db, v, a->new_size, res, a->nreservations, true,
				    job_request_id(job));
	}
	after->nservers = ext_servers(v, after->servers);
	snprintf(size, sizeof(size), "%d", a->new_size);
	rc = vol_admin_md_set(db, v->id, ADMIN_MD_EXTEND_NEW_SIZE, size);
	if (rc == DB_OK)
		rc = vol_admin_md_set(db, v->id, ADMIN_MD_EXTEND_RESERVATIONS, after->reservations);
	if (rc == DB_OK)
		rc = pending_extend_record(db, v->id, v->project_id, a->new_size,
					   after->reservations, after->servers[0],
					   mconf.extend_feedback_timeout);
	if (rc != DB_OK)
		return rc;
	after->kind = JOB_AFTER_FEEDBACK;
	memcpy(after->volume_id, v->id, sizeof(after->volume_id));
	memcpy(after->project_id, v->project_id, sizeof(after->project_id));
	job_outcome(job, "waiting_for_compute");
	return DB_OK;
}

/*
 * The fence of a message that settles reservations: true (with the outcome recorded) when
 * none of its reservations is live. Either they were all settled, and the message belongs to
 * an operation already completed or reset; or none of them exists, and the message is the
 * cast of an API transaction that published and then failed to commit (its client got a
 * 503), which no committed state asked for. In both cases the volume may be extending again
 * for another request, which this message must not finish with its own size.
 */
int ext_stale(db_conn *db, struct job *job, const struct vol_row *v,
	      const char *const *res, unsigned n, bool *stale)
{
	int known = 0, live = 0;
	int rc = quota_reservations_live(db, v->project_id, res, (int)n, &known, &live);

	*stale = rc == DB_OK && n > 0 && live == 0;
	if (*stale) {
		if (known > 0)
			log_warning("volume %s: the message's reservations (%d of %u known) are all "
				    "settled; it belongs to an operation already completed or reset, "
				    "nothing to do", v->id, known, n);
		else
			log_warning("volume %s: none of the message's %u reservations exists; it "
				    "was cast by a request that never committed, nothing to do",
				    v->id, n);
		job_outcome(job, "stale");
	}
	return rc;
}

int h_extend_volume(db_conn *db, struct job *job)
{
	const struct proto_args_extend_volume *a = &job->args.extend_volume;
	const char *const *res = a->reservations;
	char err[EXT_ERR_MAX];
	struct vol_row v;

	bool stale;

	int rc = job_load_volume(db, job, a->volume_id, VOL_S_EXTENDING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = ext_stale(db, job, &v, res, a->nreservations, &stale);
	if (rc != DB_OK || stale)
		return rc;
	rc = rec_notify(db, "resize.start", &v, v.status, v.size, job_request_id(job));
	if (rc != DB_OK)
		return rc;
	if (fin_admit(&v, a->new_size, false, err, sizeof(err)) == FIN_BAD_SIZE) {
		/* The API refuses this; a stale or forged message must not shrink the size. */
		log_warning("volume %s: new size %d is not above the current size %d", v.id,
			    a->new_size, v.size);
		job_outcome(job, "bad_size");
		return ext_complete(db, &v, a->new_size, res, a->nreservations, true,
				    job_request_id(job));
	}

	switch (job_driver->extend(&v, a->new_size, err, sizeof(err))) {
	case DRV_NEEDS_FEEDBACK:
		return ext_wait_for_compute(db, job, &v);
	case DRV_TARGET_UPDATE_FAILED:
		/* Cinder carries on as a success. */
		log_warning("Volume extended but failed to update target (volume %s).", v.id);
		__attribute__((fallthrough));
	case DRV_OK:
		rc = ext_complete(db, &v, a->new_size, res, a->nreservations, false,
				  job_request_id(job));
		if (rc != DB_OK)
			return rc;
		job->after.nservers = ext_servers(&v, job->after.servers);
		if (job->after.nservers > 0) {
			job->after.kind = JOB_AFTER_NOTIFY;
			memcpy(job->after.volume_id, v.id, sizeof(job->after.volume_id));
			memcpy(job->after.project_id, v.project_id, sizeof(job->after.project_id));
		}
		job_outcome(job, "extended");
		return DB_OK;
	default:
		log_error("Extend volume failed (volume %s): %s", v.id, err);
		job_failed(job, "driver_error");
		return ext_complete(db, &v, a->new_size, res, a->nreservations, true,
				    job_request_id(job));
	}
}

/* After a dead letter for good: the extend fails as a driver failure would (error_extending,
 * reservations rolled back, user message), unless the message was stale or the volume moved
 * on. */
static int ext_give_up(db_conn *db, struct job *job, const char *volume_id, int new_size,
		       const char *const *res, unsigned n)
{
	struct vol_row v;
	bool stale;

	int rc = job_load_volume(db, job, volume_id, VOL_S_EXTENDING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = ext_stale(db, job, &v, res, n, &stale);
	if (rc != DB_OK || stale)
		return rc;
	return ext_complete(db, &v, new_size, res, (int)n, true, job_request_id(job));
}

int h_extend_volume_failed(db_conn *db, struct job *job)
{
	const struct proto_args_extend_volume *a = &job->args.extend_volume;

	return ext_give_up(db, job, a->volume_id, a->new_size, a->reservations,
			   a->nreservations);
}

int h_extend_completion_failed(db_conn *db, struct job *job)
{
	const struct proto_args_extend_volume_completion *a = &job->args.extend_volume_completion;

	return ext_give_up(db, job, a->volume_id, a->new_size, a->reservations,
			   a->nreservations);
}

int h_extend_completion(db_conn *db, struct job *job)
{
	const struct proto_args_extend_volume_completion *a = &job->args.extend_volume_completion;
	char err[EXT_ERR_MAX];
	struct vol_row v;
	bool error = a->error, stale;

	int rc = job_load_volume(db, job, a->volume_id, VOL_S_EXTENDING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = ext_stale(db, job, &v, a->reservations, a->nreservations, &stale);
	if (rc != DB_OK || stale)
		return rc;
	enum fin_verdict verdict = error ? FIN_ADMIT : fin_admit(&v, a->new_size, true, err,
								  sizeof(err));
	if (verdict == FIN_BAD_SIZE) {
		log_error("volume %s: completion to %d GiB is not above the current size %d; "
			  "completing with error", v.id, a->new_size, v.size);
		error = true;
		job_outcome(job, "bad_size");
	} else if (verdict == FIN_SIZE_MISMATCH) {
		/* Compute says it grew the volume; the backing store says otherwise. Committing
		 * would record a size the data does not have. */
		log_error("volume %s: compute reported the extend done, but %s; completing with "
			  "error", v.id, err);
		error = true;
		job_outcome(job, "size_mismatch");
	} else {
		job_outcome(job, error ? "rolled_back" : "completed");
	}
	return ext_complete(db, &v, a->new_size, a->reservations, (int)a->nreservations, error,
			    job_request_id(job));
}

/* The state of the transaction that follows a compute call. */
struct ext_followup {
	const struct job_after *after;
	const char *request_id;
	enum ext_abandon_result result;
};

/* Notifying compute of a finished extend failed: only a user message, as in Cinder. */
static int ext_notify_failed_txn(db_conn *db, void *arg)
{
	const struct ext_followup *f = arg;
	return usermsg_create(db, f->after->project_id, f->request_id, f->after->volume_id,
			      UMSG_ACTION_EXTEND_VOLUME, UMSG_DETAIL_NOTIFY_COMPUTE_SERVICE_FAILED,
			      settings.message_ttl);
}

/* Compute could not be asked to grow the volume: roll back the extend this job left pending.
 * 007/009 says why; the completion adds 007/010, as Cinder's spec has it. */
static int ext_unwind_txn(db_conn *db, void *arg)
{
	struct ext_followup *f = arg;
	return ext_abandon(db, f->after->volume_id, f->after->reservations, NULL,
			   UMSG_DETAIL_NOTIFY_COMPUTE_SERVICE_FAILED, f->request_id, &f->result);
}

void h_extend_after(db_conn *db, struct job *job)
{
	const struct job_after *after = &job->after;
	struct ext_followup f = { after, job_request_id(job), EXT_NOT_EXTENDING };
	const char *servers[NOVA_MAX_SERVERS];
	char err[EXT_ERR_MAX];

	for (int i = 0; i < after->nservers; i++)
		servers[i] = after->servers[i];
	int rc = nova_volume_extended(servers, after->nservers, after->volume_id, err,
				      sizeof(err));
	if (after->kind == JOB_AFTER_NOTIFY) {
		if (rc == NOVA_EVENT_REJECTED)
			log_warning("volume %s: compute did not accept volume-extended: %s",
				    after->volume_id, err);
		if (rc != NOVA_EVENTS_FAILED)
			return;
		log_warning("volume %s: failed to notify compute of the extend: %s",
			    after->volume_id, err);
		rc = db_transaction(db, ext_notify_failed_txn, &f, EXT_TXN_ATTEMPTS);
		if (rc != DB_OK)
			log_error("volume %s: cannot record the user message: %s",
				  after->volume_id, db_strerror(rc));
		return;
	}

	if (rc == NOVA_EVENTS_OK) {
		log_info("volume %s: asked compute (server %s) to grow it; waiting for "
			 "os-extend_volume_completion", after->volume_id, after->servers[0]);
		return;
	}
	/* A rejected event means compute will not act on it: waiting would only delay the
	 * rollback until the deadline. */
	log_warning("volume %s: cannot ask compute to grow it (%s); rolling the extend back",
		    after->volume_id, err);
	rc = db_transaction(db, ext_unwind_txn, &f, EXT_TXN_ATTEMPTS);
	if (rc != DB_OK)
		log_error("volume %s: cannot roll the extend back (%s); the deadline sweep will",
			  after->volume_id, db_strerror(rc));
	else if (f.result != EXT_ABANDONED)
		log_warning("volume %s: the extend was already completed or reset", after->volume_id);
}
