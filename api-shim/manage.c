/*
 * manage.c - os-unmanage and the lists of manageable volumes (docs/cinder.md §20). The
 * manage itself (POST os-volume-manage / manageable_volumes) makes a volume row and casts, as
 * a create does, so it lives with create in volumes.c.
 *
 * The lists (GET os-volume-manage[/detail], GET manageable_volumes[/detail] from 3.8) find
 * the service as Cinder's _get_service_by_host_cluster does, then call
 * get_manageable_volumes on it, which lists, sorts and pages the backend's stores; the answer
 * is Cinder's manageable-volumes view of that page.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/names.h"
#include "api-shim/actions.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/policy.h"
#include "api-shim/schedule.h"
#include "api-shim/shim.h"

/* ======================================================================== unmanage */

int unmanage_body(db_conn *db, struct action_ctx *a)
{
	static const struct volumes_delete_opts o = { .unmanage_only = true };
	bool cast;
	int rc = volumes_delete_begin(db, &a->t, &a->vol->row, &o, &a->rpc, &cast);

	a->skip_cast = !cast;
	return rc;
}

/* ======================================================================== lists */

/* Room for the sort lists and the marker the call carries. */
#define MANAGEABLE_ARENA_CAP (16 * 1024)

static const struct policy list_policy = { "volume_extension:list_manageable",
					   POLICY_ADMIN_API };

/* Cinder's errors of get_manageable_volumes that reach the client as 400 with their
 * message (InvalidInput's "Invalid input received: ..."). */
static const char *const list_bad_request[] = { "InvalidInput", NULL };
static const struct action_failure_map list_failures = { .bad_request = list_bad_request };

/* The request, in an action_ctx so that action_call makes the call (its volume is the
 * service's queue: a row whose host is the service's host or cluster). */
struct list_req {
	struct action_ctx a;         /* first: the transaction's argument */
	bool detail;
	const char *host_arg;
	const char *cluster_arg;
};

static void list_free(void *state)
{
	struct list_req *l = state;

	call_volume_cancel(&l->a.call);
	free(l->a.vol);
	pv_arena_destroy(&l->a.arena);
	free(l);
}

/* Appends the comma-separated items of text (stripped, as Cinder's _split) to list, which
 * has room for PROTO_MANAGEABLE_SORT_MAX. Returns 0, 1 when there are more items than that
 * (nothing pushed past the room), or -1 when the arena is out of memory. */
