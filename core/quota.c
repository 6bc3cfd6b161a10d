/*
 * quota.c - Cinder's quota engine over quotas, quota_classes, quota_usages and reservations
 * (docs/cinder.md §7.3-7.4; cinder.db.sqlalchemy.api quota_reserve,
 * reservation_commit, reservation_rollback, reservation_expire).
 */
#include "core/quota.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbarray.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/names.h"

/* The statement of a commit, embedded (the Makefile makes this object depend on the file),
 * followed by a NUL. */
__asm__(".section .rodata\n"
	".global quota_sql_commit_file\n"
	"quota_sql_commit_file:\n"
	".incbin \"core/quota_commit.sql\"\n"
	".byte 0\n"
	".previous\n");
extern const char quota_sql_commit_file[];

#define Q_NOW "(now() AT TIME ZONE 'utc')"
/* Statements are prepared with inferred parameter types: a parameter that appears where no
 * column fixes its type (a select list, IS NULL) carries a cast to the type of its other uses,
 * or the server deduces two types for it. */

/* Bounds of one commit / rollback call and of the usage rows it may lock. */
#define Q_MAX_UUIDS 64
#define Q_MAX_LOCKED 256
#define Q_AUDIT_TXN_ATTEMPTS 3

/* ---- pure arithmetic ---- */

bool quota_is_over(long limit, long delta, long in_use, long reserved)
{
	return limit >= 0 && delta >= 0 && (long long)limit < (long long)delta + in_use + reserved;
}

bool quota_would_overflow(long delta, long in_use, long reserved)
{
	return (long long)in_use + reserved + delta > INT32_MAX ||
	       (long long)reserved + delta > INT32_MAX;
}

void quota_apply_rollback(long delta, long *reserved)
{
	if (delta >= 0)
		*reserved -= delta < *reserved ? delta : *reserved;
}

int quota_type_resource(const char *base, const char *type_name, char *out, size_t outlen)
{
	int len = snprintf(out, outlen, "%s_%s", base, type_name);

	return len < 0 || (size_t)len >= outlen ? -1 : 0;
}

/* The deltas of a count resource (volumes, snapshots) and gigabytes, with their per-type
 * forms (quota_volume_deltas, quota_snapshot_deltas). */
static int count_and_size_deltas(const char *count_base, const char *type_name,
				 int count_delta, int gigabytes_delta,
				 struct quota_delta out[QUOTA_VOLUME_DELTAS])
{
	const char *const base[] = { count_base, QUOTA_RES_GIGABYTES };
	int delta[] = { count_delta, gigabytes_delta };
	int n = 2;

	memset(out, 0, QUOTA_VOLUME_DELTAS * sizeof(*out));
	for (int i = 0; i < 2; i++) {
		util_strlcpy(out[i].resource, base[i], sizeof(out[i].resource));
		out[i].delta = delta[i];
	}
	if (type_name != NULL && type_name[0] != '\0' &&
	    quota_type_resource(base[0], type_name, out[2].resource,
				sizeof(out[2].resource)) == 0 &&
	    quota_type_resource(base[1], type_name, out[3].resource,
				sizeof(out[3].resource)) == 0) {
		out[2].delta = delta[0];
		out[3].delta = delta[1];
		n = 4;
	}
	return n;
}

int quota_volume_deltas(const char *type_name, int volumes_delta, int gigabytes_delta,
			struct quota_delta out[QUOTA_VOLUME_DELTAS])
{
	return count_and_size_deltas(QUOTA_RES_VOLUMES, type_name, volumes_delta,
				     gigabytes_delta, out);
}

int quota_snapshot_deltas(const char *type_name, int snapshots_delta, int gigabytes_delta,
			  struct quota_delta out[QUOTA_VOLUME_DELTAS])
{
	return count_and_size_deltas(QUOTA_RES_SNAPSHOTS, type_name, snapshots_delta,
				     gigabytes_delta, out);
}

/* ---- helpers ---- */

static long q_long(const PGresult *r, int row, int col)
{
	return strtol(PQgetvalue(r, row, col), NULL, 10);
}

static void q_fmt(char *buf, size_t len, long v)
{
	snprintf(buf, len, "%ld", v);
}

/*
 * A resource name split into what Cinder's sync functions count ("volumes", "gigabytes",
 * "snapshots", or NULL for resources volmgr keeps no table for) and the volume type name of
 * a per-type resource (NULL for the global one).
 */
struct q_kind {
	const char *kind;
	const char *type;
};

static struct q_kind q_classify(const char *resource)
{
	static const char *const bases[] = { "volumes", "gigabytes", "snapshots" };
	struct q_kind k = { NULL, NULL };

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		size_t n = strlen(bases[i]);

		if (strncmp(resource, bases[i], n) != 0)
			continue;
		if (resource[n] == '\0') {
			k.kind = bases[i];
		} else if (resource[n] == '_' && resource[n + 1] != '\0') {
			k.kind = bases[i];
			k.type = resource + n + 1;
		}
		break;
	}
	return k;
}

/*
 * Cinder's sync functions as one SQL expression (P project, K kind, T type name or NULL):
 * live volumes of the project that count for quota (not a migration target, use_quota not
 * false, not marked temporary), gigabytes including the snapshots' sizes, and for a per-type
 * resource only volumes of the live type(s) with that name.
 */
#define Q_TYPE_IDS(T) \
	"(SELECT t.id FROM volume_types t WHERE t.name = " T "::text AND t.deleted = false)"
