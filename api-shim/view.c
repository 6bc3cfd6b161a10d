/*
 * view.c - Cinder's volume views (see view.h).
 */
#include "api-shim/view.h"

#include <stdio.h>
#include <string.h>

#include "core/glance_md.h"
#include "proto/names.h"
#include "api-shim/policy.h"

#define URL_MAX 1024

/* Admin-metadata keys shown to everyone in "metadata" (cinder.api.api_utils), plus the key
 * the extend-completion spec planned to show so that the compute side reads the target size. */
/* The extension attributes of a volume's view, each shown to whom its policy allows. */
static const struct policy tenant_attribute = { "volume_extension:volume_tenant_attribute",
						POLICY_ADMIN_API };
static const struct policy host_attribute = { "volume_extension:volume_host_attribute",
					      POLICY_ADMIN_API };
static const struct policy mig_status_attribute = {
	"volume_extension:volume_mig_status_attribute", POLICY_ADMIN_API,
};
static const struct policy image_md_show = { "volume_extension:volume_image_metadata:show",
					     POLICY_ADMIN_OR_OWNER };

static const char *const visible_admin_keys[] = {
	ADMIN_MD_READONLY,
	ADMIN_MD_ATTACHED_MODE,
	ADMIN_MD_EXTEND_NEW_SIZE,
};

int view_load(db_conn *db, const char *id, bool for_update, struct vol_full *out)
{
	int rc = vol_get(db, id, for_update, &out->row);

	out->nmd = out->namd = out->nimd = 0;
	if (rc != DB_OK)
		return rc;
	rc = vol_metadata_list(db, id, out->md, VIEW_MAX_KV, &out->nmd);
	if (rc != DB_OK)
		return rc;
	rc = gmd_list(db, id, out->imd, VIEW_MAX_KV, &out->nimd);
	if (rc != DB_OK)
		return rc;
	return vol_admin_md_list(db, id, out->amd, VIEW_MAX_KV, &out->namd);
}

bool view_visible(const struct shim_request *r, const struct vol_row *row)
{
	static const struct policy get = { "volume:get", POLICY_ADMIN_OR_OWNER };

	return policy_allowed(&r->auth, &get, row->project_id);
}

