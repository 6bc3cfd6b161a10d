/*
 * quota.h - Cinder's quota engine (docs/cinder.md §7.3-7.4): limits, reserve, commit,
 * rollback, over the tables quotas, quota_classes, quota_usages and reservations.
 *
 * The database functions run inside the caller's transaction (db_transaction) and lock the
 * quota_usages rows they touch (SELECT ... FOR UPDATE, in resource-name order so that two
 * transactions never deadlock on each other). The pure functions hold the arithmetic so that
 * it is unit-tested without a database.
 */
#ifndef VOLMGR_CORE_QUOTA_H
#define VOLMGR_CORE_QUOTA_H

#include <stdbool.h>
#include "common/db.h"
#include "core/status.h"

#define QUOTA_MAX_DELTAS 8
#define QUOTA_RESOURCE_MAX 300

/* Defaults used when neither the project nor the "default" quota class sets a limit. */
struct quota_defaults {
	int volumes;
	int snapshots;
	int gigabytes;
	int per_volume_gigabytes; /* -1: unlimited */
	int reservation_expire;   /* seconds */
};

struct quota_delta {
	char resource[QUOTA_RESOURCE_MAX + 1]; /* "gigabytes", "gigabytes___DEFAULT__", ... */
	int delta;
};

/* What reserve reports when a resource is over its limit. */
struct quota_over {
	char resource[QUOTA_RESOURCE_MAX + 1]; /* the first over resource, in sorted order */
	long limit;        /* the gigabytes limit (Cinder reports the global one, see below) */
	long in_use;
	long reserved;
	long requested;
};

/* The quota codes QUOTA_OVER and QUOTA_OVERFLOW are declared in core/status.h. */

/* ---- pure arithmetic ---- */

/* Cinder's over-quota rule: limit >= 0 && delta >= 0 && limit < delta + in_use + reserved. */
bool quota_is_over(long limit, long delta, long in_use, long reserved);
/* True if in_use + reserved + delta or reserved + delta would pass 2147483647. */
bool quota_would_overflow(long delta, long in_use, long reserved);
/* Applies a rolled-back reservation: reserved -= min(delta, reserved) when delta >= 0. */
void quota_apply_rollback(long delta, long *reserved);
/* The per-type resource name: "<base>_<type name>", e.g. "gigabytes___DEFAULT__".
 * Returns 0, or -1 if it does not fit. */
int quota_type_resource(const char *base, const char *type_name, char *out, size_t outlen);

/* Room for quota_volume_deltas. */
#define QUOTA_VOLUME_DELTAS 4

/*
 * The deltas of a volume's quota change (Cinder's reserve_opts plus add_volume_type_opts):
 * volumes and gigabytes, then volumes_<type> and gigabytes_<type> when type_name is non-empty
 * and both names fit. Returns how many it filled in out (2 or 4).
 */
int quota_volume_deltas(const char *type_name, int volumes_delta, int gigabytes_delta,
			struct quota_delta out[QUOTA_VOLUME_DELTAS]);

/* The same for a snapshot (Cinder's reserve_opts of a snapshot): snapshots and gigabytes, then
 * snapshots_<type> and gigabytes_<type>. */
int quota_snapshot_deltas(const char *type_name, int snapshots_delta, int gigabytes_delta,
			  struct quota_delta out[QUOTA_VOLUME_DELTAS]);

/* ---- database (inside the caller's transaction) ---- */

/*
 * The limit of resource for project: the project's quotas row, else the "default"
 * quota_classes row, else the default from d for the base resources and -1 (unlimited) for
 * per-type resources, as Cinder's volume-type quota engine does. -1 means unlimited.
 * Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int quota_get_limit(db_conn *db, const struct quota_defaults *d, const char *project_id,
		    const char *resource, long *limit);

/*
 * Reserves deltas for project as Cinder's reserve does: usage rows are created when missing
 * (in_use computed from the volumes table for volumes / gigabytes and their per-type forms),
 * locked, checked, and on success one reservations row per delta is inserted (uuid4, expire
 * = now + d->reservation_expire) and reserved += delta for positive deltas. uuids receives
 * the reservation uuids in the order of deltas.
 * Returns DB_OK, QUOTA_OVER (with *over filled as Cinder reports it: limit, in_use and
 * reserved of "gigabytes" when the over resource is a gigabytes one, else of the resource
 * itself), QUOTA_OVERFLOW, or a negative db status.
 */
__attribute__((warn_unused_result))
int quota_reserve(db_conn *db, const struct quota_defaults *d, const char *project_id,
		  const struct quota_delta *deltas, int ndeltas, char uuids[][37],
		  struct quota_over *over);

/*
 * Commits / rolls back the live reservations among uuids for project. Unknown or already
 * deleted uuids are ignored, as Cinder does. Returns DB_OK or a negative db status. A commit
 * is quota_commit_set.
 */
