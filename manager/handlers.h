/*
 * handlers.h - the RPC methods the volume manager serves, and the state of one message while
 * it is handled.
 *
 * dispatch.c runs a handler's txn function inside one PostgreSQL transaction that first
 * records the message's _unique_id (volmgr_processed_messages), then commits and acks. When
 * the transaction body asked for it (job->after), dispatch then runs the handler's after
 * function: work that must not happen while row locks are held, such as calling the compute
 * API, followed by its own short transaction.
 *
 * Status convention of a txn function: DB_OK to commit (whatever the business outcome: a
 * volume that is gone or in the wrong state is recorded and acknowledged, not retried), a
 * negative db status to roll back and let dispatch retry or dead-letter, or JOB_PERMANENT to
 * roll back and dead-letter with job->reason.
 */
#ifndef VOLMGR_MANAGER_HANDLERS_H
#define VOLMGR_MANAGER_HANDLERS_H

#include <stdarg.h>
#include <stdbool.h>

#include "common/db.h"
#include "core/status.h"
#include "core/volume.h"
#include "core/nova.h"
#include "manager/driver.h"
#include "proto/msg.h"
#include "proto/schema.h"
#include "proto/wire.h"

/* The positive job codes JOB_PERMANENT and JOB_SKIP are declared in core/status.h. */

/* volmgr_processed_messages.outcome is varchar(32). */
#define JOB_OUTCOME_MAX 33
#define JOB_REASON_MAX 512
/* The extend_reservations value volmgr writes: a JSON list of uuids, ASCII, so 255 bytes are
 * the 255 characters of the varchar(255) column. */
#define JOB_MD_VALUE_MAX 256

enum job_after_kind {
	JOB_AFTER_NONE,
	JOB_AFTER_NOTIFY,    /* tell compute a volume grew (Cinder's volume-extended event) */
	JOB_AFTER_FEEDBACK,  /* ask compute to grow a volume and to call the completion back */
};

/* What a committed transaction asks for next; filled by the txn function. */
struct job_after {
	enum job_after_kind kind;
	char volume_id[37];
	char project_id[VOL_STR];
	char servers[NOVA_MAX_SERVERS][37];
	int nservers;
	/* JOB_AFTER_FEEDBACK: the extend_reservations value stored, to recognise our own
	 * pending extend when rolling it back. */
	char reservations[JOB_MD_VALUE_MAX];
};

struct job {
	const struct proto_msg *msg;
	const struct proto_method *method;
	union proto_args args;
	/* The delivery came through a fanout exchange, so its _unique_id is not recorded
	 * (dispatch.c, dispatch_txn, says why). */
	bool broadcast;
	/* Reset by dispatch before every try of the transaction. */
	bool duplicate;
	char outcome[JOB_OUTCOME_MAX];  /* recorded with the _unique_id; "done" by default */
	bool failed;                    /* job_failed (or job_fail) recorded the outcome */
	char reason[JOB_REASON_MAX];    /* JOB_PERMANENT: why */
	struct job_after after;
	/* Calls only, reset with the rest: what the reply says. A txn function sets result (a
	 * value in reply_arena; none means null) or a failure with job_fail. Dispatch encodes
	 * the reply into reply_body, stores it with the _unique_id and publishes it after the
	 * commit. */
	struct pv_arena reply_arena;
	const struct pv *result;
	char failure_class[PROTO_FAILURE_CLASS_MAX];   /* "" on success */
	char failure_message[PROTO_FAILURE_MESSAGE_MAX];
	char *reply_body;                             /* malloc'd, in fmt */
	size_t reply_len;
	enum proto_format fmt;                        /* the request's encoding, the reply's */
	/* Set by a call's txn function that hands the answer to someone else (the migration
	 * engine answers migrate_volume_completion): dispatch then stores and sends no reply. */
	bool defer_reply;
};

/* The storage driver of this service (set once in main). */
extern const struct drv_ops *job_driver;

/*
 * A call's failure reply: the exception class of cinder.exception and its message, formatted
 * as Cinder's exception formats it (e.g. "Invalid volume: %s" for InvalidVolume). Sets the
 * outcome "failed" and returns DB_OK: a refused call is a handled message whose reply must
 * be stored like any other (nothing written before it may stay, so txn functions check
 * before they write).
 */