#define Q_VOL_WHERE(P, T) \
	" WHERE v.project_id = " P " AND v.deleted = false" \
	" AND (v.migration_status IS NULL OR v.migration_status NOT LIKE 'target:%')" \
	" AND v.use_quota IS NOT FALSE" \
	" AND NOT EXISTS (SELECT 1 FROM volume_admin_metadata m WHERE m.volume_id = v.id" \
	"   AND NOT m.deleted AND m.key = 'temporary' AND m.value = 'True')" \
	" AND (" T "::text IS NULL OR v.volume_type_id IN " Q_TYPE_IDS(T) ")"
#define Q_SNAP_WHERE(P, T) \
	" WHERE s.project_id = " P " AND s.deleted = false AND s.use_quota IS NOT FALSE" \
	" AND (" T "::text IS NULL OR EXISTS (SELECT 1 FROM volumes sv WHERE sv.id = s.volume_id" \
	"   AND sv.volume_type_id IN " Q_TYPE_IDS(T) "))"
#define Q_SYNC(P, K, T) \
	"(CASE " K "::text" \
	" WHEN 'volumes' THEN (SELECT count(*) FROM volumes v" Q_VOL_WHERE(P, T) ")" \
	" WHEN 'gigabytes' THEN (SELECT coalesce(sum(v.size), 0) FROM volumes v" \
	Q_VOL_WHERE(P, T) ")" \
	"   + (SELECT coalesce(sum(s.volume_size), 0) FROM snapshots s" Q_SNAP_WHERE(P, T) ")" \
	" WHEN 'snapshots' THEN (SELECT count(*) FROM snapshots s" Q_SNAP_WHERE(P, T) ")" \
	" ELSE 0 END)::integer"

static const char q_sql_sync[] = "SELECT " Q_SYNC("$1", "$2", "$3");

/* Created as Cinder's _quota_usage_create does; a row another transaction created first
 * wins (race_preventer makes (project, resource) unique among live rows). */
static const char q_sql_usage_create[] =
	"INSERT INTO quota_usages (created_at, deleted, project_id, resource, in_use, reserved,"
	" until_refresh, race_preventer)"
	" SELECT " Q_NOW ", false, $1::varchar, $2::varchar, " Q_SYNC("$1", "$3", "$4") ", 0, NULL,"
	" true"
	" ON CONFLICT (project_id, resource, race_preventer) DO NOTHING";

static const char q_sql_usage_lock[] =
	"SELECT id, in_use, reserved, until_refresh FROM quota_usages"
	" WHERE project_id = $1 AND resource = $2 AND deleted = false ORDER BY id FOR UPDATE";

/* The live usage rows of several resources, each resource's rows in id order, the resources
 * in strcmp order (the order reserve locks them in). */
static const char q_sql_usages_lock[] =
	"SELECT resource, id, in_use, reserved, until_refresh FROM quota_usages"
	" WHERE project_id = $1 AND resource = ANY($2::varchar[]) AND deleted = false"
	" ORDER BY resource COLLATE \"C\", id FOR UPDATE";

static const char q_sql_usage_update[] =
	"UPDATE quota_usages q SET in_use = x.in_use, reserved = x.reserved,"
	" until_refresh = x.until_refresh, updated_at = " Q_NOW
	" FROM unnest($1::integer[], $2::integer[], $3::integer[], $4::integer[])"
	"  AS x(id, in_use, reserved, until_refresh)"
	" WHERE q.id = x.id";

/* Per resource of $2: the project's own limit (the last by id), else the default class's. */
static const char q_sql_limits[] =
	"SELECT DISTINCT ON (s.resource) s.resource, s.hard_limit FROM ("
	" SELECT 1 AS src, q.id, q.resource, q.hard_limit FROM quotas q"
	"  WHERE q.project_id = $1 AND q.resource = ANY($2::varchar[]) AND q.deleted = false"
	" UNION ALL"
	" SELECT 2, c.id, c.resource, c.hard_limit FROM quota_classes c"
	"  WHERE c.class_name = 'default' AND c.resource = ANY($2::varchar[])"
	"  AND c.deleted = false"
	") s ORDER BY s.resource, s.src, s.id DESC";

/* The reservations of one reserve call, ids in the order of the arrays. */
static const char q_sql_reservations_create[] =
	"INSERT INTO reservations (created_at, deleted, uuid, usage_id, project_id, resource, delta,"
	" expire)"
	" SELECT " Q_NOW ", false, x.uuid, x.usage_id, $1::varchar, x.resource, x.delta,"
	" " Q_NOW " + $2::integer * interval '1 second'"
	" FROM unnest($3::varchar[], $4::integer[], $5::varchar[], $6::integer[])"
	"  WITH ORDINALITY AS x(uuid, usage_id, resource, delta, i)"
	" ORDER BY x.i";

static const char q_sql_reservation_resource[] =
	"SELECT DISTINCT resource FROM reservations WHERE uuid = $1 AND deleted = false";

static const char q_sql_reservation_lock[] =
	"SELECT id, usage_id, delta FROM reservations WHERE uuid = $1 AND deleted = false"
	" ORDER BY id FOR UPDATE";

/* Cinder's reservation.delete() means to keep updated_at, but the ORM's onupdate still sets
 * it (checked against Cinder 21 on PostgreSQL), so a settled reservation has updated_at =
 * deleted_at = now. */
static const char q_sql_reservation_delete[] =
	"UPDATE reservations SET deleted = true, deleted_at = " Q_NOW ", updated_at = " Q_NOW
	" WHERE id = $1::integer";

