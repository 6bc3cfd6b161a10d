/*
 * finalize_sql.h - the one finalization of an extend (manager/finalize.sql) and its admission.
 *
 * "Finalize an extend" means: commit its quota reservations (quota_commit_set, the quota
 * engine's one commit), set the volume's new size and status, add the growth to its pool's
 * allocated capacity, queue volume.resize.end, and clear the pending extend. Every path that finalizes an extend successfully runs these same
 * statements with parameters built by fin_set_add: the completion handled alone and
 * extend_volume handled alone (arrays of one element, ext_complete), and the group commit of
 * either method (arrays of a batch, batch.c). Whether an extend may be finalized is decided
 * by fin_admit, also for every path.
 *
 * The file is embedded into the binary at build time and split once at start-up at its
 * "-- statement: NAME" lines; make bench renders the same file for pgbench, so the manager
 * and its database ceiling cannot drift apart.
 */
#ifndef VOLMGR_MANAGER_FINALIZE_SQL_H
#define VOLMGR_MANAGER_FINALIZE_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"
#include "common/dbarray.h"
#include "core/volume.h"
#include "manager/records.h"

enum fin_stmt {
	FIN_CLAIM,
	FIN_LOCK_VOLUMES,
	FIN_UNCLAIM,
	FIN_NOTIFY_START,
	FIN_FINALIZE,
	FIN_COUNT,
};

/* Splits the embedded file. Returns 0, or -1 (logged) when a statement is missing; call once
 * before fin_sql or fin_set_run (idempotent). */
__attribute__((warn_unused_result)) int fin_sql_load(void);

/* The text of statement s (valid for the life of the process). */
const char *fin_sql(enum fin_stmt s);

/* What fin_admit decided. */
enum fin_verdict {
	FIN_ADMIT,          /* may be finalized */
	FIN_WRONG_STATUS,   /* the volume is not extending */
	FIN_BAD_SIZE,       /* the new size is not above the current size */
	FIN_SIZE_MISMATCH,  /* the backing store does not hold the new size (err says why) */
};

/*
 * The admission of an extend of v to new_size: the volume is extending and the new size is
 * above its size; with verify_store (a completion reported by compute, whose growth the
 * manager did not do itself), the backing store must also hold new_size already.
 */
enum fin_verdict fin_admit(const struct vol_row *v, int new_size, bool verify_store, char *err,
			   size_t errlen);

/* The array parameters of a finalization: the finalize statement's, in its order, then the
 * quota commit's. */
enum fin_param {
	FIN_P_VOLUMES,
	FIN_P_SIZES,
	FIN_P_STATUSES,
	FIN_P_REQUESTS,
	FIN_P_POOL_HOSTS,
	FIN_P_POOLS,
	FIN_P_DELTAS,
	FIN_P_RESERVATIONS,
	FIN_P_RES_PROJECTS,
	FIN_P_COUNT,
};

/* The parameters of a set of finalizations, element i of each volume array belonging to
 * the i-th added. */
struct fin_set {
	struct db_array p[FIN_P_COUNT];
	char *bufs;          /* FIN_P_COUNT buffers of cap bytes, owned */
	size_t cap;
	char publisher[REC_PUBLISHER_MAX];
};

/* Allocates buffers of cap bytes per parameter and starts empty. Returns 0, or -1 when out
 * of memory. Free with fin_set_free. */
__attribute__((warn_unused_result)) int fin_set_init(struct fin_set *s, size_t cap);
void fin_set_free(struct fin_set *s);

/* Empties s for the next set. */
void fin_set_clear(struct fin_set *s);

/* How many finalizations s holds. */
int fin_set_count(const struct fin_set *s);

/*
 * Adds the finalization of v (locked by the caller's transaction, admitted) to new_size,
 * settling reservations[0..nreservations) of v's project; request_id goes to the
 * notification. What does not fit is caught by fin_set_run.
 */
void fin_set_add(struct fin_set *s, const struct vol_row *v, int new_size,
		 const char *const *reservations, int nreservations, const char *request_id);

/*
 * Runs the quota commit (quota_commit_set) and finalize over the set, in the caller's
 * transaction. Returns DB_OK
 * (also for an empty set), DB_REJECT when the set did not fit its buffers, or a negative db
 * status.
 */
__attribute__((warn_unused_result)) int fin_set_run(db_conn *db, struct fin_set *s);

/* One finalization with arrays of one element (fin_set_add then fin_set_run). Returns as
 * fin_set_run, or DB_RETRY when out of memory. */
__attribute__((warn_unused_result))
int fin_one(db_conn *db, const struct vol_row *v, int new_size, const char *const *reservations,
	    int nreservations, const char *request_id);

#endif