__attribute__((warn_unused_result))
int quota_commit(db_conn *db, const char *project_id, const char *const *uuids, int n);
__attribute__((warn_unused_result))
int quota_rollback(db_conn *db, const char *project_id, const char *const *uuids, int n);

/*
 * Commits the live reservations uuids[i] of project project_ids[i], both PostgreSQL text-array
 * literals of the same length (db_array_text), possibly of several projects, in one statement
 * (core/quota_commit.sql, the one commit arithmetic): the usage rows they settle are locked
 * in id order, then each reservation is soft-deleted and its usage row gets in_use += delta
 * (never below 0) and reserved -= the positive deltas (never below 0), summed per row. Unknown or settled uuids are ignored. Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int quota_commit_set(db_conn *db, const char *uuids, const char *project_ids);

/*
 * Counts which of uuids[0..n) are reservations of project: *known gets how many exist at all
 * (live or settled), *live how many are still live (not committed, rolled back or expired).
 * A message that settles reservations is stale when none of them is live: the operation it
 * belonged to was completed or reset (known > 0), or never committed (known == 0), so acting
 * on it would apply an old or abandoned request to a newer one.
 */
__attribute__((warn_unused_result))
int quota_reservations_live(db_conn *db, const char *project_id, const char *const *uuids, int n,
			    int *known, int *live);

/* Reserve and commit at once (create/delete volume accounting). Same results as reserve. */
__attribute__((warn_unused_result))
int quota_reserve_and_commit(db_conn *db, const struct quota_defaults *d, const char *project_id,
			     const struct quota_delta *deltas, int ndeltas, struct quota_over *over);

/* Rolls back and soft-deletes every reservation whose expire has passed. *n gets the count. */
__attribute__((warn_unused_result))
int quota_expire(db_conn *db, int *n);

/*
 * Sets the project's limit of resource (-1 = unlimited): updates its live quotas row or
 * inserts one, as Cinder's quota_update / quota_create do. Returns DB_OK, DB_REJECT for a
 * limit outside [-1, 2147483647], or a negative db status.
 */
__attribute__((warn_unused_result))
int quota_set_limit(db_conn *db, const char *project_id, const char *resource, long limit);

/* One row of a project's quota set, for GET os-quota-sets?usage=true. */
struct quota_usage_row {
	char resource[QUOTA_RESOURCE_MAX + 1];
	long limit;
	long in_use;
	long reserved;
};

/*
 * Fills rows with the project's limits and usages for volumes, snapshots, gigabytes,
 * per_volume_gigabytes and, for every volume type, volumes_<t>, snapshots_<t>,
 * gigabytes_<t>. *n gets the number of rows (at most max). Returns DB_OK or a negative status.
 */
/* One resource's row of the set above (its limit and its live quota_usages figures, 0 when
 * there is no usage row). Returns DB_OK, DB_REJECT for a name too long, or a negative db
 * status. */
__attribute__((warn_unused_result))
int quota_resource_usage(db_conn *db, const struct quota_defaults *d, const char *project_id,
			 const char *resource, struct quota_usage_row *row);
__attribute__((warn_unused_result))
int quota_project_usage(db_conn *db, const struct quota_defaults *d, const char *project_id,
			struct quota_usage_row *rows, int max, int *n);

/*
 * Renames the per-type resources of a volume type (volumes_<old>, gigabytes_<old>,
 * snapshots_<old>) to the new name in quota_usages, quota_classes and quotas, as Cinder does
 * when a type is renamed. Returns DB_OK, DB_REJECT for names too long, or a negative db
 * status.
 */
__attribute__((warn_unused_result))
int quota_rename_type(db_conn *db, const char *old_name, const char *new_name);
/* ---- audit (volctl quota check | sync) ---- */

/* One live quota_usages row against what the tables say it should hold. */
struct quota_audit_row {
	char project_id[256];
	char resource[QUOTA_RESOURCE_MAX + 1];
	long in_use, reserved;                /* as recorded */
	long actual_in_use, actual_reserved;  /* recomputed */
	bool drift;
	bool repaired;
};

/* Called once per audited row, after its transaction committed. A non-zero return stops the
 * audit and is returned by quota_audit. */
typedef int (*quota_audit_fn)(void *arg, const struct quota_audit_row *row);

/*
 * Recomputes every live quota_usages row (of project_id, or of every project when NULL):
 * in_use as Cinder's sync functions count it from the volumes and snapshots (the same SQL
 * quota_reserve uses), reserved as the sum of the positive deltas of the row's open
 * reservations. With repair, a drifting row is set to the recomputed values. Each row is
 * locked and handled in a transaction of its own (one row lock at a time, so it never
 * deadlocks with quota_reserve). Resources without a table of their own (per_volume_gigabytes,
 * backups...) keep their recorded in_use. At most max_rows rows are looked at.
 * Returns DB_OK, a negative db status, or fn's non-zero return.
 */
__attribute__((warn_unused_result))
int quota_audit(db_conn *db, const char *project_id, bool repair, int max_rows,
		quota_audit_fn fn, void *arg);

#endif
