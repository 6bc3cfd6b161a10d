/*
 * vtype.h - volume types as the API layer uses them: lookup by name or id, the size limits
 * of the provisioning extra specs, and the type resource's rows and views (types.c): what a
 * caller may see of a type and of its extra specs, as Cinder's volume type API shows them.
 */
#ifndef VOLMGR_SHIM_VTYPE_H
#define VOLMGR_SHIM_VTYPE_H

#include <stdbool.h>
#include <jansson.h>
#include "common/db.h"
#include "core/volume.h"
#include "api-shim/request.h"

/*
 * The type a request names (by id or name), or the configured default type when name is
 * NULL or "". Returns DB_OK, VOL_NOT_FOUND with a 404 set on r (Cinder's VolumeTypeNotFound
 * messages) or a 500 set when the default type is missing, or a negative db status.
 */
__attribute__((warn_unused_result))
int vtype_for_request(db_conn *db, struct shim_request *r, const char *name,
		      struct vol_type *out);

/*
 * The type of an existing volume: its volume_type_id, or the default type when that type is
 * gone (as Cinder's _extend does). Returns DB_OK, VOL_NOT_FOUND (no type at all) or a negative
 * db status.
 */
__attribute__((warn_unused_result))
int vtype_for_volume(db_conn *db, const char *type_id, struct vol_type *out);

/* Cinder's provision_filter_on_size: size within provisioning:min_vol_size/max_vol_size.
 * Returns 0, or -1 with a 400 set. */
__attribute__((warn_unused_result))
int vtype_check_size(struct shim_request *r, const struct vol_type *type, int size);

/* The most extra specs of a type the API shows and writes (volmgr's bound; Cinder has none). */
#define VTYPE_MAX_SPECS 64

struct vtype_spec {
	char key[VOL_TEXT];
	char value[VOL_TEXT];
	bool null;                   /* the value is null (Cinder's create accepts one) */
};

/* A type as the type resource shows it. Large: allocate on the heap. */
struct vtype_full {
	char id[37];
	char name[VOL_TEXT];
	char description[VOL_TEXT];
	bool has_description;        /* false: null */
	bool is_public;
	char qos_specs_id[37];       /* "" when null */
	int nspecs;
	struct vtype_spec specs[VTYPE_MAX_SPECS];
};

/*
 * Loads the live type of id (by id only, as Cinder's volume_type_get) if r's caller may see
 * it: admins every type, others the public ones and the private ones their project has
 * access to (volume_type_projects). Returns DB_OK, VOL_NOT_FOUND (a 404 "Volume type <id>
 * could not be found." set on r) or a negative db status.
 */
__attribute__((warn_unused_result))
int vtype_load(db_conn *db, struct shim_request *r, const char *id, struct vtype_full *out);

/*
 * The caller's default type, as Cinder's get_default_volume_type: its project's row of
 * default_volume_types, else the configured default_volume_type. Returns as vtype_load (404
 * "Default volume type can not be found." when neither exists).
 */
__attribute__((warn_unused_result))
int vtype_load_default(db_conn *db, struct shim_request *r, struct vtype_full *out);

/* The views of a type: the v3 types controller's for show and list (extra specs for
 * everyone, but only Cinder's user-visible ones to non-admins, and qos_specs_id for admins),
 * or the types manage extension's for create and update (id, name, is_public, every extra
 * spec, description). The type access extension adds "os-volume-type-access:is_public" to
 * all but the update's. */
enum vtype_view_kind { VTYPE_VIEW_V3, VTYPE_VIEW_CREATED, VTYPE_VIEW_UPDATED };

/* The type's object (without the "volume_type" wrapper), or NULL on allocation failure. */
json_t *vtype_view(const struct shim_request *r, const struct vtype_full *t,
		   enum vtype_view_kind kind);

/* {key: value, ...} of the specs the caller may read (read_sensitive: admins all, others the
 * user-visible ones), or NULL on allocation failure. */
json_t *vtype_specs_view(const struct shim_request *r, const struct vtype_full *t);

/* True if r's caller may read extra spec key (policy types_extra_specs:read_sensitive, or
 * one of Cinder's USER_VISIBLE_EXTRA_SPECS). */
bool vtype_spec_readable(const struct shim_request *r, const char *key);

#endif
