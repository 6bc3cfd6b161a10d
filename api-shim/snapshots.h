/*
 * snapshots.h - what other files of the shim use of snapshots.c: the state of a request to a
 * route of one snapshot and its lookup (snapshot_metadata.c), and the snapshot or volume a
 * new volume is created from (volumes.c; Cinder's create flow, ExtractVolumeRequestTask).
 */
#ifndef VOLMGR_SHIM_SNAPSHOTS_H
#define VOLMGR_SHIM_SNAPSHOTS_H

#include <stdbool.h>
#include <jansson.h>
#include "common/db.h"
#include "core/snapshot.h"
#include "core/volume.h"
#include "api-shim/request.h"
#include "api-shim/txn.h"

/* The request of a route of one snapshot, and what its transaction found. */
struct snap_req {
	struct txn_ctx t;             /* first: the transaction's argument */
	const char *id;               /* the URL's snapshot id, or the new one's */
	char new_id[37];
	json_t *body;
	const json_t *snapshot;       /* body["snapshot"] */
	const char *volume_id;
	const char *name, *description;
	bool name_set, description_set;
	bool force;
	bool replace;                 /* PUT metadata: keys not sent are deleted */
	const json_t *metadata;       /* an object, or NULL */
	const char *key;              /* the URL's metadata key */
	json_t *reply;
	unsigned status;
	struct vol_row *vol;
	struct snap_row snap;
};

/* The state of a request to snapshot route r (its captures: the snapshot id, the metadata
 * key), owned by r; with_volume, room for a volume row too. NULL with a 500 set when out of
 * memory. */
struct snap_req *snapshots_req_new(struct shim_request *r, bool with_volume);

/*
 * Loads (and with for_update locks) the snapshot id the caller may see (volume:get_snapshot;
 * another project's is not found, as Cinder's get_snapshot hides it). Returns DB_OK,
 * TXN_FAULT with a 404 set, or a db status.
 */
__attribute__((warn_unused_result))
int snapshots_load_visible(db_conn *db, struct txn_ctx *t, const char *id, bool for_update,
			   struct snap_row *s);

/* The source of a new volume, as snapshots_create_source_load found it. */
struct create_source {
	const char *snapshot_id;      /* as the request named it, or NULL */
	const char *source_volid;     /* as the request named it, or NULL */
	int size;                     /* the snapshot's volume_size, or the source's size */
	char type_id[37];             /* the snapshot's or the source's type */
	char az[VOL_TEXT];            /* the zone of the volume the data is on */
	char host[VOL_TEXT];          /* its backend, where the new volume goes */
	char cluster_name[VOL_TEXT];  /* and that backend's cluster, "" when none */
};

/* The create body's snapshot_id and source_volid (vol: body["volume"]) into src, which
 * points into vol. Returns 0, or -1 with a 400 set. */
__attribute__((warn_unused_result))
int snapshots_create_source_schema(struct shim_request *r, const json_t *vol,
				   struct create_source *src);

/*
 * Inside the create's transaction, when src names a snapshot or a source volume: loads it
 * (404 when it is missing or not the caller's to see), checks its status (a snapshot
 * "available", a volume "available" or "in-use"; 400 otherwise, Cinder's "Originating ..."
 * messages) and the size asked for (*size -1: the source's; smaller than the source's: 400),
 * and fills the rest of src. Returns DB_OK, TXN_FAULT with the fault set, or a db status.
 */
__attribute__((warn_unused_result))
int snapshots_create_source_load(db_conn *db, struct shim_request *r,
				 struct create_source *src, int *size);

#endif
