/*
 * snapshot_metadata.c - the snapshot metadata routes (Cinder's snapshot_metadata controller
 * and its volume API's snapshot metadata methods, docs/cinder.md §17.5): GET, POST (merge)
 * and PUT (replace) of /snapshots/{id}/metadata, GET, PUT and DELETE of one key.
 */
#include <stdlib.h>
#include <string.h>

#include "core/snapshot.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/policy.h"
#include "api-shim/snapshots.h"
#include "api-shim/validate.h"
#include "api-shim/view.h"

#define OWNER(name) { name, POLICY_ADMIN_OR_OWNER }

static const struct policy md_get_policy = OWNER("volume:get_snapshot_metadata");
static const struct policy md_update_policy = OWNER("volume:update_snapshot_metadata");
static const struct policy md_delete_policy = OWNER("volume:delete_snapshot_metadata");

/* Cinder's check_metadata_properties for the metadata routes (which have no schema):
 * 400 for a key that is empty or a value that is no string, 413 for more than 255
 * characters. Returns 0, or -1 with the fault set. */
static int md_check(struct shim_request *r, const json_t *md)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)md, key, val) {
		if (key[0] == '\0') {
			fault_reply(r, 400, "Invalid metadata: Invalid input received: Metadata "
				    "key:  has a minimum character requirement of 1.");
			return -1;
		}
		if (!json_is_string(val)) {
			fault_reply(r, 400, "Invalid metadata: Invalid input received: Value for "
				    "metadata key: %s is not a string or unicode", key);
			return -1;
		}
		if (validate_utf8_chars(key) > VALIDATE_NAME_MAX_CHARS) {
			fault_reply(r, 413, "Invalid metadata size: Metadata property key %s "
				    "greater than 255 characters.", key);
			return -1;
		}
		if (validate_utf8_chars(json_string_value(val)) > VALIDATE_NAME_MAX_CHARS) {
			fault_reply(r, 413, "Invalid metadata size: Metadata property key %s value "
				    "greater than 255 characters.", key);
			return -1;
		}
	}
	return validate_metadata_count(r, md);
}

/* The body {entity: {...}} of a metadata write, as Cinder's assert_valid_body requires it,
 * checked. Returns the inner object, or NULL with the fault set. */
static const json_t *md_body(struct snap_req *s, const char *entity)
{
	struct shim_request *r = s->t.r;
	const json_t *md;

	s->body = req_json_body(r);
	if (s->body == NULL)
		return NULL;
	md = json_is_object(s->body) ? json_object_get(s->body, entity) : NULL;
	if (md == NULL || !json_is_object(md)) {
		fault_reply(r, 400, "Missing required element '%s' in request body.", entity);
		return NULL;
	}
	return md_check(r, md) == 0 ? md : NULL;
}

/* The snapshot's metadata as a JSON object in s->reply. */
static int md_reply(db_conn *db, struct snap_req *s)
{
	struct vol_kv *kv = malloc(VIEW_MAX_KV * sizeof(*kv));
	int n = 0, rc = kv != NULL ? snap_md_list(db, s->id, kv, VIEW_MAX_KV, &n) : DB_REJECT;

	json_decref(s->reply);
	s->reply = rc == DB_OK ? json_object() : NULL;
	for (int i = 0; s->reply != NULL && i < n; i++)
		json_object_set_new(s->reply, kv[i].key, json_string(kv[i].value));
	free(kv);
	if (rc != DB_OK)
		return rc;
	return s->reply != NULL ? DB_OK : txn_internal(&s->t);
}

/* The snapshot for a metadata route, with the route's policy. */
static int md_load(db_conn *db, struct snap_req *s, const struct policy *policy, bool lock)
{
	int rc = snapshots_load_visible(db, &s->t, s->id, lock, &s->snap);

	if (rc == DB_OK && !policy_enforce(s->t.r, policy, s->snap.project_id))
		return TXN_FAULT;
	return rc;
}

static int md_list_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	int rc = md_load(db, s, &md_get_policy, false);

	return rc == DB_OK ? md_reply(db, s) : rc;
}

