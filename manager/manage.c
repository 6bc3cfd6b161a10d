/*
 * manage.c - manage_existing and get_manageable_volumes: a backing store no volume owns
 * becomes a volume, and the backend's stores are listed for an operator to choose from
 * (docs/cinder.md §20).
 *
 * Cinder's manager flow for manage_existing, in one transaction: the driver's size of the
 * store (rounded up to whole GiB), the quota of that size (gigabytes and its per-type form;
 * the API already committed volumes 1), the driver's adoption of the store, then the volume
 * available with that size, counted in its pool. A reference that names nothing adoptable,
 * a store another volume owns or a size over quota leave the volume error_managing, as
 * Cinder's flow reverts.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/quota.h"
#include "core/settings.h"
#include "manager/handlers.h"
#include "manager/records.h"
#include "proto/json.h"
#include "proto/names.h"

#define MG_ERR_MAX 512

/* The store name a manage reference means: {"source-name": name}, or {"source-id": id} for
 * the store of the volume id once was ("volume-<id>", the name unmanage leaves behind).
 * Returns buf, or NULL when the reference says neither. */
static const char *mg_ref_name(const struct pv *ref, char *buf, size_t len)
{
	const char *name = pv_str(pv_get(ref, "source-name"));
	const char *id = pv_str(pv_get(ref, "source-id"));
	int n;

	if (name != NULL)
		n = snprintf(buf, len, "%s", name);
	else if (id != NULL)
		n = snprintf(buf, len, "volume-%s", id);
	else
		return NULL;
	return n >= 0 && (size_t)n < len ? buf : NULL;
}

