/*
 * view.h - Cinder's JSON views of a volume (cinder.api.v2.views.volumes and
 * cinder.api.v3.views.volumes plus the attribute extensions), shaped so that
 * python-cinderclient parses them.
 *
 * The detail view carries the fields of the request's microversion, the admin-only
 * attributes (os-vol-tenant-attr, os-vol-host-attr, os-vol-mig-status-attr, migration_status,
 * attachment host names) for admins only, and "metadata" = the volume's metadata merged with
 * its visible admin metadata: readonly, attached_mode and, as the extend-completion spec
 * planned, extend_new_size (admin metadata wins over a user key of the same name).
 */
#ifndef VOLMGR_SHIM_VIEW_H
#define VOLMGR_SHIM_VIEW_H

#include <stdbool.h>
#include <jansson.h>
#include "common/db.h"
#include "core/volume.h"
#include "api-shim/request.h"

#define VIEW_MAX_KV 64

/* A volume row with its metadata, as the detail view needs it. Large: allocate on the heap. */
struct vol_full {
	struct vol_row row;
	struct vol_kv md[VIEW_MAX_KV];
	int nmd;
	struct vol_kv amd[VIEW_MAX_KV];
	int namd;
	struct vol_kv imd[VIEW_MAX_KV]; /* image metadata (core/glance_md.h) */
	int nimd;
};

/* Loads volume id with its metadata, image metadata and admin metadata (at most VIEW_MAX_KV of each).
 * Returns DB_OK, VOL_NOT_FOUND or a negative db status. */
__attribute__((warn_unused_result))
int view_load(db_conn *db, const char *id, bool for_update, struct vol_full *out);

/* True if the caller may see the volume (policy volume:get); others get a 404, so that the
 * existence of another project's volume does not leak. */
bool view_visible(const struct shim_request *r, const struct vol_row *row);

/* {"id", "name", "links"} (summary; name NULL or "" shows as null) and the full detail
 * object, without the "volume" wrapper. NULL on allocation failure. */
json_t *view_volume_summary(const struct shim_request *r, const char *id, const char *name);
json_t *view_volume_detail(const struct shim_request *r, const struct vol_full *v);

/* The pairs kv[0..n) as a JSON object of strings; NULL on allocation failure. */
json_t *view_kv_object(const struct vol_kv *kv, int n);

/* Cinder's "links" of a resource: self (<base>/v3/<project>/<collection>/<id>) and bookmark
 * (<base>/<project>/<collection>/<id>), with the URL's project (none when it had none). */
json_t *view_links(const struct shim_request *r, const char *collection, const char *id);

/* "<base>/v3[/<project>]/<rest>", with the project when the request's URL had it. */
void view_v3_url(const struct shim_request *r, const char *rest, char *out, size_t outlen);

/*
 * Answers r 200 with {collection: [item(arg, 0), ..., item(arg, n - 1)]}: each call returns a
 * new value, or NULL with *skip set to leave the item out, or NULL alone when it cannot be
 * built (the answer is then a 500).
 */
void view_reply_list(struct shim_request *r, const char *collection, int n,
		     json_t *(*item)(void *arg, int i, bool *skip), void *arg);

/* A timestamp column as Cinder's JSON shows it ("YYYY-MM-DDTHH:MM:SS.ffffff"), or null. */
json_t *view_time(const char *iso);

#endif