/* POST merges (create), PUT replaces (update_all). */
static int md_write_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	const char *key;
	json_t *val;
	const char **keys = NULL;
	struct vol_kv *have = NULL;
	int n = 0, rc = md_load(db, s, &md_update_policy, true);

	if (rc != DB_OK)
		return rc;
	/* The total after the write, as the volume metadata's write bounds it. */
	have = malloc(VIEW_MAX_KV * sizeof(*have));
	if (have == NULL)
		return txn_internal(&s->t);
	rc = snap_md_list(db, s->id, have, VIEW_MAX_KV, &n);
	if (rc == DB_OK && validate_metadata_total(s->t.r, have, n, s->metadata, s->replace) != 0)
		rc = TXN_FAULT;
	free(have);
	n = 0;
	if (rc != DB_OK)
		return rc;
	json_object_foreach((json_t *)s->metadata, key, val) {
		rc = snap_md_set(db, s->id, key, json_string_value(val));
		if (rc != DB_OK)
			return rc;
	}
	if (s->replace) {
		keys = malloc((json_object_size(s->metadata) + 1) * sizeof(*keys));
		if (keys == NULL)
			return txn_internal(&s->t);
		json_object_foreach((json_t *)s->metadata, key, val)
			keys[n++] = key;
		rc = snap_md_delete_others(db, s->id, keys, n);
		free(keys);
		if (rc != DB_OK)
			return rc;
	}
	return md_reply(db, s);
}

static void md_reply_as(struct snap_req *s, const char *wrapper)
{
	req_reply(s->t.r, 200, json_pack("{s:o}", wrapper, s->reply));
	s->reply = NULL;
}

void snapshots_metadata_list(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s != NULL && txn_run(&s->t, md_list_txn) == 0)
		md_reply_as(s, "metadata");
}

/* POST (merge) and PUT (replace) of the whole metadata. */
static void md_write(struct shim_request *r, bool replace)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s == NULL || (s->metadata = md_body(s, "metadata")) == NULL)
		return;
	s->replace = replace;
	if (txn_run(&s->t, md_write_txn) == 0)
		md_reply_as(s, "metadata");
}

void snapshots_metadata_create(struct shim_request *r)
{
	md_write(r, false);
}

void snapshots_metadata_update_all(struct shim_request *r)
{
	md_write(r, true);
}

/* Cinder's SnapshotMetadataNotFound. */
static int md_not_found(struct snap_req *s)
{
	fault_reply(s->t.r, 404, "Snapshot %s has no metadata with key %s.", s->id, s->key);
	return TXN_FAULT;
}

static int md_show_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	int rc = md_load(db, s, &md_get_policy, false);
	json_t *v;

	if (rc == DB_OK)
		rc = md_reply(db, s);
	if (rc != DB_OK)
		return rc;
	v = json_object_get(s->reply, s->key);
	if (v == NULL)
		return md_not_found(s);
	v = json_pack("{s:O}", s->key, v);
	json_decref(s->reply);
	s->reply = v;
	return v != NULL ? DB_OK : txn_internal(&s->t);
}

void snapshots_metadata_show(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s != NULL && txn_run(&s->t, md_show_txn) == 0)
		md_reply_as(s, "meta");
}

static int md_put_key_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	int rc = md_load(db, s, &md_update_policy, true);

	if (rc == DB_OK)
		rc = snap_md_set(db, s->id, s->key,
				 json_string_value(json_object_get(s->metadata, s->key)));
	if (rc != DB_OK)
		return rc;
	json_decref(s->reply);
	s->reply = json_deep_copy(s->metadata);
	return s->reply != NULL ? DB_OK : txn_internal(&s->t);
}

void snapshots_metadata_update(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s == NULL || (s->metadata = md_body(s, "meta")) == NULL)
		return;
	if (json_object_get(s->metadata, s->key) == NULL) {
		fault_reply(r, 400, "Request body and URI mismatch");
		return;
	}
	if (json_object_size(s->metadata) > 1) {
		fault_reply(r, 400, "Request body contains too many items");
		return;
	}
	if (txn_run(&s->t, md_put_key_txn) == 0)
		md_reply_as(s, "meta");
}

static int md_delete_txn(db_conn *db, void *arg)
{
	struct snap_req *s = arg;
	int rc = md_load(db, s, &md_delete_policy, true);

	if (rc == DB_OK)
		rc = snap_md_delete(db, s->id, s->key);
	return rc == VOL_NOT_FOUND ? md_not_found(s) : rc;
}

void snapshots_metadata_delete(struct shim_request *r)
{
	struct snap_req *s = snapshots_req_new(r, false);

	if (s != NULL && txn_run(&s->t, md_delete_txn) == 0)
		req_reply(r, 200, NULL);
}
