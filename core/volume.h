/*
 * volume.h - the volume rows both daemons read and write: volumes, volume_admin_metadata,
 * volume_metadata, volume_attachment and volume_types, with Cinder's columns and soft delete.
 *
 * Every function runs on the caller's connection, normally inside db_transaction.
 * Status convention: DB_OK, a negative db status, or VOL_NOT_FOUND or VOL_CONFLICT
 * (core/status.h).
 */
#ifndef VOLMGR_CORE_VOLUME_H
#define VOLMGR_CORE_VOLUME_H

#include <stdbool.h>
#include "common/db.h"
#include "core/status.h"
#include "proto/schema.h"

/*
 * Text column buffers. Cinder's varchar(255) counts characters, so a column that holds
 * free text (names, descriptions, metadata, hosts, zones) needs VOL_TEXT bytes: 255
 * characters of up to 4 bytes and the NUL. VOL_STR is for identifiers (user and project ids,
 * attachment hosts and mountpoints), which are ASCII in practice. Either way a longer value
 * is cut at a character boundary, never inside one, so a copy stays valid UTF-8.
 */
#define VOL_STR 256
#define VOL_TEXT (4 * 255 + 1)

/* Bytes in a GiB, the unit of every volume and snapshot size. */
#define VOL_GIB (1LL << 30)
#define VOL_MAX_ATTACHMENTS 16

struct vol_attachment {
	char id[37];
	char instance_uuid[37];   /* "" when null (Glance store attachment) */
	char attached_host[VOL_STR];
	char mountpoint[VOL_STR];
	char attach_status[64];
	char attach_mode[37];
	char attach_time[32];     /* "YYYY-MM-DDTHH:MM:SS.ffffff" or "" */
	char connected[2];        /* "t" when connection_info is set and not empty (an
				   * initialized connection; the attachments API stores {} for a
				   * reservation) */
};

/* Room for a status word (status, attach_status, migration_status). */
#define VOL_STATUS_MAX 64

struct vol_row {
	char id[37];
	char user_id[VOL_STR];
	char project_id[VOL_STR];
	char host[VOL_TEXT];           /* "" when null */
	char cluster_name[VOL_TEXT];
	int size;
	char availability_zone[VOL_TEXT];
	char status[VOL_STATUS_MAX];
	char previous_status[VOL_STATUS_MAX];
	char attach_status[VOL_STATUS_MAX];
	char migration_status[VOL_STATUS_MAX];
	char display_name[VOL_TEXT];
	char display_description[VOL_TEXT];
	char volume_type_id[37];
	char volume_type_name[VOL_TEXT]; /* from volume_types, "" if the type is gone */
	bool bootable;
	bool multiattach;
	bool use_quota;
	char created_at[32];          /* ISO "YYYY-MM-DDTHH:MM:SS.ffffff", "" when null */
	char updated_at[32];
	char launched_at[32];
	char provider_location[4 * 256 + 1]; /* varchar(256) */
	/* _name_id: after a migration, the id the backing store is named after ("" when null:
	 * the store is named after id). */
	char name_id[37];
	/* The snapshot or the volume it was created from ("" when null). */
	char snapshot_id[37];
	char source_volid[37];
	/* created_at, updated_at, launched_at as a Cinder primitive's DateTime,
	 * "YYYY-MM-DDTHH:MM:SSZ", "" when null (what vol_to_proto_fields points at). */
	char created_at_z[24];
	char updated_at_z[24];
	char launched_at_z[24];
	int nattachments;             /* live attachment rows (all of them, even beyond the array) */
	struct vol_attachment attachments[VOL_MAX_ATTACHMENTS];
};

/*
 * Loads the live (deleted = false) volume id with its type name and live attachments.
 * With for_update the volume row is locked (SELECT ... FOR UPDATE) until the transaction ends.
 * Returns DB_OK, VOL_NOT_FOUND or a negative db status.
 */
__attribute__((warn_unused_result))
int vol_get(db_conn *db, const char *id, bool for_update, struct vol_row *out);

/*
 * Compare-and-swap of the status: sets status = to (and previous_status = set_previous when
 * it is not NULL, updated_at = now) only where the live row's status is one of from[0..nfrom).
 * Returns DB_OK when the row changed, VOL_CONFLICT when no row matched, or a negative status.
 */
__attribute__((warn_unused_result))
int vol_cas_status(db_conn *db, const char *id, const char *const *from, int nfrom,
		   const char *to, const char *set_previous);

/* Unconditional update of status (and size when size >= 0), updated_at = now. */
__attribute__((warn_unused_result))
int vol_set_status(db_conn *db, const char *id, const char *status, int size);

/* The fields a new volume row gets; the rest take Cinder's defaults. */
struct vol_new {
	const char *id;             /* uuid4 chosen by the caller */
	const char *user_id;
	const char *project_id;
	const char *host;           /* "<host>@<backend>#<pool>" */
	int size;
	const char *availability_zone;
	const char *display_name;   /* may be NULL */
	const char *display_description;
	const char *volume_type_id;
	bool multiattach;
	bool bootable;
	const char *status;         /* NULL: "creating" (a manage inserts "managing") */
	const char *cluster_name;   /* may be NULL */
	const char *snapshot_id;    /* the snapshot it is created from, or NULL */
	const char *source_volid;   /* the volume it is cloned from, or NULL */
};

/* Inserts a volume in status v->status, attach_status "detached". */
__attribute__((warn_unused_result))
int vol_insert(db_conn *db, const struct vol_new *v);