/* A failed manage, as Cinder's flow leaves it: status error_managing, committed. */
__attribute__((format(printf, 4, 5)))
static int mg_error(db_conn *db, struct job *job, const char *outcome, const char *fmt, ...)
{
	const char *id = job->args.manage_existing.volume_id;
	char why[MG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_error("Volume %s: manage failed: %s; status set to %s.", id, why,
		  VOL_S_ERROR_MANAGING);
	job_failed(job, outcome);
	return vol_set_status(db, id, VOL_S_ERROR_MANAGING, -1);
}

/* The live volume (other than self_id) or snapshot that owns store st, by the uuid its name
 * carries: cinder_id gets its id, "" when none does. Returns DB_OK or a negative db status. */
static int mg_owner(db_conn *db, const struct drv_store *st, const char *self_id,
		    char cinder_id[37], int *size)
{
	static const char sql_volume[] =
		"SELECT id, size FROM volumes WHERE NOT COALESCE(deleted, false) AND "
		"COALESCE(NULLIF(_name_id, ''), id) = $1 AND id <> $2 LIMIT 1";
	static const char sql_snapshot[] =
		"SELECT id, volume_size FROM snapshots WHERE NOT COALESCE(deleted, false) AND "
		"id = $1 LIMIT 1";
	const char *params[2] = { st->owner_id, self_id };
	PGresult *res = NULL;
	int rc;

	cinder_id[0] = '\0';
	if (st->owner_kind[0] == '\0')
		return DB_OK;
	rc = db_exec(db, strcmp(st->owner_kind, "volume") == 0 ? sql_volume : sql_snapshot,
		     strcmp(st->owner_kind, "volume") == 0 ? 2 : 1, params, &res);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) > 0) {
		util_strlcpy(cinder_id, PQgetvalue(res, 0, 0), 37);
		*size = atoi(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return DB_OK;
}

/* Cinder's manage_existing_get_size: the bytes rounded up to whole GiB; an empty store
 * still makes a volume of 1 GiB (docs/differences.md). */
static int mg_gib(long long bytes)
{
	long long gib = (bytes + VOL_GIB - 1) / VOL_GIB;

	return gib < 1 ? 1 : gib > INT32_MAX ? INT32_MAX : (int)gib;
}

/* The quota of the managed size (Cinder's QuotaReserveTask with update_size: gigabytes and
 * its per-type form, no volumes): the per-volume limit, then reserve and commit. Returns
 * DB_OK, QUOTA_OVER (why set) or a negative db status. */
static int mg_quota(db_conn *db, const struct vol_row *v, int gib, char *why, size_t whylen)
{
	struct quota_delta all[QUOTA_VOLUME_DELTAS], d[QUOTA_VOLUME_DELTAS];
	struct quota_defaults qd;
	struct quota_over over;
	int n = 0, nall, rc;
	long limit;

	settings_quota_defaults(&settings, &qd);
	rc = quota_get_limit(db, &qd, v->project_id, QUOTA_RES_PER_VOLUME_GIGABYTES, &limit);
	if (rc != DB_OK)
		return rc;
	if (limit >= 0 && gib > limit) {
		snprintf(why, whylen, "Requested volume size %dG is larger than maximum allowed "
			 "limit %ldG.", gib, limit);
		return QUOTA_OVER;
	}
	/* quota_volume_deltas lists volumes, gigabytes, then their per-type forms. */
	nall = quota_volume_deltas(v->volume_type_name, 0, gib, all);
	for (int i = 1; i < nall; i += 2)
		d[n++] = all[i];
	memset(&over, 0, sizeof(over));
	rc = quota_reserve_and_commit(db, &qd, v->project_id, d, n, &over);
	if (rc == QUOTA_OVER || rc == QUOTA_OVERFLOW) {
		snprintf(why, whylen, "Requested volume or snapshot exceeds allowed gigabytes quota. "
			 "Requested %dG, quota is %ldG and %ldG has been consumed.", gib, over.limit,
			 over.in_use + over.reserved);
		return QUOTA_OVER;
	}
	return rc;
}

int h_manage_existing(db_conn *db, struct job *job)
{
	const struct proto_args_manage_existing *a = &job->args.manage_existing;
	const char *rid = job->msg->ctx.request_id;
	char name[sizeof(((struct drv_store *)0)->name)], err[MG_ERR_MAX], location[VOL_STR];
	char owner[37];
	struct drv_store st;
	struct vol_row v;
	int owner_size = 0;

	int rc = job_load_volume(db, job, a->volume_id, VOL_S_MANAGING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = rec_notify(db, "manage_existing.start", &v, v.status, v.size, rid);
	if (rc != DB_OK)
		return rc;
	if (mg_ref_name(a->ref, name, sizeof(name)) == NULL)
		return mg_error(db, job, "invalid_reference", "the existing volume reference must "
				"contain \"source-name\" or \"source-id\"");
	if (job_driver->manage_stat(&v, name, &st, err, sizeof(err)) != DRV_OK)
		return mg_error(db, job, "invalid_reference", "%s", err);
	rc = mg_owner(db, &st, v.id, owner, &owner_size);
	if (rc != DB_OK)
		return rc;
	if (owner[0] != '\0')
		return mg_error(db, job, "already_managed", "'%s' is the store of %s %s", st.name,
				st.owner_kind, owner);
	v.size = mg_gib(st.bytes);
	rc = mg_quota(db, &v, v.size, err, sizeof(err));
	if (rc == QUOTA_OVER)
		return mg_error(db, job, "over_quota", "%s", err);
	if (rc != DB_OK)
		return rc;
	/* Last, as Cinder's drivers rename last: nothing after it can fail but the database,
	 * whose failure runs the message again, which then finds the store adopted. */
	if (job_driver->manage(&v, name, location, sizeof(location), err, sizeof(err)) != DRV_OK) {
		snprintf(job->reason, sizeof(job->reason), "volume %s: adopting '%.200s' failed: %.200s",
			 v.id, name, err);
		return JOB_PERMANENT;
	}
	rc = vol_set_status(db, v.id, VOL_S_AVAILABLE, v.size);
	if (rc == DB_OK)
		rc = vol_mark_created(db, v.id, location);
	/* Cinder's _update_stats_for_managed. */
	if (rc == DB_OK)
		rc = rec_pool_add(db, &v, v.size);
	if (rc == DB_OK)
		rc = rec_notify(db, "manage_existing.end", &v, VOL_S_AVAILABLE, v.size, rid);
	if (rc == DB_OK)
		log_info("Volume %s: managed '%s' (%d GiB at %s).", v.id, name, v.size, location);
	job_outcome(job, "managed");
	return rc;
}

int h_manage_existing_failed(db_conn *db, struct job *job)
{
	struct vol_row v;

	int rc = job_load_volume(db, job, job->args.manage_existing.volume_id, VOL_S_MANAGING, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	log_error("Volume %s: manage failed for good; status set to %s.", v.id,
		  VOL_S_ERROR_MANAGING);
	return vol_set_status(db, v.id, VOL_S_ERROR_MANAGING, -1);
}

/* ======================================================== get_manageable_volumes */

/* One entry of the list (Cinder's ManageableVolume). */
struct mg_entry {
	const struct drv_store *st;
	int size;
	char cinder_id[37];        /* "" when safe to manage */
};

/* The order of Cinder's paginate_entries_list. */
struct mg_order {
	bool by_size[PROTO_MANAGEABLE_SORT_MAX];
	bool asc[PROTO_MANAGEABLE_SORT_MAX];
	int n;
};

/* <0, 0, >0 as l sorts before, with, after r. A reference compares by its only value, the
 * store's name. */
static int mg_compare(const struct mg_order *o, const struct mg_entry *l,
		      const struct mg_entry *r)
{
	for (int k = 0; k < o->n; k++) {
		int c = o->by_size[k] ? (l->size > r->size) - (l->size < r->size) :
			strcmp(l->st->name, r->st->name);

		if (c != 0)
			return o->asc[k] ? c : -c;
	}
	return 0;
}

/* Python's sorted() is stable: so is this insertion sort, over a bounded list. */
static void mg_sort(const struct mg_order *o, struct mg_entry *e, int n)
{
	for (int i = 1; i < n; i++) {
		struct mg_entry x = e[i];
		int j = i;

		for (; j > 0 && mg_compare(o, &e[j - 1], &x) > 0; j--)
			e[j] = e[j - 1];
		e[j] = x;
	}
}

/* Reads sort_keys and sort_dirs (lists of strings, paired as Python's zip pairs them: the
 * shorter list decides; absent: Cinder's API default, reference descending). Returns 0, or
 * -1 with the call failed as InvalidInput. */
static int mg_order_parse(struct job *job, const struct pv *keys, const struct pv *dirs,
			  struct mg_order *o)
{
	uint32_t n;

	memset(o, 0, sizeof(*o));
	if (keys == NULL) {
		o->n = 1;
		return 0;
	}
	if (keys->type != PV_ARRAY || (dirs != NULL && dirs->type != PV_ARRAY)) {
		job_fail(job, "InvalidInput", "Invalid input received: sort_keys and sort_dirs "
			 "must be lists");
		return -1;
	}
	n = dirs != NULL && dirs->n < keys->n ? dirs->n : keys->n;
	if (n > PROTO_MANAGEABLE_SORT_MAX) {
		job_fail(job, "InvalidInput", "Invalid input received: at most %d sort keys are "
			 "supported.", PROTO_MANAGEABLE_SORT_MAX);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *k = pv_str(&keys->u.items[i]);
		const char *d = dirs != NULL ? pv_str(&dirs->u.items[i]) : "desc";

		if (k == NULL || (strcmp(k, "reference") != 0 && strcmp(k, "size") != 0)) {
			job_fail(job, "InvalidInput", "Invalid input received: Invalid sort keys "
				 "passed: %s", k != NULL ? k : "?");
			return -1;
		}
		o->by_size[o->n] = strcmp(k, "size") == 0;
		o->asc[o->n++] = d != NULL && strcmp(d, "asc") == 0;
	}
	return 0;
}

/* Where the page starts: after the entry whose reference is marker ({"source-name": name},
 * or that as JSON text), 0 without one. Returns 0, or -1 with the call failed as Cinder's
 * paginate_entries_list fails it. */
static int mg_marker_start(struct job *job, const struct pv *marker, const struct mg_entry *e,
			   int n, int *start)
{
	const struct pv *m = marker;
	const char *text = pv_str(marker), *name;
	json_t *j = NULL;

	*start = 0;
	if (marker == NULL || (text != NULL && text[0] == '\0'))
		return 0;
	if (text != NULL) {
		j = json_loads(text, JSON_DECODE_ANY, NULL);
		m = j != NULL ? proto_pv_from_json(&job->reply_arena, j) : NULL;
		json_decref(j);
		if (m == NULL) {
			job_fail(job, "InvalidInput", "Invalid input received: marker %s can not be "
				 "analysed, please use json like format", text);
			return -1;
		}
	}
	name = m->type == PV_MAP && m->n == 1 ? pv_str(pv_get(m, "source-name")) : NULL;
	for (int i = 0; name != NULL && i < n; i++) {
		if (strcmp(e[i].st->name, name) == 0) {
			*start = i + 1;
			return 0;
		}
	}
	if (name != NULL)
		job_fail(job, "InvalidInput", "Invalid input received: marker not found: "
			 "{'source-name': '%s'}", name);
	else
		job_fail(job, "InvalidInput", "Invalid input received: marker not found: %s",
			 text != NULL ? text : "(not a reference)");
	return -1;
}

/* One entry as Cinder's driver describes it (a dict), or as a ManageableVolume 1.0
 * primitive when objects. */
static struct pv *mg_entry_value(struct pv_arena *a, const struct mg_entry *e, bool objects)
{
	struct pv *ref = pv_new_map(a, 1), *d = pv_new_map(a, 6);
	bool safe = e->cinder_id[0] == '\0';

	pv_map_put_str(a, ref, "source-name", e->st->name);
	pv_map_put(a, d, "reference", ref);
	pv_map_put_int(a, d, "size", e->size);
	pv_map_put_bool(a, d, "safe_to_manage", safe);
	pv_map_put(a, d, "reason_not_safe",
		   safe ? pv_new_null(a) : pv_new_str(a, strcmp(e->st->owner_kind, "volume") == 0 ?
						      "Volume already managed." :
						      "Snapshot already managed."));
	pv_map_put(a, d, "cinder_id", safe ? pv_new_null(a) : pv_new_str(a, e->cinder_id));
	pv_map_put(a, d, "extra_info", pv_new_null(a));
	return objects ? proto_build_object(a, "ManageableVolume", "1.0", d) : d;
}

/* The page e[from, to) as the call's result. Returns DB_OK, or a failure when out of room. */
static int mg_result(struct job *job, const struct mg_entry *e, int from, int to)
{
	const struct proto_args_get_manageable_volumes *a = &job->args.get_manageable_volumes;
	struct pv_arena *ar = &job->reply_arena;
	struct pv *list = pv_new_array(ar, to > from ? (uint32_t)(to - from) : 1), *data;

	for (int i = from; i < to; i++)
		pv_array_push(ar, list, mg_entry_value(ar, &e[i], a->want_objects));
	if (a->want_objects) {
		data = pv_new_map(ar, 1);
		pv_map_put(ar, data, "objects", list);
		list = proto_build_object(ar, "ManageableVolumeList", "1.0", data);
	}
	if (ar->failed || list == NULL)
		return job_fail(job, "CinderException", "the list of manageable volumes is too "
				"long to answer");
	job->result = list;
	return DB_OK;
}

int h_get_manageable_volumes(db_conn *db, struct job *job)
{
	const struct proto_args_get_manageable_volumes *a = &job->args.get_manageable_volumes;
	struct drv_store *stores = NULL;
	struct mg_entry *e = NULL;
	struct mg_order order;
	char err[MG_ERR_MAX];
	long long from, to, skip = a->offset.set ? a->offset.value : 0;
	int n = 0, start, rc = DB_OK;

	if (mg_order_parse(job, a->sort_keys, a->sort_dirs, &order) != 0)
		return DB_OK;
	if (job_driver->list_stores(&stores, &n, err, sizeof(err)) != DRV_OK)
		return job_fail(job, "VolumeBackendAPIException", "Bad or unexpected response from "
				"the storage volume backend API: %s", err);
	e = calloc(n > 0 ? (size_t)n : 1, sizeof(*e));
	if (e == NULL) {
		rc = job_fail(job, "CinderException", "out of memory");
		goto out;
	}
	/* A store a volume owns reports that volume's size, as Cinder's NFS driver does. */
	for (int i = 0; i < n && rc == DB_OK; i++) {
		e[i].st = &stores[i];
		e[i].size = mg_gib(stores[i].bytes);
		rc = mg_owner(db, &stores[i], "", e[i].cinder_id, &e[i].size);
	}
	if (rc != DB_OK)
		goto out;
	mg_sort(&order, e, n);
	if (mg_marker_start(job, a->marker, e, n, &start) != 0)
		goto out;
	/* Python's sorted_entries[start + offset:start + limit + offset]. */
	from = start + skip;
	to = a->limit.set ? start + a->limit.value + skip : n;
	from = from > n ? n : from;
	to = to > n ? n : to < from ? from : to;
	rc = mg_result(job, e, (int)from, (int)to);
out:
	free(e);
	free(stores);
	return rc;
}
