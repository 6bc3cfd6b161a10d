/*
 * snapshots.h - what the volume create of volumes.c asks snapshots.c: the snapshot or volume
 * a new volume is created from (Cinder's create flow, ExtractVolumeRequestTask).
 */
#ifndef VOLMGR_SHIM_SNAPSHOTS_H
#define VOLMGR_SHIM_SNAPSHOTS_H

#include <stdbool.h>
#include <jansson.h>
#include "common/db.h"
#include "core/volume.h"
#include "api-shim/request.h"

/* The source of a new volume, as create_source_load found it. */
struct create_source {
	const char *snapshot_id;      /* as the request named it, or NULL */
	const char *source_volid;     /* as the request named it, or NULL */
	int size;                     /* the snapshot's volume_size, or the source's size */
	char type_id[37];             /* the snapshot's or the source's type */
	char az[VOL_TEXT];            /* the zone of the volume the data is on */
	char host[VOL_TEXT];          /* its backend, where the new volume goes */
};

/* The create body's snapshot_id and source_volid (vol: body["volume"]) into src, which
 * points into vol. Returns 0, or -1 with a 400 set. */
__attribute__((warn_unused_result))
int create_source_schema(struct shim_request *r, const json_t *vol, struct create_source *src);

/*
 * Inside the create's transaction, when src names a snapshot or a source volume: loads it
 * (404 when it is missing or not the caller's to see), checks its status (a snapshot
 * "available", a volume "available" or "in-use"; 400 otherwise, Cinder's "Originating ..."
 * messages) and the size asked for (*size -1: the source's; smaller than the source's: 400),
 * and fills the rest of src. Returns DB_OK, TXN_FAULT with the fault set, or a db status.
 */
__attribute__((warn_unused_result))
int create_source_load(db_conn *db, struct shim_request *r, struct create_source *src,
		       int *size);

#endif
