/*
 * migration.h - generic migration of a volume between backends (docs/cinder.md §16): the
 * start of one (mig_begin, used by migrate_volume and by retype with "on-demand"), and the
 * pieces the engine thread (manager/engine.h) drives it with.
 *
 * The durable state of a migration is its volmgr_migrations row (sql/007_migrations.sql);
 * every function here runs in the caller's transaction, and each change of stage issues
 * NOTIFY on MIG_CHANNEL, which PostgreSQL delivers to the engines after the commit.
 */
#ifndef VOLMGR_MANAGER_MIGRATION_H
#define VOLMGR_MANAGER_MIGRATION_H

#include <stdbool.h>

#include "common/db.h"
#include "core/volume.h"

struct job;

/* The LISTEN/NOTIFY channel of migration events. */
#define MIG_CHANNEL "volmgr_migrations"

struct mig_request {
	const char *dest_host;        /* "host@backend#pool" */
	const char *new_type_id;      /* NULL: keep the type (os-migrate_volume) */
	const char *const *reservations; int nreservations;        /* retype: new type's */
	const char *const *old_reservations; int nold_reservations; /* retype: old type's */
	bool force_host_copy;
};

/*
 * Starts a generic migration of v (loaded and locked by the caller, in the caller's
 * transaction): the destination row as Cinder's _migrate_volume_generic builds it (status
 * creating, migration_status "target:<v id>", use_quota false, on dest_host, volume_type_id
 * new_type_id when set), its metadata, the volmgr_migrations row (stage creating) and
 * migration_status "migrating" on v; the NOTIFY that wakes this host's engine after the
 * commit, which then sends the create_volume cast. force_host_copy changes nothing: the
 * filestore driver has no assisted migration, so every migration is a host copy.
 *
 * Returns DB_OK; JOB_SKIP when the migration cannot start (no volume service on dest_host,
 * or dest_host is v's own host), after failing it as Cinder does in this transaction
 * (migration_status error, status restored from previous_status when it was retyping or
 * maintenance, both reservation lists rolled back) with job's outcome set; or a negative db
 * status.
 */
__attribute__((warn_unused_result))
int mig_begin(db_conn *db, struct job *job, const struct vol_row *v,
	      const struct mig_request *req);

/* NOTIFY on MIG_CHANNEL with this service's host as payload, delivered at the commit. */
__attribute__((warn_unused_result))
int mig_notify(db_conn *db);

/* A migration's volmgr_migrations row (its live one, stage neither done nor failed). */
/* A JSON list of PROTO_MAX_RESERVATIONS uuids: 16 * 40 bytes. */
#define MIG_RESV_MAX 1024
struct mig_row {
	char id[24];
	char volume_id[37];
	char new_volume_id[37];
	char source_host[VOL_TEXT];
	char dest_host[VOL_TEXT];
	char new_type_id[37];           /* "" when not a retype */
	char reservations[MIG_RESV_MAX];  /* JSON lists, "" when none */
	char old_reservations[MIG_RESV_MAX];
	char orig_status[VOL_STATUS_MAX];
	char stage[16];
	bool create_sent;
	bool swap_sent;                 /* compute was asked to swap */
	bool failing;                   /* cleanup ends in failed, not done */
	char reply_q[256];              /* the completion call's, "" when none */
	char reply_msg_id[64];
	char reply_format[16];
	char request_id[VOL_STR];
	bool expired;                   /* the deadline has passed */
	bool reply_late;                /* in the stage over MIG_REPLY_WINDOW_S */
};

/* How long the cleanup stage retries the completion's reply through broker failures: the
 * caller gives up after its rpc_response_timeout (oslo's default, 60 s) anyway. */
#define MIG_REPLY_WINDOW_S "60"

/* Stages (sql/007_migrations.sql). */
#define MIG_CREATING "creating"
#define MIG_COPYING "copying"
#define MIG_SWAPPING "swapping"
#define MIG_COMPLETING "completing"
#define MIG_CLEANUP "cleanup"

/*
 * Loads the live migration of source volume volume_id (locked with for_update). DB_OK,
 * VOL_NOT_FOUND or a negative db status.
 */
__attribute__((warn_unused_result))
int mig_get(db_conn *db, const char *volume_id, bool for_update, struct mig_row *out);

/* The source volume ids of the live migrations this service drives, oldest first, at most
 * max; *n gets how many. A migration that only waits for compute's completion call (stage
 * swapping, swap sent, deadline ahead) is left out: it has nothing to drive until the call
 * or the deadline comes, and must not crowd out the others. Those in completing or cleanup
 * come first: a completion call waits for them, and should not wait for others' copies. */
__attribute__((warn_unused_result))
int mig_list_mine(db_conn *db, char ids[][37], int max, int *n);

/* Sets the stage of m and notifies; also create_sent when create_sent is true, the
 * deadline timeout_s from now when timeout_s > 0 (the stages swapping and completing have
 * one of their own), and the reason why when it is not NULL. */
__attribute__((warn_unused_result))
int mig_set_stage(db_conn *db, const struct mig_row *m, const char *stage, bool create_sent,
		  int timeout_s, const char *why);

/* Records that compute was asked to swap (swap_sent): the request is not sent again. */
__attribute__((warn_unused_result))
int mig_set_swap_sent(db_conn *db, const struct mig_row *m);

/*
 * Cinder's _clean_temporary_volume and the source's failure, for a migration that fails
 * before its rows are swapped (destination in error or not created in time, a copy, a swap
 * or an update_migrated_volume that failed): the destination is deleted by the delete_volume
 * cast of the cleanup stage (marked deleting when it was created; one in creating or error
 * keeps that status, see lifecycle.c); a source that update_migrated_volume already named
 * after the destination's store takes its own back; the source gets migration_status
 * error, its status restored, the reservations rolled back. why is logged and kept in the
 * row. Locks the source, then the destination.
 */
__attribute__((warn_unused_result))
int mig_abort(db_conn *db, const struct mig_row *m, const char *why);

/*
 * The first half of Cinder's migrate_volume_completion, in the caller's transaction (the
 * completion call, or the engine after its copy). error: the destination marked deleting
 * for the cleanup's delete_volume cast, the source's migration_status error and status
 * previous_status, the reservations rolled back. Success: the source's migration_status
 * completing, stage completing with the deadline [manager] migration_update_timeout, for
 * the engine's update_migrated_volume call and mig_finish. reply_q, msg_id, fmt: the call to answer once it is done (NULL: none).
 */
__attribute__((warn_unused_result))
int mig_complete(db_conn *db, const struct mig_row *m, bool error, const char *reply_q,
		 const char *msg_id, const char *fmt);

/*
 * The second half, after update_migrated_volume answered: finish_volume_migration's swap of
 * the two rows, the source's status, previous_status and migration_status success, the
 * attachments of the leftover id moved to the source and its attach_status "attached" while
 * an attachment is live, a retype's reservations committed;
 * the leftover row (now on the old backend) marked deleting for the cleanup's delete_volume
 * cast; stage cleanup.
 */
__attribute__((warn_unused_result))
int mig_finish(db_conn *db, const struct mig_row *m);

/* The end of the cleanup stage: done, or failed. */
__attribute__((warn_unused_result))
int mig_close(db_conn *db, const struct mig_row *m);

#endif
