/*
 * driver.h - the storage driver interface of the volume manager.
 *
 * A driver is a table of operations on the backing store of one volume. Every operation is
 * idempotent (create of an existing volume, delete of a missing one and extend to a size
 * already reached all succeed), because a crash between a driver operation and the commit of
 * its transaction means the same message runs the operation again.
 *
 * Operations run inside the handler's database transaction and must be bounded in time.
 * Status convention: DRV_OK (0), a positive outcome that is not a failure, or DRV_ERROR with
 * a readable reason in err.
 */
#ifndef VOLMGR_MANAGER_DRIVER_H
#define VOLMGR_MANAGER_DRIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/volume.h"
#include "proto/value.h"

enum drv_status {
	DRV_OK = 0,
	/* The volume grew but its export could not be refreshed; Cinder treats it as success. */
	DRV_TARGET_UPDATE_FAILED = 1,
	/* Only the compute host can grow this (attached) volume: the manager has to ask it and
	 * wait for os-extend_volume_completion. The backing store was not touched. */
	DRV_NEEDS_FEEDBACK = 2,
	DRV_ERROR = -1,
};

/* A backing store as manage and the manageable list see it (manager/manage.c). */
struct drv_store {
	char name[256];           /* its name in the backend's namespace (the manage reference) */
	long long bytes;          /* its size */
	char owner_kind[16];      /* "volume" or "snapshot" when its name is that of such a
				   * store, else "" */
	char owner_id[37];        /* then the uuid its name carries */
};

/* What a backend tells the scheduler about itself and its one pool (Cinder's driver
 * get_volume_stats, as the manager's capability report sends it: manager/capabilities.c). */
struct drv_stats {
	const char *vendor_name;
	const char *driver_version;
	const char *storage_protocol;
	double total_capacity_gb;   /* the file system holding the stores, in GiB */
	double free_capacity_gb;    /* what an unprivileged writer may still use there, in GiB */
	bool thin_provisioning;     /* stores take space as they are written */
	bool multiattach;
	char location_info[512];    /* identifies the backend to a migration's destination */
};

/* The largest group of extend_group. */
#define DRV_GROUP_MAX 512

struct drv_ops {
	const char *name;
	/* Prepares the backend at start-up (e.g. creates the directory). */
	int (*setup)(char *err, size_t errlen);
	/* Creates the backing store of v (v->size GiB); location receives provider_location. */
	int (*create)(const struct vol_row *v, char *location, size_t loclen,
		      char *err, size_t errlen);
	/* Removes the backing store of v; a missing one is DRV_OK. */
	int (*remove)(const struct vol_row *v, char *err, size_t errlen);
	/* Grows v to new_size GiB (never shrinks): DRV_OK, DRV_TARGET_UPDATE_FAILED,
	 * DRV_NEEDS_FEEDBACK or DRV_ERROR. */
	int (*extend)(const struct vol_row *v, int new_size, char *err, size_t errlen);
	/* Grows the n volumes whose stores are named ids[i] (the volume's _name_id, else its id;
	 * none attached) to sizes[i] GiB as extend would, and makes
	 * the n growths durable together: every store is grown before any is synced, so that
	 * the waits on the disk overlap (for a file system with a journal, the first sync
	 * writes them all). status[i] gets DRV_OK or DRV_ERROR, whose reason is logged; n is at
	 * most DRV_GROUP_MAX. */
	void (*extend_group)(const char *const *ids, const int *sizes, int n, int *status);
	/* DRV_OK when the backing store of v really holds at least size GiB, else DRV_ERROR
	 * saying what it holds (used before committing a completion reported by compute). */
	int (*verify_size)(const struct vol_row *v, int size, char *err, size_t errlen);
	/* Exports v to the host of connector (a map) and describes how that host reaches it:
	 * *info receives {"driver_volume_type": ..., "data": {...}} built in a (the manager adds
	 * the generic keys of data). DRV_OK or DRV_ERROR. */
	int (*initialize_connection)(const struct vol_row *v, const struct pv *connector,
				     struct pv_arena *a, struct pv **info, char *err, size_t errlen);
	/* Ends the export of v to connector's host (NULL: to every host). DRV_OK or DRV_ERROR. */
	int (*terminate_connection)(const struct vol_row *v, const struct pv *connector,
				    char *err, size_t errlen);
	/* Copies the bytes of v into the existing file dst_path (the destination of a
	 * migration, as its connection info names it), holes staying holes; may be run again
	 * over a partial copy. delay_ms and stop as sparsecopy_fd's. DRV_OK or DRV_ERROR. */
	int (*copy_to)(const struct vol_row *v, const char *dst_path, int delay_ms,
		       volatile sig_atomic_t *stop, char *err, size_t errlen);