void view_reply_list(struct shim_request *r, const char *collection, int n,
		     json_t *(*item)(void *arg, int i, bool *skip), void *arg)
{
	json_t *list = json_array();

	for (int i = 0; list != NULL && i < n; i++) {
		bool skip = false;
		json_t *o = item(arg, i, &skip);

		if (o == NULL && skip)
			continue;
		if (o == NULL || json_array_append_new(list, o) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	if (list == NULL)
		fault_reply(r, 500, FAULT_MSG_INTERNAL);
	else
		req_reply(r, 200, json_pack("{s:o}", collection, list));
}

json_t *view_time(const char *iso)
{
	return iso != NULL && iso[0] != '\0' ? json_string(iso) : json_null();
}

static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* "/<project>" when the URL had the project id, else "". */
static void project_prefix(const struct shim_request *r, char *out, size_t outlen)
{
	if (r->project_in_url && r->ncaptures > 0)
		snprintf(out, outlen, "/%s", r->captures[0]);
	else if (outlen > 0)
		out[0] = '\0';
}

void view_v3_url(const struct shim_request *r, const char *rest, char *out, size_t outlen)
{
	char base[320], prefix[300];

	req_base_url(r, base, sizeof(base));
	project_prefix(r, prefix, sizeof(prefix));
	snprintf(out, outlen, "%s/v3%s/%s", base, prefix, rest);
}

json_t *view_links(const struct shim_request *r, const char *collection, const char *id)
{
	char base[320], prefix[300], self[URL_MAX], bookmark[URL_MAX];

	/* Cinder puts the project into the links only when the URL had it. */
	project_prefix(r, prefix, sizeof(prefix));
	req_base_url(r, base, sizeof(base));
	snprintf(self, sizeof(self), "%s/v3%s/%s/%s", base, prefix, collection, id);
	snprintf(bookmark, sizeof(bookmark), "%s%s/%s/%s", base, prefix, collection, id);
	return json_pack("[{s:s, s:s}, {s:s, s:s}]", "rel", "self", "href", self,
			 "rel", "bookmark", "href", bookmark);
}

json_t *view_volume_summary(const struct shim_request *r, const char *id, const char *name)
{
	return json_pack("{s:s, s:o, s:o}", "id", id, "name", str_or_null(name),
			 "links", view_links(r, "volumes", id));
}

/* Cinder's _get_attachments: the attached rows; host names for admins only. */
static json_t *attachments(const struct shim_request *r, const struct vol_row *row)
{
	json_t *arr = json_array();
	int n = row->nattachments < VOL_MAX_ATTACHMENTS ? row->nattachments : VOL_MAX_ATTACHMENTS;

	for (int i = 0; arr != NULL && i < n; i++) {
		const struct vol_attachment *a = &row->attachments[i];
		json_t *o;

		if (strcmp(a->attach_status, VOL_AS_ATTACHED) != 0)
			continue;
		o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}",
			      "id", row->id, "attachment_id", a->id, "volume_id", row->id,
			      "server_id", str_or_null(a->instance_uuid),
			      "host_name", r->auth.is_admin ? str_or_null(a->attached_host) :
			      json_null(),
			      "device", str_or_null(a->mountpoint),
			      "attached_at", view_time(a->attach_time));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static bool visible_admin_key(const char *key)
{
	for (size_t i = 0; i < sizeof(visible_admin_keys) / sizeof(visible_admin_keys[0]); i++)
		if (strcmp(key, visible_admin_keys[i]) == 0)
			return true;
	return false;
}

json_t *view_kv_object(const struct vol_kv *kv, int n)
{
	json_t *o = json_object();

	for (int i = 0; o != NULL && i < n; i++)
		if (json_object_set_new(o, kv[i].key, json_string(kv[i].value)) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* Metadata merged with the visible admin metadata, which wins on a shared key. */
static json_t *metadata(const struct vol_full *v)
{
	json_t *md = view_kv_object(v->md, v->nmd);

	for (int i = 0; md != NULL && i < v->namd; i++)
		if (visible_admin_key(v->amd[i].key) &&
		    json_object_set_new(md, v->amd[i].key, json_string(v->amd[i].value)) != 0)
			goto fail;
	return md;
fail:
	json_decref(md);
	return NULL;
}

/* Sets key in o; a NULL value (allocation failure) poisons the object via *ok. */
static void set(json_t *o, const char *key, json_t *val, bool *ok)
{
	if (val == NULL || json_object_set_new(o, key, val) != 0)
		*ok = false;
}

json_t *view_volume_detail(const struct shim_request *r, const struct vol_full *v)
{
	const struct vol_row *row = &v->row;
	bool admin = r->auth.is_admin, ok = true;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	set(o, "id", json_string(row->id), &ok);
	set(o, "status", json_string(row->status), &ok);
	set(o, "size", json_integer(row->size), &ok);
	set(o, "availability_zone", str_or_null(row->availability_zone), &ok);
	set(o, "created_at", view_time(row->created_at), &ok);
	set(o, "updated_at", view_time(row->updated_at), &ok);
	set(o, "attachments", attachments(r, row), &ok);
	set(o, "name", str_or_null(row->display_name), &ok);
	set(o, "description", str_or_null(row->display_description), &ok);
	set(o, "volume_type", json_string(row->volume_type_name[0] != '\0' ?
					  row->volume_type_name : row->volume_type_id), &ok);
	set(o, "snapshot_id", str_or_null(row->snapshot_id), &ok);
	set(o, "source_volid", str_or_null(row->source_volid), &ok);
	set(o, "metadata", metadata(v), &ok);
	set(o, "links", view_links(r, "volumes", row->id), &ok);
	set(o, "user_id", str_or_null(row->user_id), &ok);
	set(o, "bootable", json_string(row->bootable ? "true" : "false"), &ok);
	set(o, "encrypted", json_false(), &ok);
	set(o, "replication_status", json_null(), &ok);
	set(o, "consistencygroup_id", json_null(), &ok);
	set(o, "multiattach", json_boolean(row->multiattach), &ok);
	if (admin)
		set(o, "migration_status", str_or_null(row->migration_status), &ok);
	if (req_ver_ge(r, 3, 13))
		set(o, "group_id", json_null(), &ok);
	if (admin && req_ver_ge(r, 3, 21))
		set(o, "provider_id", json_null(), &ok);
	if (req_ver_ge(r, 3, 48)) {
		/* volmgr inserts volumes with shared_targets true, Cinder's default. */
		set(o, "shared_targets", json_true(), &ok);
		set(o, "service_uuid", json_null(), &ok);
	}
	if (admin && req_ver_ge(r, 3, 61))
		set(o, "cluster_name", str_or_null(row->cluster_name), &ok);
	if (req_ver_ge(r, 3, 63))
		set(o, "volume_type_id", json_string(row->volume_type_id), &ok);
	if (req_ver_ge(r, 3, 65))
		set(o, "consumes_quota", json_boolean(row->use_quota), &ok);
	if (policy_allowed(&r->auth, &tenant_attribute, row->project_id))
		set(o, "os-vol-tenant-attr:tenant_id", str_or_null(row->project_id), &ok);
	if (policy_allowed(&r->auth, &host_attribute, row->project_id))
		set(o, "os-vol-host-attr:host", str_or_null(row->host), &ok);
	if (policy_allowed(&r->auth, &mig_status_attribute, row->project_id)) {
		set(o, "os-vol-mig-status-attr:migstat", str_or_null(row->migration_status), &ok);
		set(o, "os-vol-mig-status-attr:name_id", str_or_null(row->name_id), &ok);
	}
	/* Cinder's volume_image_metadata extension: only a volume that has image metadata gets
	 * the key, for whoever may read the volume's metadata. */
	if (v->nimd > 0 && policy_allowed(&r->auth, &image_md_show, row->project_id))
		set(o, "volume_image_metadata", view_kv_object(v->imd, v->nimd), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}
