/*
 * glance_md.h - a volume's image metadata: the live rows of Cinder's volume_glance_metadata
 * (the image a volume was created from, and what os-set_image_metadata set), which the shim
 * shows and edits and the manager fills when it writes an image into a volume.
 *
 * Status convention: that of core/volume.h (DB_OK, a negative db status, VOL_NOT_FOUND).
 * The caller holds the volume's row lock when it writes, so that two writers of the same key
 * never both insert.
 */
#ifndef VOLMGR_CORE_GLANCE_MD_H
#define VOLMGR_CORE_GLANCE_MD_H

#include <stdbool.h>
#include "common/db.h"
#include "core/volume.h"

/* The live pairs of volume_id, oldest first; *n <= max. */
__attribute__((warn_unused_result))
int gmd_list(db_conn *db, const char *volume_id, struct vol_kv *out, int max, int *n);

/*
 * Sets keys[i] = values[i] for i < n (a changed value updates the live row, a new key gets
 * a row), as Cinder's volume_metadata_update with the image type does. With replace, the
 * live rows of every other key are soft-deleted first (a reimage's new image).
 */
__attribute__((warn_unused_result))
int gmd_set(db_conn *db, const char *volume_id, const char *const *keys,
	    const char *const *values, int n, bool replace);

/* Soft-deletes key's live row; VOL_NOT_FOUND when there is none. */
__attribute__((warn_unused_result))
int gmd_delete(db_conn *db, const char *volume_id, const char *key);

#endif
