/*
 * vtype.c - volume type lookup and size limits (see vtype.h).
 */
#include "api-shim/vtype.h"

#include "common/cfg.h"
#include "common/util.h"
#include "core/settings.h"
#include "api-shim/fault.h"

int vtype_for_request(db_conn *db, struct shim_request *r, const char *name,
		      struct vol_type *out)
{
	int rc;

	if (name == NULL || name[0] == '\0') {
		rc = vol_type_default(db, settings.default_volume_type, out);
		if (rc == VOL_NOT_FOUND)
			fault_reply(r, 500, "The request cannot be fulfilled as the default volume "
				    "type %s cannot be found.", settings.default_volume_type);
		return rc;
	}
	rc = vol_type_find(db, name, out);
	if (rc == VOL_NOT_FOUND) {
		if (util_is_uuid(name))
			fault_reply(r, 404, "Volume type %s could not be found.", name);
		else
			fault_reply(r, 404, "Volume type with name %s could not be found.", name);
	}
	return rc;
}

int vtype_for_volume(db_conn *db, const char *type_id, struct vol_type *out)
{
	int rc = vol_type_find(db, type_id, out);

	if (rc == VOL_NOT_FOUND)
		rc = vol_type_default(db, settings.default_volume_type, out);
	return rc;
}

int vtype_check_size(struct shim_request *r, const struct vol_type *type, int size)
{
	if (type->min_size >= 0 && size < type->min_size) {
		fault_reply(r, 400, "Invalid input received: Specified volume size of '%d' is less "
			    "than the minimum required size of '%d' for volume type '%s'.", size,
			    type->min_size, type->name);
		return -1;
	}
	if (type->max_size >= 0 && size > type->max_size) {
		fault_reply(r, 400, "Invalid input received: Specified volume size of '%d' is "
			    "greater than the maximum allowable size of '%d' for volume type '%s'.",
			    size, type->max_size, type->name);
		return -1;
	}
	return 0;
}