/* At most 1000 per call (bounded work per transaction); the periodic sweep calls again. */
static const char q_sql_expired[] =
	"SELECT project_id, uuid FROM reservations WHERE deleted = false AND expire < " Q_NOW
	" ORDER BY project_id, uuid LIMIT 1000";

static const char q_sql_set_limit[] =
	"WITH upd AS (UPDATE quotas SET hard_limit = $3::integer, updated_at = " Q_NOW
	"  WHERE project_id = $1 AND resource = $2 AND deleted = false RETURNING id)"
	" INSERT INTO quotas (created_at, deleted, project_id, resource, hard_limit, allocated)"
	" SELECT " Q_NOW ", false, $1::varchar, $2::varchar, $3::integer, 0"
	" WHERE NOT EXISTS (SELECT 1 FROM upd)";

static const char q_sql_usage_get[] =
	"SELECT in_use, reserved FROM quota_usages"
	" WHERE project_id = $1 AND resource = $2 AND deleted = false ORDER BY id DESC LIMIT 1";

static const char q_sql_type_names[] =
	"SELECT name FROM volume_types WHERE deleted = false AND name IS NOT NULL ORDER BY name";

/* One locked quota_usages row and what this call does to it. */
struct q_usage {
	long id;
	long in_use;
	long reserved;
	bool has_until;
	long until_refresh;
	bool dirty;
};

/* Columns first .. first + 3 of a row: id, in_use, reserved, until_refresh. */
static void q_usage_from_row(const PGresult *r, int row, int first, struct q_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->id = q_long(r, row, first);
	u->in_use = q_long(r, row, first + 1);
	u->reserved = q_long(r, row, first + 2);
	u->has_until = !PQgetisnull(r, row, first + 3);
	u->until_refresh = u->has_until ? q_long(r, row, first + 3) : 0;
}

/* The real usage of resource for project, as Cinder's sync function counts it. */
static int q_sync(db_conn *db, const char *project_id, const char *resource, long *in_use)
{
	struct q_kind k = q_classify(resource);
	const char *p[3] = { project_id, k.kind != NULL ? k.kind : "", k.type };
	PGresult *r;
	int rc;

	rc = db_exec(db, q_sql_sync, 3, p, &r);
	if (rc != DB_OK)
		return rc;
	*in_use = PQntuples(r) == 1 ? q_long(r, 0, 0) : 0;
	PQclear(r);
	return DB_OK;
}

/*
 * Locks the live usage rows of (project, resource) and loads the one Cinder would use (the
 * last by id). *found is false when there is none.
 */
static int q_usage_lock(db_conn *db, const char *project_id, const char *resource,
			struct q_usage *u, bool *found)
{
	const char *p[2] = { project_id, resource };
	PGresult *r;
	int rc, n;

	rc = db_exec(db, q_sql_usage_lock, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	n = PQntuples(r);
	*found = n > 0;
	if (n > 0)
		q_usage_from_row(r, n - 1, 0, u);
	PQclear(r);
	return DB_OK;
}

/* Locks the usage row of resource, creating it from the real usage when missing. */
static int q_usage_lock_or_create(db_conn *db, const char *project_id, const char *resource,
				  struct q_usage *u)
{
	struct q_kind k = q_classify(resource);
	const char *p[4] = { project_id, resource, k.kind != NULL ? k.kind : "", k.type };
	bool found;
	int rc;

	rc = q_usage_lock(db, project_id, resource, u, &found);
	if (rc != DB_OK || found)
		return rc;
	rc = db_exec(db, q_sql_usage_create, 4, p, NULL);
	if (rc != DB_OK)
		return rc;
	rc = q_usage_lock(db, project_id, resource, u, &found);
	if (rc == DB_OK && !found) {
		/* Created and soft-deleted by someone else in between: start over. */
		log_warning("quota: usage row %s of project %s vanished while reserving",
			    resource, project_id);
		return DB_RETRY;
	}
	return rc;
}

/*
 * Cinder's refresh rule: a negative in_use is resynchronised; a row with until_refresh counts
 * down and is resynchronised at zero. volmgr runs with until_refresh = 0 (off), so the
 * column ends up NULL either way, as Cinder leaves it.
 */
static int q_usage_refresh(db_conn *db, const char *project_id, const char *resource,
			   struct q_usage *u)
{
	bool refresh = false;