__attribute__((format(printf, 3, 4)))
int job_fail(struct job *job, const char *cls, const char *fmt, ...);

/* Sets job->outcome (truncated to the column's size). */
void job_outcome(struct job *job, const char *outcome);

/* Sets job->outcome as job_outcome, for a handler that ends without doing the work asked
 * (its driver failed, the resource was set to an error status, a call's failure reply): the
 * message then counts as failed in the metrics. */
void job_failed(struct job *job, const char *outcome);

/*
 * Loads and locks volume id for a handler. Returns DB_OK when the live row exists and its
 * status is want; JOB_SKIP (outcome "not_found" or "wrong_status", a warning logged) when
 * there is nothing to do; or a negative db status.
 */
__attribute__((warn_unused_result))
int job_load_volume(db_conn *db, struct job *job, const char *id, const char *want,
		    struct vol_row *v);

/* Transaction bodies, one per method (lifecycle.c, extend.c). */
__attribute__((warn_unused_result)) int h_create_volume(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_delete_volume(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_extend_volume(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_extend_completion(db_conn *db, struct job *job);

/*
 * Transaction bodies for a message that was dead-lettered for good (lifecycle.c, extend.c):
 * the volume leaves creating / deleting / extending for error / error_deleting /
 * error_extending (a create and an extend get their user message, an extend's reservations
 * are rolled back), as Cinder's manager leaves a volume whose operation raised, instead of
 * staying in a status that only the manager moves it out of. Any other status, and a stale
 * extend, are left alone.
 */
__attribute__((warn_unused_result)) int h_create_volume_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_delete_volume_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_extend_volume_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result))
int h_extend_completion_failed(db_conn *db, struct job *job);

/* The calls of the legacy attach flow (attach.c). */
__attribute__((warn_unused_result)) int h_initialize_connection(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_terminate_connection(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_attach_volume(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_detach_volume(db_conn *db, struct job *job);

/* The calls of the attachments API (attach.c): attachment_update connects the volume to the
 * connector's host and fills the attachment; attachment_delete ends the connection and the
 * attachment. */
__attribute__((warn_unused_result)) int h_attachment_update(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_attachment_delete(db_conn *db, struct job *job);

/* The scheduler's fanout publish_service_capabilities (service.c): wakes the capability
 * report (manager/capabilities.h). */
__attribute__((warn_unused_result))
int h_publish_service_capabilities(db_conn *db, struct job *job);
/* service.c: Cinder's manager's freeze_host and thaw_host: the service's row disabled with
 * the reason "frozen", or enabled with an empty reason; the reply is true. */
__attribute__((warn_unused_result)) int h_freeze_host(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_thaw_host(db_conn *db, struct job *job);

/* Migration between backends (migration.c): migrate_volume on the source host,
 * migrate_volume_completion (a call) on the source host, update_migrated_volume (a call) on
 * the destination host. */
__attribute__((warn_unused_result)) int h_migrate_volume(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_migrate_volume_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result))
int h_migrate_volume_completion(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_update_migrated_volume(db_conn *db, struct job *job);

/* Retype (retype.c): in place on this backend, or by migration with "on-demand". */
__attribute__((warn_unused_result)) int h_retype(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_retype_failed(db_conn *db, struct job *job);

/* Snapshots (snapshot.c): create_snapshot and delete_snapshot, and revert_to_snapshot of a
 * volume to its latest snapshot. The failed bodies leave creating / deleting / reverting for
 * Cinder's error statuses. */
__attribute__((warn_unused_result)) int h_create_snapshot(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_create_snapshot_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_delete_snapshot(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_delete_snapshot_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_revert_to_snapshot(db_conn *db, struct job *job);
__attribute__((warn_unused_result))
int h_revert_to_snapshot_failed(db_conn *db, struct job *job);

/*
 * For delete_volume with cascade (v locked, "deleting"): deletes each of v's snapshots, all of
 * which the API moved to "deleting" (store, quota, rows) as delete_snapshot does. *refused
 * is set when one is in another status or its store could not be removed: the volume must
 * then stay. Returns DB_OK, JOB_PERMANENT or a negative db status.
 */
__attribute__((warn_unused_result))
int sn_cascade(db_conn *db, struct job *job, const struct vol_row *v, bool *refused);

/*
 * For create_volume, after the driver created v's empty store: fills it from the snapshot
 * or the volume v's row names as its source (snapshot_id, source_volid), nothing when it
 * names none. *failed is set (with err) when the driver failed or the source is gone.
 * Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int sn_fill_from_source(db_conn *db, const struct vol_row *v, bool *failed, char *err,
			size_t errlen);

/* Images (image.c): copy_volume_to_image uploads a volume's bytes to the image service;
 * reimage writes an image's bytes over a volume. */
__attribute__((warn_unused_result)) int h_copy_volume_to_image(db_conn *db, struct job *job);
__attribute__((warn_unused_result))
int h_copy_volume_to_image_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_reimage(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_reimage_failed(db_conn *db, struct job *job);
/* For h_create_volume, after the driver created v: with request_spec.image_id, writes the
 * image into v (bootable, image metadata). DB_OK (also when there is no image), a negative db
 * status, or JOB_SKIP when the image could not be written: v is then in error with a user
 * message, and the create is done. */
__attribute__((warn_unused_result))
int img_fill_created(db_conn *db, struct job *job, const struct vol_row *v);

/* Manage and unmanage (manage.c): manage_existing adopts a backing store no volume owns;
 * get_manageable_volumes (a call) lists the backend's stores. */
__attribute__((warn_unused_result)) int h_manage_existing(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_manage_existing_failed(db_conn *db, struct job *job);
__attribute__((warn_unused_result)) int h_get_manageable_volumes(db_conn *db, struct job *job);

/*
 * Whether a message that settles the reservations res[0..n) is stale (extend.c): some were
 * given and none is live any more, because the operation was completed or reset, or the API
 * transaction that cast it never committed. *stale set: outcome "stale", warning logged.
 * Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int ext_stale(db_conn *db, struct job *job, const struct vol_row *v, const char *const *res,
	      unsigned n, bool *stale);

/* After-commit work of extend_volume: the compute call, then its consequences in a new
 * transaction. Failures are logged; the deadline sweep is the safety net. */
void h_extend_after(db_conn *db, struct job *job);

/*
 * The completion of an extend (docs/cinder.md §2.3), shared by extend_volume,
 * extend_volume_completion and the deadline sweep. v is the locked row as loaded. error:
 * user message 007/010, status error_extending, quota rollback. Success: quota commit, size
 * new_size, status available / in-use by attachments, pool stats, volume.resize.end. Both:
 * the pending row and the two admin-metadata keys are removed. Runs in the caller's
 * transaction; returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int ext_complete(db_conn *db, const struct vol_row *v, int new_size,
		 const char *const *reservations, int nreservations, bool error,
		 const char *request_id);

/* What ext_abandon found. */
enum ext_abandon_result {
	EXT_ABANDONED,       /* rolled back */
	EXT_NOT_EXTENDING,   /* no live volume, or not extending: nothing pending any more */
	EXT_NOT_OURS,        /* extending, but the keys are gone or differ: a completion is on
			      * its way (the API removes the keys before casting it) */
};

/*
 * Rolls back the pending extend of volume_id (locked here) when it is still extending and
 * its admin metadata still holds extend_reservations (equal to expect_reservations unless
 * that is NULL): user message 007/<detail_id>, then ext_complete(error=true) with the stored
 * reservations. When the keys are gone and orphan_reservations is not NULL (the pending
 * row's list), the extend is rolled back with those instead: the caller has decided that the
 * completion the missing keys announced is never coming. *result says what happened. Runs
 * in the caller's transaction.
 */
__attribute__((warn_unused_result))
int ext_abandon(db_conn *db, const char *volume_id, const char *expect_reservations,
		const char *orphan_reservations, const char *detail_id, const char *request_id,
		enum ext_abandon_result *result);

#endif