	/* Manage existing (manager/manage.c). */
	/* Describes the store named ref into *st; when ref is absent but v's own store exists
	 * (an earlier try of the same manage adopted ref and its transaction was lost), v's
	 * store. DRV_OK, or DRV_ERROR saying why ref cannot be a volume (no such store, not a
	 * regular file, a name that is not a plain name). */
	int (*manage_stat)(const struct vol_row *v, const char *ref, struct drv_store *st,
			   char *err, size_t errlen);
	/* Makes the store named ref v's own (v->size GiB, at least what it holds: grown when
	 * smaller), as manage_stat found it; location receives provider_location. Idempotent:
	 * ref absent and v's store present is DRV_OK. */
	int (*manage)(const struct vol_row *v, const char *ref, char *location, size_t loclen,
		      char *err, size_t errlen);
	/* Lists every store of the backend: *out (malloc'd, the caller frees it) gets *n
	 * entries. DRV_OK or DRV_ERROR. */
	int (*list_stores)(struct drv_store **out, int *n, char *err, size_t errlen);

	/* Images (manager/image.c): the bytes of a volume as the image service receives or
	 * sends them (raw). */
	/* Opens v's store for reading: *fd (the caller closes it) and *len, its length in
	 * bytes. DRV_OK or DRV_ERROR. */
	int (*image_source)(const struct vol_row *v, int *fd, long long *len, char *err,
			    size_t errlen);
	/* Empties v's store to zeros at its size (v->size GiB) and opens it for writing: *fd
	 * receives the descriptor, to be written from offset 0 and then given to image_close.
	 * Run again after a crash, it empties the store again. DRV_OK or DRV_ERROR. */
	int (*image_target)(const struct vol_row *v, int *fd, char *err, size_t errlen);
	/* Makes what was written to an image_target's fd durable and closes it. DRV_OK or
	 * DRV_ERROR. */
	int (*image_close)(const struct vol_row *v, int fd, char *err, size_t errlen);

	/* Snapshots (manager/snapshot.c). Each store is made whole under a temporary name and
	 * renamed into place, so a run again after a crash starts over and a reader never sees
	 * a partial copy; the bytes are shared with the source where the file system can
	 * (reflink), else copied with holes kept holes. DRV_OK or DRV_ERROR. */
	/* Makes the store of snapshot snapshot_id a copy of v's bytes; location receives its
	 * provider_location. */
	int (*snapshot_create)(const struct vol_row *v, const char *snapshot_id, char *location,
			       size_t loclen, char *err, size_t errlen);
	/* Removes the store of snapshot_id; a missing one is DRV_OK. */
	int (*snapshot_remove)(const char *snapshot_id, char *err, size_t errlen);
	/* Makes v's store hold the bytes of snapshot_id's, then zeros up to v's size when the
	 * volume is larger than the snapshot (revert_to_snapshot, and a new volume created
	 * from a snapshot, whose size is at least the snapshot's). */
	int (*from_snapshot)(const struct vol_row *v, const char *snapshot_id, char *err,
			     size_t errlen);
	/* Makes v's store hold the bytes of src's, then zeros up to v's size (a clone). */
	int (*from_volume)(const struct vol_row *v, const struct vol_row *src, char *err,
			   size_t errlen);

	/* Fills *st with the backend's capabilities and capacity as they are now. Safe to call
	 * from any thread. DRV_OK or DRV_ERROR. */
	int (*stats)(struct drv_stats *st, char *err, size_t errlen);
};

/* Sparse files under [filestore] filestore_dir, named volume-<id>. */
extern const struct drv_ops filestore_driver;

#endif