	if (u->in_use < 0) {
		refresh = true;
	} else if (u->has_until) {
		refresh = u->until_refresh - 1 <= 0;
		u->has_until = false;
		u->dirty = true;
	}
	if (!refresh)
		return DB_OK;
	u->has_until = false;
	u->dirty = true;
	return q_sync(db, project_id, resource, &u->in_use);
}

/* ---- limits ---- */

/* The default limit when neither the project nor the "default" class sets one: the
 * configured defaults, Cinder's option defaults for the resources volmgr does not configure,
 * and unlimited for the per-type resources (volumes_<t>, gigabytes_<t>, snapshots_<t>). */
static long q_default_limit(const struct quota_defaults *d, const char *resource)
{
	const struct {
		const char *resource;
		long limit;
	} defaults[] = {
		{ "volumes", d->volumes },
		{ "snapshots", d->snapshots },
		{ "gigabytes", d->gigabytes },
		{ "per_volume_gigabytes", d->per_volume_gigabytes },
		{ "backups", 10 },
		{ "backup_gigabytes", 1000 },
		{ "groups", 10 },
		{ "consistencygroups", 10 },
	};

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (strcmp(defaults[i].resource, resource) == 0)
			return defaults[i].limit;
	return -1;
}

/* Room in a text array literal for QUOTA_MAX_DELTAS resource names, quoted and escaped. */
#define Q_RES_ARRAY_CAP (QUOTA_MAX_DELTAS * (2 * QUOTA_RESOURCE_MAX + 3) + 8)

/* The limits of resources[0..n) for project, in one statement. */
static int q_limits(db_conn *db, const struct quota_defaults *d, const char *project_id,
		    const char *const *resources, int n, long *limits)
{
	char buf[Q_RES_ARRAY_CAP];
	struct db_array a;
	const char *p[2] = { project_id, NULL };
	PGresult *r;
	int rc;

	if (n > QUOTA_MAX_DELTAS)
		return DB_REJECT;
	db_array_init(&a, buf, sizeof(buf));
	for (int i = 0; i < n; i++) {
		db_array_add(&a, resources[i]);
		limits[i] = q_default_limit(d, resources[i]);
	}
	if ((p[1] = db_array_text(&a)) == NULL)
		return DB_REJECT;
	rc = db_exec(db, q_sql_limits, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	for (int row = 0; row < PQntuples(r); row++)
		for (int i = 0; i < n; i++)
			if (strcmp(PQgetvalue(r, row, 0), resources[i]) == 0)
				limits[i] = PQgetisnull(r, row, 1) ? -1 : q_long(r, row, 1);
	PQclear(r);
	return DB_OK;
}

int quota_get_limit(db_conn *db, const struct quota_defaults *d, const char *project_id,
		    const char *resource, long *limit)
{
	return q_limits(db, d, project_id, &resource, 1, limit);
}

/* ---- reserve ---- */

/* What Cinder's API reports for an over-quota resource: the global gigabytes figures when a
 * gigabytes resource is over (and gigabytes is among the deltas), else the resource's own. */
static void q_fill_over(struct quota_over *over, const struct quota_delta *deltas,
			const struct q_usage *u, const long *limits, int ndeltas, int i)
{
	int src = i;

	if (strncmp(deltas[i].resource, "gigabytes", 9) == 0 &&
	    (deltas[i].resource[9] == '\0' || deltas[i].resource[9] == '_')) {
		for (int j = 0; j < ndeltas; j++)
			if (strcmp(deltas[j].resource, "gigabytes") == 0)
				src = j;
	}
	if (over == NULL)
		return;
	util_strlcpy(over->resource, deltas[i].resource, sizeof(over->resource));
	over->limit = limits[src];
	over->in_use = u[src].in_use;
	over->reserved = u[src].reserved;
	over->requested = deltas[i].delta;
}

/* Sorts the indexes of deltas by resource name; returns -1 on a repeated or empty name. */
static int q_sort_deltas(const struct quota_delta *deltas, int n, int *order)
{
	for (int i = 0; i < n; i++) {
		int j = i;

		if (deltas[i].resource[0] == '\0')
			return -1;
		while (j > 0 && strcmp(deltas[order[j - 1]].resource, deltas[i].resource) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (int i = 1; i < n; i++)
		if (strcmp(deltas[order[i - 1]].resource, deltas[order[i]].resource) == 0)
			return -1;
	return 0;
}

/* Room in an integer array literal for each of Q_MAX_LOCKED elements. */
#define Q_INT_ARRAY_CAP (Q_MAX_LOCKED * 24 + 8)

/* Writes the dirty rows among u[0..n) back, in one statement. */
static int q_write_all(db_conn *db, const struct q_usage *u, int n)
{
	char bufs[4][Q_INT_ARRAY_CAP];
	struct db_array a[4];
	const char *p[4];
	int dirty = 0;

	if (n > Q_MAX_LOCKED)
		return DB_REJECT;
	for (int k = 0; k < 4; k++)
		db_array_init(&a[k], bufs[k], sizeof(bufs[k]));
	for (int i = 0; i < n; i++) {
		if (!u[i].dirty)
			continue;
		db_array_add_long(&a[0], u[i].id);
		db_array_add_long(&a[1], u[i].in_use);
		db_array_add_long(&a[2], u[i].reserved);
		if (u[i].has_until)
			db_array_add_long(&a[3], u[i].until_refresh);
		else
			db_array_add(&a[3], NULL);
		dirty++;
	}
	if (dirty == 0)
		return DB_OK;
	for (int k = 0; k < 4; k++)
		if ((p[k] = db_array_text(&a[k])) == NULL)
			return DB_REJECT;
	return db_exec(db, q_sql_usage_update, 4, p, NULL);
}

/*
 * Locks the usage rows of the deltas' resources, in resource order so that reservers never
 * deadlock, and loads the one Cinder would use of each into u. The rows that exist are locked
 * by one statement; a resource without a live row (its first use by the project) has it
 * created from its real usage and locked afterwards.
 */
static int q_usages_lock(db_conn *db, const char *project_id, const struct quota_delta *deltas,
			 const int *order, int n, struct q_usage *u)
{
	char buf[Q_RES_ARRAY_CAP];
	bool found[QUOTA_MAX_DELTAS] = { false };
	struct db_array a;
	const char *p[2] = { project_id, NULL };
	PGresult *r;
	int rc;

	db_array_init(&a, buf, sizeof(buf));
	for (int k = 0; k < n; k++)
		db_array_add(&a, deltas[order[k]].resource);
	if ((p[1] = db_array_text(&a)) == NULL)
		return DB_REJECT;
	rc = db_exec(db, q_sql_usages_lock, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	/* Rows come in id order within a resource: the last one read is the one to use. */
	for (int row = 0; row < PQntuples(r); row++)
		for (int i = 0; i < n; i++)
			if (strcmp(PQgetvalue(r, row, 0), deltas[i].resource) == 0) {
				q_usage_from_row(r, row, 1, &u[i]);
				found[i] = true;
			}
	PQclear(r);
	for (int k = 0; k < n; k++) {
		int i = order[k];

		if (!found[i]) {
			rc = q_usage_lock_or_create(db, project_id, deltas[i].resource, &u[i]);
			if (rc != DB_OK)
				return rc;
		}
	}
	return DB_OK;
}

/* Inserts the reservations of deltas[0..n) (uuids[i] against u[i]) in one statement. */
static int q_reservations_create(db_conn *db, const struct quota_defaults *d,
				 const char *project_id, const struct quota_delta *deltas,
				 const struct q_usage *u, int n, char uuids[][37])
{
	char ubuf[QUOTA_MAX_DELTAS * 40 + 8], ibuf[QUOTA_MAX_DELTAS * 24 + 8];
	char rbuf[Q_RES_ARRAY_CAP], dbuf[QUOTA_MAX_DELTAS * 24 + 8], expire[24];
	struct db_array au, ai, ar, ad;
	const char *p[6] = { project_id, expire };

	db_array_init(&au, ubuf, sizeof(ubuf));
	db_array_init(&ai, ibuf, sizeof(ibuf));
	db_array_init(&ar, rbuf, sizeof(rbuf));
	db_array_init(&ad, dbuf, sizeof(dbuf));
	for (int i = 0; i < n; i++) {
		util_uuid4(uuids[i]);
		db_array_add(&au, uuids[i]);
		db_array_add_long(&ai, u[i].id);
		db_array_add(&ar, deltas[i].resource);
		db_array_add_long(&ad, deltas[i].delta);
	}
	q_fmt(expire, sizeof(expire), d->reservation_expire);
	p[2] = db_array_text(&au);
	p[3] = db_array_text(&ai);
	p[4] = db_array_text(&ar);
	p[5] = db_array_text(&ad);
	if (p[2] == NULL || p[3] == NULL || p[4] == NULL || p[5] == NULL)
		return DB_REJECT;
	return db_exec(db, q_sql_reservations_create, 6, p, NULL);
}

int quota_reserve(db_conn *db, const struct quota_defaults *d, const char *project_id,
		  const struct quota_delta *deltas, int ndeltas, char uuids[][37],
		  struct quota_over *over)
{
	const char *resources[QUOTA_MAX_DELTAS] = { NULL };
	struct q_usage u[QUOTA_MAX_DELTAS];
	long limits[QUOTA_MAX_DELTAS];
	int order[QUOTA_MAX_DELTAS];
	int first_over = -1;
	int rc;

	if (ndeltas < 0 || ndeltas > QUOTA_MAX_DELTAS || project_id == NULL ||
	    q_sort_deltas(deltas, ndeltas, order) != 0) {
		log_error("quota: reserve called with invalid deltas");
		return DB_REJECT;
	}
	if (ndeltas == 0)
		return DB_OK;
	rc = q_usages_lock(db, project_id, deltas, order, ndeltas, u);
	for (int k = 0; k < ndeltas && rc == DB_OK; k++) {
		int i = order[k];

		rc = q_usage_refresh(db, project_id, deltas[i].resource, &u[i]);
	}
	if (rc != DB_OK)
		return rc;
	for (int k = 0; k < ndeltas; k++) {
		int i = order[k];

		if (deltas[i].delta < 0 && deltas[i].delta + u[i].in_use < 0)
			log_warning("quota: reservation would make %s usage of project %s less than"
				    " 0; on commit it will be limited to 0",
				    deltas[i].resource, project_id);
		if (quota_would_overflow(deltas[i].delta, u[i].in_use, u[i].reserved)) {
			log_warning("quota: %s usage of project %s would overflow",
				    deltas[i].resource, project_id);
			if (over != NULL) {
				util_strlcpy(over->resource, deltas[i].resource,
					     sizeof(over->resource));
				over->limit = -1;
				over->in_use = u[i].in_use;
				over->reserved = u[i].reserved;
				over->requested = deltas[i].delta;
			}
			return QUOTA_OVERFLOW;
		}
	}
	for (int i = 0; i < ndeltas; i++)
		resources[i] = deltas[i].resource;
	rc = q_limits(db, d, project_id, resources, ndeltas, limits);
	if (rc != DB_OK)
		return rc;
	for (int k = 0; k < ndeltas && first_over < 0; k++) {
		int i = order[k];

		if (quota_is_over(limits[i], deltas[i].delta, u[i].in_use, u[i].reserved))
			first_over = i;
	}
	if (first_over >= 0) {
		/* Cinder keeps the refreshed usages even then; the caller's rollback may not. */
		rc = q_write_all(db, u, ndeltas);
		if (rc != DB_OK)
			return rc;
		q_fill_over(over, deltas, u, limits, ndeltas, first_over);
		return QUOTA_OVER;
	}
	rc = q_reservations_create(db, d, project_id, deltas, u, ndeltas, uuids);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < ndeltas; i++) {
		/* Only increments are held back: a failed shrink must not push a project over. */
		if (deltas[i].delta > 0) {
			u[i].reserved += deltas[i].delta;
			u[i].dirty = true;
		}
	}
	return q_write_all(db, u, ndeltas);
}

/* ---- commit / rollback / expire ---- */

/* Commits are core/quota_commit.sql's (quota_commit_set); these two settle in C. */
enum q_settle_mode { Q_ROLLBACK, Q_EXPIRE };

struct q_locked {
	struct q_usage u[Q_MAX_LOCKED];
	int n;
};

/* Locks every live usage row of (project, resource) into set. */
static int q_lock_all(db_conn *db, const char *project_id, const char *resource,
		      struct q_locked *set)
{
	const char *p[2] = { project_id, resource };
	PGresult *r;
	int rc;

	rc = db_exec(db, q_sql_usage_lock, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	for (int row = 0; row < PQntuples(r); row++) {
		if (set->n == Q_MAX_LOCKED) {
			PQclear(r);
			log_error("quota: more than %d usage rows to settle", Q_MAX_LOCKED);
			return DB_REJECT;
		}
		q_usage_from_row(r, row, 0, &set->u[set->n++]);
	}
	PQclear(r);
	return DB_OK;
}

static int q_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Locks the usage rows of the resources the live reservations among uuids name (in resource
 * order, as reserve does), then applies and soft-deletes each live reservation. A reservation
 * whose usage row is not the project's is left alone, except by the expiry sweep, which
 * soft-deletes it (there is nothing it could be applied to). *done counts soft deletes.
 */
static int q_settle(db_conn *db, const char *project_id, const char *const *uuids, int n,
		    enum q_settle_mode mode, int *done)
{
	struct q_locked set;
	char *resources[Q_MAX_UUIDS];
	int nres = 0;
	int rc = DB_OK;

	*done = 0;
	if (n < 0 || n > Q_MAX_UUIDS) {
		log_error("quota: %d reservations in one call (at most %d)", n, Q_MAX_UUIDS);
		return DB_REJECT;
	}
	set.n = 0;
	for (int i = 0; i < n && rc == DB_OK; i++) {
		PGresult *r;

		rc = db_exec(db, q_sql_reservation_resource, 1, &uuids[i], &r);
		for (int row = 0; rc == DB_OK && row < PQntuples(r); row++) {
			const char *res = PQgetvalue(r, row, 0);
			bool dup = false;

			for (int j = 0; j < nres && !dup; j++)
				dup = strcmp(resources[j], res) == 0;
			if (dup)
				continue;
			if (nres == Q_MAX_UUIDS || (resources[nres] = strdup(res)) == NULL) {
				rc = DB_REJECT;
				break;
			}
			nres++;
		}
		PQclear(r);
	}
	if (rc != DB_OK)
		goto out;
	qsort(resources, (size_t)nres, sizeof(resources[0]), q_cmp_str);
	for (int j = 0; j < nres && rc == DB_OK && project_id != NULL; j++)
		rc = q_lock_all(db, project_id, resources[j], &set);
	for (int i = 0; i < n && rc == DB_OK; i++) {
		PGresult *r;

		rc = db_exec(db, q_sql_reservation_lock, 1, &uuids[i], &r);
		for (int row = 0; rc == DB_OK && row < PQntuples(r); row++) {
			long usage_id = PQgetisnull(r, row, 1) ? -1 : q_long(r, row, 1);
			long delta = q_long(r, row, 2);
			const char *id = PQgetvalue(r, row, 0);
			struct q_usage *u = NULL;

			for (int k = 0; k < set.n && u == NULL; k++)
				if (set.u[k].id == usage_id)
					u = &set.u[k];
			if (u == NULL && mode != Q_EXPIRE) {
				log_warning("quota: reservation %s is not one of project %s; ignored",
					    uuids[i], project_id);
				continue;
			}
			if (u != NULL) {
				quota_apply_rollback(delta, &u->reserved);
				u->dirty = true;
			}
			rc = db_exec(db, q_sql_reservation_delete, 1, &id, NULL);
			if (rc == DB_OK)
				(*done)++;
		}
		PQclear(r);
	}
	if (rc == DB_OK)
		rc = q_write_all(db, set.u, set.n);
out:
	for (int j = 0; j < nres; j++)
		free(resources[j]);
	return rc;
}

int quota_commit_set(db_conn *db, const char *uuids, const char *project_ids)
{
	const char *p[2] = { uuids, project_ids };

	return db_exec(db, quota_sql_commit_file, 2, p, NULL);
}

int quota_commit(db_conn *db, const char *project_id, const char *const *uuids, int n)
{
	/* Room for Q_MAX_UUIDS quoted uuids, and as many copies of a quoted project id. */
	char ubuf[Q_MAX_UUIDS * 40 + 8], pbuf[Q_MAX_UUIDS * (2 * 255 + 3) + 8];
	struct db_array a, p;

	if (n < 0 || n > Q_MAX_UUIDS) {
		log_error("quota: %d reservations in one call (at most %d)", n, Q_MAX_UUIDS);
		return DB_REJECT;
	}
	db_array_init(&a, ubuf, sizeof(ubuf));
	db_array_init(&p, pbuf, sizeof(pbuf));
	for (int i = 0; i < n; i++) {
		db_array_add(&a, uuids[i]);
		db_array_add(&p, project_id);
	}
	const char *ua = db_array_text(&a), *pa = db_array_text(&p);
	if (ua == NULL || pa == NULL)
		return DB_REJECT;
	return quota_commit_set(db, ua, pa);
}

int quota_rollback(db_conn *db, const char *project_id, const char *const *uuids, int n)
{
	int done;

	return q_settle(db, project_id, uuids, n, Q_ROLLBACK, &done);
}

int quota_reservations_live(db_conn *db, const char *project_id, const char *const *uuids, int n,
			    int *known, int *live)
{
	/* Room for 64 quoted uuids; a longer list does not fit and is refused. */
	char buf[64 * 40 + 8];
	struct db_array arr;
	PGresult *r;
	int rc;

	*known = *live = 0;
	if (n <= 0)
		return DB_OK;
	db_array_init(&arr, buf, sizeof(buf));
	for (int i = 0; i < n; i++)
		db_array_add(&arr, uuids[i]);
	const char *params[] = { project_id, db_array_text(&arr) };
	if (params[1] == NULL)
		return DB_REJECT;
	rc = db_exec(db,
		     "SELECT count(*), count(*) FILTER (WHERE deleted = false) FROM reservations "
		     "WHERE project_id = $1 AND uuid = ANY($2::varchar[])",
		     2, params, &r);
	if (rc == DB_OK) {
		*known = (int)q_long(r, 0, 0);
		*live = (int)q_long(r, 0, 1);
		PQclear(r);
	}
	return rc;
}

int quota_reserve_and_commit(db_conn *db, const struct quota_defaults *d, const char *project_id,
			     const struct quota_delta *deltas, int ndeltas, struct quota_over *over)
{
	char uuids[QUOTA_MAX_DELTAS][37];
	const char *ptrs[QUOTA_MAX_DELTAS];
	int rc;

	rc = quota_reserve(db, d, project_id, deltas, ndeltas, uuids, over);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < ndeltas; i++)
		ptrs[i] = uuids[i];
	return quota_commit(db, project_id, ptrs, ndeltas);
}

static bool q_same_project(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int quota_expire(db_conn *db, int *n)
{
	const char *uuids[Q_MAX_UUIDS];
	PGresult *r;
	int rows, start = 0;
	int rc;

	*n = 0;
	rc = db_exec(db, q_sql_expired, 0, NULL, &r);
	if (rc != DB_OK)
		return rc;
	rows = PQntuples(r);
	/* Rows come ordered by project: settle each project's run, in chunks. */
	while (start < rows && rc == DB_OK) {
		const char *project = PQgetisnull(r, start, 0) ? NULL : PQgetvalue(r, start, 0);
		int count = 0, done = 0;

		while (start + count < rows && count < Q_MAX_UUIDS &&
		       q_same_project(project, PQgetisnull(r, start + count, 0) ? NULL :
				      PQgetvalue(r, start + count, 0))) {
			uuids[count] = PQgetvalue(r, start + count, 1);
			count++;
		}
		rc = q_settle(db, project, uuids, count, Q_EXPIRE, &done);
		*n += done;
		start += count;
	}
	PQclear(r);
	if (rc == DB_OK && *n > 0)
		log_info("quota: expired %d reservations", *n);
	return rc;
}

/* ---- administration and reporting ---- */

int quota_set_limit(db_conn *db, const char *project_id, const char *resource, long limit)
{
	char lim[24];
	const char *p[3] = { project_id, resource, lim };

	if (limit < -1 || limit > INT32_MAX)
		return DB_REJECT;
	q_fmt(lim, sizeof(lim), limit);
	return db_exec(db, q_sql_set_limit, 3, p, NULL);
}

int quota_resource_usage(db_conn *db, const struct quota_defaults *d, const char *project_id,
			 const char *resource, struct quota_usage_row *row)
{
	const char *p[2] = { project_id, resource };
	PGresult *r;
	int rc;

	if (util_strlcpy(row->resource, resource, sizeof(row->resource)) >= sizeof(row->resource))
		return DB_REJECT;
	rc = quota_get_limit(db, d, project_id, resource, &row->limit);
	if (rc != DB_OK)
		return rc;
	rc = db_exec(db, q_sql_usage_get, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	row->in_use = PQntuples(r) > 0 ? q_long(r, 0, 0) : 0;
	row->reserved = PQntuples(r) > 0 ? q_long(r, 0, 1) : 0;
	PQclear(r);
	return DB_OK;
}

int quota_project_usage(db_conn *db, const struct quota_defaults *d, const char *project_id,
			struct quota_usage_row *rows, int max, int *n)
{
	static const char *const base[] = { "volumes", "snapshots", "gigabytes",
					    "per_volume_gigabytes" };
	static const char *const per_type[] = { "volumes", "snapshots", "gigabytes" };
	PGresult *types = NULL;
	int rc = DB_OK;

	*n = 0;
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]) && *n < max && rc == DB_OK; i++) {
		rc = quota_resource_usage(db, d, project_id, base[i], &rows[*n]);
		if (rc == DB_OK)
			(*n)++;
	}
	if (rc != DB_OK)
		return rc;
	rc = db_exec(db, q_sql_type_names, 0, NULL, &types);
	if (rc != DB_OK)
		return rc;
	for (int t = 0; t < PQntuples(types) && rc == DB_OK; t++) {
		for (size_t i = 0; i < sizeof(per_type) / sizeof(per_type[0]); i++) {
			char res[QUOTA_RESOURCE_MAX + 1];

			if (*n == max) {
				log_warning("quota: usage of project %s truncated at %d rows",
					    project_id, max);
				goto out;
			}
			if (quota_type_resource(per_type[i], PQgetvalue(types, t, 0), res,
						sizeof(res)) != 0)
				continue;
			rc = quota_resource_usage(db, d, project_id, res, &rows[*n]);
			if (rc != DB_OK)
				break;
			(*n)++;
		}
	}
out:
	PQclear(types);
	return rc;
}

/* Cinder's update_quota_resource: the per-type rows follow a renamed type. A usage row is
 * marked for refresh (until_refresh = 1), as Cinder's quota_usage_update_resource does. The
 * rows a deleted type of the new name left behind go first (soft-deleted; never the type's
 * own when the name does not change), so that a resource never has two live rows: the
 * renamed type's are the ones that count. */
#define Q_RENAME(table, set) \
	"UPDATE " table " SET deleted = true, deleted_at = " Q_NOW \
	" WHERE resource = $2 AND resource <> $1 AND NOT COALESCE(deleted, false)", \
	"UPDATE " table " SET resource = $2" set \
	" WHERE resource = $1 AND NOT COALESCE(deleted, false)"
static const char *const q_sql_rename[] = {
	Q_RENAME("quota_usages", ", until_refresh = 1"),
	Q_RENAME("quota_classes", ""),
	Q_RENAME("quotas", ""),
};

#define Q_NRENAME (sizeof(q_sql_rename) / sizeof(q_sql_rename[0]))

int quota_rename_type(db_conn *db, const char *old_name, const char *new_name)
{
	static const char *const per_type[] = { "volumes", "gigabytes", "snapshots" };
	int rc = DB_OK;

	for (size_t i = 0; rc == DB_OK && i < sizeof(per_type) / sizeof(per_type[0]); i++) {
		char from[QUOTA_RESOURCE_MAX + 1], to[QUOTA_RESOURCE_MAX + 1];
		const char *p[2] = { from, to };

		if (quota_type_resource(per_type[i], old_name, from, sizeof(from)) != 0 ||
		    quota_type_resource(per_type[i], new_name, to, sizeof(to)) != 0)
			return DB_REJECT;
		for (size_t j = 0; rc == DB_OK && j < Q_NRENAME; j++)
			rc = db_exec(db, q_sql_rename[j], 2, p, NULL);
	}
	return rc;
}

/* ---- audit ---- */

struct q_audit_txn {
	const char *usage_id;
	bool repair;
	bool gone;
	struct quota_audit_row *row;
};

static int q_audit_txn(db_conn *db, void *arg)
{
	struct q_audit_txn *t = arg;
	struct quota_audit_row *row = t->row;
	const char *p[1] = { t->usage_id };
	PGresult *r = NULL;
	int rc;

	t->gone = false;
	row->repaired = false;
	rc = db_exec(db, "SELECT in_use, reserved, until_refresh FROM quota_usages"
		     " WHERE id = $1::integer AND deleted = false FOR UPDATE", 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		t->gone = true;     /* deleted since it was listed */
		return DB_OK;
	}
	struct q_usage u = { .in_use = q_long(r, 0, 0), .reserved = q_long(r, 0, 1),
			     .has_until = !PQgetisnull(r, 0, 2), .until_refresh = q_long(r, 0, 2) };
	PQclear(r);
	row->in_use = u.in_use;
	row->reserved = u.reserved;
	row->actual_in_use = u.in_use;
	if (q_classify(row->resource).kind != NULL) {
		rc = q_sync(db, row->project_id, row->resource, &row->actual_in_use);
		if (rc != DB_OK)
			return rc;
	}
	rc = db_exec(db, "SELECT coalesce(sum(delta), 0) FROM reservations WHERE usage_id ="
		     " $1::integer AND deleted IS NOT TRUE AND delta > 0", 1, p, &r);
	if (rc != DB_OK)
		return rc;
	row->actual_reserved = q_long(r, 0, 0);
	PQclear(r);
	row->drift = row->actual_in_use != row->in_use || row->actual_reserved != row->reserved;
	if (!row->drift || !t->repair)
		return DB_OK;
	u.id = strtol(t->usage_id, NULL, 10);
	u.dirty = true;
	u.in_use = row->actual_in_use;
	u.reserved = row->actual_reserved;
	rc = q_write_all(db, &u, 1);
	row->repaired = rc == DB_OK;
	return rc;
}

int quota_audit(db_conn *db, const char *project_id, bool repair, int max_rows,
		quota_audit_fn fn, void *arg)
{
	char limit[16];
	const char *p[2] = { project_id, limit };
	PGresult *list = NULL;
	int rc;

	snprintf(limit, sizeof(limit), "%d", max_rows);
	rc = db_exec(db, "SELECT id, project_id, resource FROM quota_usages WHERE deleted = false"
		     " AND ($1::text IS NULL OR project_id = $1) ORDER BY project_id, resource, id"
		     " LIMIT $2::integer", 2, p, &list);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(list) && rc == DB_OK; i++) {
		struct quota_audit_row row;
		struct q_audit_txn t = { PQgetvalue(list, i, 0), repair, false, &row };

		memset(&row, 0, sizeof(row));
		snprintf(row.project_id, sizeof(row.project_id), "%s", PQgetvalue(list, i, 1));
		snprintf(row.resource, sizeof(row.resource), "%s", PQgetvalue(list, i, 2));
		rc = db_transaction(db, q_audit_txn, &t, Q_AUDIT_TXN_ATTEMPTS);
		if (rc == DB_OK && !t.gone)
			rc = fn(arg, &row);
	}
	PQclear(list);
	return rc;
}