static int list_split(struct action_ctx *a, const char *text, struct pv *list)
{
	for (const char *p = text; p != NULL; ) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (list->n >= PROTO_MANAGEABLE_SORT_MAX)
			return 1;
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (pv_array_push(&a->arena, list, pv_new_str(&a->arena,
				  pv_arena_strndup(&a->arena, p, len))) != 0)
			return -1;
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

/* Whether each string of list is one of the NULL-ended values; bad gets the others,
 * comma-separated. */
static bool list_valid(const struct pv *list, const char *const *values, char *bad,
		       size_t badlen)
{
	size_t off = 0;

	bad[0] = '\0';
	for (uint32_t i = 0; i < list->n; i++) {
		const char *s = pv_str(&list->u.items[i]);
		bool ok = false;

		for (const char *const *v = values; *v != NULL; v++)
			ok = ok || strcmp(s, *v) == 0;
		if (!ok && off < badlen)
			off += (size_t)snprintf(bad + off, badlen - off, "%s%s", off > 0 ? ", " : "",
						s);
	}
	return bad[0] == '\0';
}

/*
 * Cinder's get_sort_params (default key "reference", direction "desc") and the key and
 * direction checks of its manageable lists. Returns 0, or -1 with Cinder's 400 set.
 */
static int list_sort(struct action_ctx *a, struct pv *keys, struct pv *dirs)
{
	static const char *const valid_keys[] = { "reference", "size", NULL };
	static const char *const valid_dirs[] = { "asc", "desc", NULL };
	struct shim_request *r = a->t.r;
	const char *sort = req_query(r, "sort"), *key = req_query(r, "sort_key");
	const char *dir = req_query(r, "sort_dir");
	char bad[512];
	int rc = 0;

	if (sort != NULL && (key != NULL || dir != NULL)) {
		fault_reply(r, 400, "The 'sort_key' and 'sort_dir' parameters are deprecated and "
			    "cannot be used with the 'sort' parameter.");
		return -1;
	}
	if (sort != NULL) {
		/* "k1:d1,k2": a key without its direction gets the default one. */
		for (const char *p = sort; p != NULL && rc == 0; ) {
			const char *end = strchr(p, ','), *colon;
			size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
			char item[256];

			snprintf(item, sizeof(item), "%.*s", (int)len, p);
			colon = strchr(item, ':');
			if (colon != NULL)
				item[colon - item] = '\0';
			rc = list_split(a, item, keys);
			if (rc == 0)
				rc = list_split(a, colon != NULL && colon[1] != '\0' ? colon + 1 :
						"desc", dirs);
			p = end != NULL ? end + 1 : NULL;
		}
	} else {
		rc = list_split(a, key != NULL ? key : "reference", keys);
		if (rc == 0)
			rc = list_split(a, dir != NULL ? dir : "desc", dirs);
	}
	if (rc == 1) {
		fault_reply(r, 400, "Invalid input received: at most %d sort keys are supported.",
			    PROTO_MANAGEABLE_SORT_MAX);
		return -1;
	}
	if (rc != 0 || a->arena.failed) {
		fault_reply(r, 500, "%s", FAULT_MSG_INTERNAL);
		return -1;
	}
	if (!list_valid(keys, valid_keys, bad, sizeof(bad))) {
		fault_reply(r, 400, "Invalid sort keys passed: %s", bad);
		return -1;
	}
	if (!list_valid(dirs, valid_dirs, bad, sizeof(bad))) {
		fault_reply(r, 400, "Invalid sort dirs passed: %s", bad);
		return -1;
	}
	return 0;
}

/* limit (at most SHIM_MAX_LIMIT, which is also the default) and offset, as Cinder's
 * get_pagination_params reads them. Returns 0, or -1 with a 400 set. */
static int list_counts(struct action_ctx *a)
{
	struct proto_args_get_manageable_volumes *args = &a->rpc.get_manageable_volumes;
	struct shim_request *r = a->t.r;
	const char *limit = req_query(r, "limit"), *offset = req_query(r, "offset");
	long n = SHIM_MAX_LIMIT;

	if (limit != NULL && util_parse_long(limit, -2147483648L, 2147483647L, &n) != 0) {
		fault_reply(r, 400, "limit param must be an integer");
		return -1;
	}
	if (n < 0) {
		fault_reply(r, 400, "limit param must be positive");
		return -1;
	}
	args->limit = (struct proto_opt_count){ true, n > SHIM_MAX_LIMIT ? SHIM_MAX_LIMIT :
						(int)n };
	/* oslo's validate_integer(offset, "offset", 0, 2147483647). */
	n = 0;
	if (offset != NULL && util_parse_long(offset, LONG_MIN, LONG_MAX, &n) != 0) {
		fault_reply(r, 400, "offset must be an integer");
		return -1;
	}
	if (n < 0 || n > 2147483647L) {
		fault_reply(r, 400, n < 0 ? "offset must be >= 0" : "offset must be <= 2147483647");
		return -1;
	}
	args->offset = (struct proto_opt_count){ true, (int)n };
	return 0;
}

/* The query as the call's arguments. Returns 0, or -1 with a 400 set. */
static int list_parse(struct list_req *l)
{
	struct action_ctx *a = &l->a;
	struct proto_args_get_manageable_volumes *args = &a->rpc.get_manageable_volumes;
	struct shim_request *r = a->t.r;
	bool v317 = req_ver_ge(r, 3, 17);
	const char *marker = req_query(r, "marker");
	struct pv *keys = pv_new_array(&a->arena, PROTO_MANAGEABLE_SORT_MAX);
	struct pv *dirs = pv_new_array(&a->arena, PROTO_MANAGEABLE_SORT_MAX);

	if (params_cluster_host(r, req_query(r, "host"), v317 ? req_query(r, "cluster") : NULL,
				v317, &l->host_arg, &l->cluster_arg) != 0 ||
	    list_counts(a) != 0 || list_sort(a, keys, dirs) != 0)
		return -1;
	args->sort_keys = keys;
	args->sort_dirs = dirs;
	args->marker = marker != NULL ? pv_new_str(&a->arena, marker) : NULL;
	/* Cinder's rpcapi asks for objects from 3.10, which the method's row requires. */
	args->want_objects = true;
	if (a->arena.failed) {
		fault_reply(r, 400, "Invalid input received: marker is too long or not UTF-8");
		return -1;
	}
	return 0;
}

/* The service (Cinder's _get_service_by_host_cluster) whose queue the call goes to. */
static int list_txn(db_conn *db, void *arg)
{
	struct list_req *l = arg;
	struct shim_request *r = l->a.t.r;
	const char *named = l->host_arg != NULL ? l->host_arg : l->cluster_arg;
	struct schedule_service svc;
	bool found, exists;
	int rc = schedule_lookup_service(db, l->host_arg, l->cluster_arg, &svc, &found, &exists);

	if (rc != DB_OK)
		return txn_fail(&l->a.t, rc, NULL);
	if (!found) {
		/* Cinder's ServiceNotFound (its service_get's message) reaches the client as
		 * 404. */
		if (exists)
			fault_reply(r, 400, "Service is unavailable at this time.");
		else if (l->host_arg != NULL)
			fault_reply(r, 404, "Service cinder-volume could not be found on host %.*s.",
				    (int)strcspn(named, "#"), named);
		else
			fault_reply(r, 404, "Service cinder-volume could not be found.");
		return TXN_FAULT;
	}
	util_strlcpy(l->a.vol->row.host, svc.cluster_name[0] != '\0' ? svc.cluster_name : svc.host,
		     sizeof(l->a.vol->row.host));
	return DB_OK;
}

/* Cinder's manageable_volumes view of one entry (a dict, or a ManageableVolume primitive's
 * data). */
static json_t *list_entry(const json_t *entry, bool detail)
{
	const json_t *e = json_object_get(entry, "versioned_object.data");
	json_t *v, *more = NULL;

	e = e != NULL ? e : entry;
	v = json_pack("{s:O?,s:O?,s:O?}", "reference", json_object_get(e, "reference"),
		      "size", json_object_get(e, "size"), "safe_to_manage",
		      json_object_get(e, "safe_to_manage"));
	if (detail)
		more = json_pack("{s:O?,s:O?,s:O?}", "reason_not_safe",
				 json_object_get(e, "reason_not_safe"), "cinder_id",
				 json_object_get(e, "cinder_id"), "extra_info",
				 json_object_get(e, "extra_info"));
	if (v != NULL && detail && (more == NULL || json_object_update(v, more) != 0)) {
		json_decref(v);
		v = NULL;
	}
	json_decref(more);
	return v;
}

/* The call's answer: a ManageableVolumeList primitive (or a plain list) as Cinder's view. */
static void list_answer(struct action_ctx *a, json_t *result)
{
	struct list_req *l = (struct list_req *)a;
	const json_t *data = json_object_get(result, "versioned_object.data");
	const json_t *items = data != NULL ? json_object_get(data, "objects") : result;
	json_t *out = json_array(), *entry;
	size_t i, n = json_array_size(items);

	json_array_foreach(items, i, entry)
		if (json_array_append_new(out, list_entry(entry, l->detail)) != 0)
			break;
	json_decref(result);
	if (out == NULL || json_array_size(out) != n) {
		json_decref(out);
		fault_reply(a->t.r, 500, "%s", FAULT_MSG_INTERNAL);
		return;
	}
	req_reply(a->t.r, 200, json_pack("{s:o}", "manageable-volumes", out));
}

static void list_serve(struct shim_request *r, bool detail)
{
	struct list_req *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	l->a.t.r = r;
	l->a.call.slot = -1;
	l->detail = detail;
	pv_arena_init(&l->a.arena, MANAGEABLE_ARENA_CAP);
	r->state = l;
	r->state_free = list_free;
	l->a.vol = calloc(1, sizeof(*l->a.vol));
	if (l->a.vol == NULL) {
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
		return;
	}
	/* Cinder authorizes before it reads the query. */
	if (!policy_enforce(r, &list_policy, r->auth.project_id) || list_parse(l) != 0 ||
	    txn_run(&l->a.t, list_txn) != 0)
		return;
	action_call(&l->a, PROTO_M_GET_MANAGEABLE_VOLUMES, &list_failures, list_answer);
}

void manageable_list(struct shim_request *r)
{
	list_serve(r, false);
}

void manageable_list_detail(struct shim_request *r)
{
	list_serve(r, true);
}