/* Soft-deletes the volume (status "deleted", deleted = true, deleted_at and terminated_at =
 * now) with its admin metadata and metadata rows. */
__attribute__((warn_unused_result))
int vol_soft_delete(db_conn *db, const char *id);

/* Marks a created volume: status "available", launched_at = now, provider_location. */
__attribute__((warn_unused_result))
int vol_mark_created(db_conn *db, const char *id, const char *provider_location);

/* Admin metadata. get copies the live value into buf, VOL_TEXT bytes to hold any value
 * (VOL_NOT_FOUND when the key is absent);
 * set inserts or updates the live row; delete soft-deletes it (DB_OK even if absent). */
__attribute__((warn_unused_result))
int vol_admin_md_get(db_conn *db, const char *volume_id, const char *key, char *buf, size_t len);
__attribute__((warn_unused_result))
int vol_admin_md_set(db_conn *db, const char *volume_id, const char *key, const char *value);
__attribute__((warn_unused_result))
int vol_admin_md_delete(db_conn *db, const char *volume_id, const char *key);

/* All live key/value pairs of a volume's admin metadata (keys[i], values[i]); *n <= max. */
struct vol_kv {
	char key[VOL_TEXT];
	char value[VOL_TEXT];
};
/* The pairs that sql (one parameter, the owner's id; columns key, value) selects, at most
 * max of them, in *n: the key/value tables of a volume, its image metadata's and a
 * snapshot's. */
__attribute__((warn_unused_result))
int vol_kv_list(db_conn *db, const char *sql, const char *owner_id, struct vol_kv *out,
		int max, int *n);
__attribute__((warn_unused_result))
int vol_admin_md_list(db_conn *db, const char *volume_id, struct vol_kv *out, int max, int *n);
__attribute__((warn_unused_result))
int vol_metadata_list(db_conn *db, const char *volume_id, struct vol_kv *out, int max, int *n);
/* A volume's (user) metadata, written as the admin metadata is: set inserts or updates the
 * live row of key, delete soft-deletes it (DB_OK even if absent). */
__attribute__((warn_unused_result))
int vol_metadata_set(db_conn *db, const char *volume_id, const char *key, const char *value);
__attribute__((warn_unused_result))
int vol_metadata_delete(db_conn *db, const char *volume_id, const char *key);

/*
 * Marks a volume attached, as the attach actions will (used by volctl attach until they
 * exist): inserts a volume_attachment row (attach_status "attached", attach_time now, mode),
 * sets the volume "in-use" / "attached" and admin metadata attached_mode = mode.
 * attachment_id receives the new row's id. instance_uuid may be NULL (Glance store).
 */
__attribute__((warn_unused_result))
int vol_attach(db_conn *db, const char *volume_id, const char *instance_uuid,
	       const char *attached_host, const char *mountpoint, const char *mode,
	       char attachment_id[37]);

/*
 * The attachments API (docs/cinder.md §14.1). reserve inserts a volume_attachment row in
 * attach_status "reserved" for instance_uuid (NULL: none) with attach_mode mode (Cinder keeps
 * "null" when the caller named none); attachment_id receives its id. volume copies the live
 * attachment's volume id (VOL_NOT_FOUND when there is none). complete is os-complete: the
 * attachment attached, the volume in-use and attached (VOL_NOT_FOUND when either is gone).
 */
__attribute__((warn_unused_result))
int vol_attachment_reserve(db_conn *db, const char *volume_id, const char *instance_uuid,
			   const char *mode, char attachment_id[37]);
__attribute__((warn_unused_result))
int vol_attachment_volume(db_conn *db, const char *attachment_id, char volume_id[37]);
__attribute__((warn_unused_result))
int vol_attachment_complete(db_conn *db, const char *volume_id, const char *attachment_id);

/*
 * Cinder's Volume.finish_detach: soft-deletes the live attachment attachment_id of the volume
 * (none when NULL or already gone), sets the volume's attach_status and status from the
 * attachments that remain, and removes the attached_mode admin metadata. status (may be NULL)
 * receives the volume's new status ("" when the volume is gone).
 */
__attribute__((warn_unused_result))
int vol_detached(db_conn *db, const char *volume_id, const char *attachment_id,
		 char status[VOL_STATUS_MAX]);

/* Volume types. find looks a live type up by id or name; VOL_NOT_FOUND when absent. */
struct vol_type {
	char id[37];
	char name[VOL_TEXT];
	int min_size;   /* provisioning:min_vol_size, or -1 */
	int max_size;   /* provisioning:max_vol_size, or -1 */
	bool multiattach; /* extra spec multiattach = "<is> True" */
	bool has_backend_name;     /* the type names a backend (extra spec volume_backend_name) */
	char backend_name[VOL_TEXT]; /* that backend, as the scheduler's capabilities filter
				      * compares it with a service's backend */
};
__attribute__((warn_unused_result))
int vol_type_find(db_conn *db, const char *id_or_name, struct vol_type *out);
/* Creates a type with the given extra specs ("key=value" strings); id receives its id. */
__attribute__((warn_unused_result))
int vol_type_create(db_conn *db, const char *name, const char *const *specs, int nspecs,
		    char id[37]);
/* The id of the __DEFAULT__ type (created by the migrations). */
__attribute__((warn_unused_result))
int vol_type_default(db_conn *db, const char *name, struct vol_type *out);

/* The Volume primitive fields of row (pointers into row). */
void vol_to_proto_fields(const struct vol_row *row, struct proto_volume_fields *f);

#endif
