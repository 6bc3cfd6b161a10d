/*
 * vtype.h - volume types as the API layer uses them: lookup by name or id and the size limits
 * of the provisioning extra specs.
 */
#ifndef VOLMGR_SHIM_VTYPE_H
#define VOLMGR_SHIM_VTYPE_H

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

#endif
