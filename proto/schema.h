/*
 * schema.h - the volume RPC methods volmgr serves: names, versions, and typed arguments.
 *
 * The dispatch side looks a method up by name, checks the message version against the
 * method, then parses args into the method's struct (proto_args_parse). The sending side fills
 * the same struct and builds args from it (proto_args_build). Both follow the method's row in
 * methods.h; adding a method means that row and one argument struct here.
 */
#ifndef VOLMGR_PROTO_SCHEMA_H
#define VOLMGR_PROTO_SCHEMA_H

#include <stdbool.h>
#include "proto/methods.h"
#include "proto/msg.h"

/* The volume RPC API version volmgr implements (cinder HEAD). */
#define PROTO_RPC_MAJOR 3
#define PROTO_RPC_MINOR 20
#define PROTO_RPC_VERSION "3.20"

#define PROTO_MAX_RESERVATIONS 16

enum proto_method_id {
#define PROTO_METHOD_ID(ID, name, ...) PROTO_M_##ID,
	PROTO_METHODS(PROTO_METHOD_ID)
#undef PROTO_METHOD_ID
	PROTO_M_COUNT
};

enum proto_kind { PROTO_CAST, PROTO_CALL };

struct proto_method {
	enum proto_method_id id;
	const char *name;
	const char *send_version; /* version the sender stamps, e.g. "3.19" */
	int min_minor;            /* lowest 3.x a receiver must support to serve it */
	bool is_call;
	bool group_commit;        /* the manager may finalize several in one transaction */
};

/* The method called name, or NULL. */
const struct proto_method *proto_method_find(const char *name);
const struct proto_method *proto_method_get(enum proto_method_id id);

/* Every method's name by id, then "unknown" at PROTO_M_COUNT: the bounded values of a
 * "method" label of the metrics (a message whose method is not served counts as unknown). */
extern const char *const proto_method_labels[PROTO_M_COUNT + 1];

/*
 * Checks a message version "X.Y" against what we serve: PROTO_OK when X == 3 and
 * Y <= PROTO_RPC_MINOR and Y >= method->min_minor (method may be NULL), PROTO_EVERSION
 * otherwise (also for text that is not "X.Y").
 */
int proto_version_check(const char *version, const struct proto_method *method);

/* image_id: the image to create the volume from, as request_spec names it (NULL: none; a
 * volume created from a snapshot or another volume names its source in its own row, as
 * Cinder's manager reads it), read from a plain request_spec map or from a scheduler's
 * RequestSpec object. A sender puts request_spec {"image_id": ...}, or null. */
struct proto_args_create_volume {
	const char *volume_id;
	const char *image_id;
	bool allow_reschedule;
};

struct proto_args_delete_volume {
	const char *volume_id;
	bool unmanage_only;
	bool cascade;
};

struct proto_args_extend_volume {
	const char *volume_id;
	int new_size;
	const char *reservations[PROTO_MAX_RESERVATIONS];
	unsigned nreservations;
};

struct proto_args_extend_volume_completion {
	const char *volume_id;
	int new_size;
	const char *reservations[PROTO_MAX_RESERVATIONS];
	unsigned nreservations;
	bool error;
};

/* The largest connector a caller may send, as JSON text: os-brick's connectors are a few
 * hundred bytes. */
#define PROTO_CONNECTOR_MAX 16384

/* connector: the connector map as sent (NULL when null: terminate_connection allows it). */
struct proto_args_initialize_connection {
	const char *volume_id;
	const struct pv *connector;
};

/* Cinder sends volume_id, not a Volume primitive, for terminate_connection. */
struct proto_args_terminate_connection {
	const char *volume_id;
	const struct pv *connector;
	bool force;
};

/* attach_volume 3.3: volume_id plus the Volume primitive (checked to name the same volume);
 * instance_uuid and host_name may be NULL (at least one is set), mode "rw" or "ro". */
struct proto_args_attach_volume {
	const char *volume_id;
	const char *instance_uuid;
	const char *host_name;
	const char *mountpoint;
	const char *mode;
};

/* detach_volume 3.4: attachment_id NULL means "the only attachment". */
struct proto_args_detach_volume {
	const char *volume_id;
	const char *attachment_id;
};

/* attachment_update 3.9 (the attachments API): vref is the Volume primitive, connector the
 * host's connector map, attachment_id the volume_attachment row it completes. */
struct proto_args_attachment_update {
	const char *volume_id;
	const struct pv *connector;
	const char *attachment_id;
};

/* attachment_delete 3.9: the attachment to end, and the Volume primitive (vref) it belongs to. */
struct proto_args_attachment_delete {
	const char *attachment_id;
	const char *volume_id;
};

/* A destination backend as Cinder's scheduler names it (host {"host", "cluster_name",
 * "capabilities"}): host is "<host>@<backend>#<pool>" or "<host>@<backend>", cluster_name
 * may be NULL. The capabilities map is read by no handler and sent empty. */
struct proto_host {
	const char *host;
	const char *cluster_name;
};

/* A second Volume primitive in one message (new_volume). A receiver gets id; a sender sets
 * fields, which must stay valid until the message is built. */
struct proto_volume_ref {
	const char *id;
	const struct proto_volume_fields *fields;
};

/* migrate_volume 3.5 (3.0 senders leave host.cluster_name out), on the source host. */
struct proto_args_migrate_volume {
	const char *volume_id;
	struct proto_host host;
	bool force_host_copy;
};

/* migrate_volume_completion, a call on the source host: volume is the source, new_volume the
 * destination (migration_status "target:<volume id>"). */
struct proto_args_migrate_volume_completion {
	const char *volume_id;
	struct proto_volume_ref new_volume;
	bool error;
};

/* update_migrated_volume, a call on the destination host; volume_status is the source's
 * status before the migration (NULL when it had none). */
struct proto_args_update_migrated_volume {
	const char *volume_id;
	struct proto_volume_ref new_volume;
	const char *volume_status;
};

/* retype 3.5: migration_policy "never" (also when absent) or "on-demand"; the reservations
 * of the new type and the negative ones of the old, either list possibly empty. */
struct proto_args_retype {
	const char *volume_id;
	const char *new_type_id;
	struct proto_host host;
	const char *migration_policy;
	const char *reservations[PROTO_MAX_RESERVATIONS];
	unsigned nreservations;
	const char *old_reservations[PROTO_MAX_RESERVATIONS];
	unsigned nold_reservations;
};

/* A Snapshot primitive in a message. A receiver gets id and volume_id (and reads the rest
 * from the database: the volume's id lets it lock the volume before it looks for a snapshot
 * whose create may not have committed yet); a sender sets fields, which must stay valid
 * until the message is built. */
struct proto_snapshot_ref {
	const char *id;
	const char *volume_id;
	const struct proto_snapshot_fields *fields;
};

/* create_snapshot: the snapshot row exists in status "creating". */
struct proto_args_create_snapshot {
	struct proto_snapshot_ref snapshot;
};

/* delete_snapshot: the snapshot is "deleting"; unmanage_only keeps the backing store. */
struct proto_args_delete_snapshot {
	struct proto_snapshot_ref snapshot;
	bool unmanage_only;
};

/* revert_to_snapshot 3.15: the volume is "reverting", the snapshot "restoring". */
struct proto_args_revert_to_snapshot {
	const char *volume_id;
	struct proto_snapshot_ref snapshot;
};

/* copy_volume_to_image: image_meta is the image service's view of the new image (a map:
 * id, disk_format, container_format, name, ...), as Cinder's API sends it. */
struct proto_args_copy_volume_to_image {
	const char *volume_id;
	const struct pv *image_meta;
};

/* reimage 3.18: the volume's bytes are replaced by the image's (image_meta as above). */
struct proto_args_reimage {
	const char *volume_id;
	const struct pv *image_meta;
};

/* manage_existing: ref names the backing store to adopt, passed through as the API received
 * it (Cinder's schema allows an object or a string; the driver understands {"source-name":
 * ...} or {"source-id": ...}); the volume row exists in status "managing". */
struct proto_args_manage_existing {
	const struct pv *ref;
	const char *volume_id;
};

/* An optional non-negative count: set false when absent or null. */
struct proto_opt_count {
	bool set;
	int value;
};

/* get_manageable_volumes 3.10 (a call): the pagination of Cinder's API, passed through
 * (marker, sort_keys and sort_dirs as sent, NULL when absent or null). volmgr's manager sorts
 * by at most PROTO_MANAGEABLE_SORT_MAX keys, and its API sends no more. */
#define PROTO_MANAGEABLE_SORT_MAX 8
struct proto_args_get_manageable_volumes {
	const struct pv *marker;
	struct proto_opt_count limit;
	struct proto_opt_count offset;
	const struct pv *sort_keys;
	const struct pv *sort_dirs;
	bool want_objects;
};

/* The scheduler's broadcast carries no arguments, and neither do the calls that freeze and
 * thaw a backend (Cinder's API sends them to the service's own queue). */
struct proto_args_publish_service_capabilities {
	char none;
};
struct proto_args_freeze_host {
	char none;
};
struct proto_args_thaw_host {
	char none;
};

union proto_args {
#define PROTO_ARGS_MEMBER(ID, name, ...) struct proto_args_##name name;
	PROTO_METHODS(PROTO_ARGS_MEMBER)
#undef PROTO_ARGS_MEMBER
};

/*
 * Validates args against method's schema and fills out. Volume arguments must be Cinder
 * versioned-object primitives (name "Volume", namespace "cinder", data.id a uuid); the
 * receiver reads everything else from the database. Pointers in out point into args.
 * Returns PROTO_OK or PROTO_EARGS with detail naming the key ("args.new_size: expected an
 * integer >= 1").
 */
__attribute__((warn_unused_result))
int proto_args_parse(const struct proto_method *method, const struct pv *args,
		     union proto_args *out, char *detail, size_t detlen);

/*
 * Puts the arguments of method, as its schema lists them, into the map args: typed values
 * from in, the Volume primitive (and volume_id) from vol, null for arguments the receiver
 * ignores. Values are copied into a. Returns PROTO_OK, or PROTO_EARGS when the arena failed
 * or a value cannot be sent (a NULL where the schema wants a value).
 */
struct proto_volume_fields;
__attribute__((warn_unused_result))
int proto_args_build(const struct proto_method *method, const union proto_args *in,
		     const struct proto_volume_fields *vol, struct pv_arena *a, struct pv *args);

/*
 * Cinder's boolean strings (parameter_types.boolean): "true", "1", "yes", "on", "y", "t" and
 * their listed case variants are true; "false", "0", "no", "off", "n", "f" false.
 * Returns 0 with *out set, or -1 for anything else.
 */
int proto_parse_bool_string(const char *s, bool *out);

/* Those strings, true ones and false ones, NULL-ended, in Cinder's order. */
extern const char *const proto_bool_strings_true[];
extern const char *const proto_bool_strings_false[];

/* The fields of a Volume primitive that volmgr sends (NULL strings are sent as null). */
struct proto_volume_fields {
	const char *id;
	const char *user_id;
	const char *project_id;
	const char *host;
	const char *cluster_name;
	int size;
	const char *availability_zone;
	const char *status;
	const char *previous_status;
	const char *attach_status;
	const char *migration_status;
	const char *display_name;
	const char *display_description;
	const char *volume_type_id;
	bool bootable;
	bool multiattach;
	bool use_quota;
	const char *created_at;  /* "YYYY-MM-DDTHH:MM:SSZ" or NULL */
	const char *updated_at;
	const char *launched_at;
};

/* The fields of a Snapshot primitive that volmgr sends (NULL strings are sent as null). */
struct proto_snapshot_fields {
	const char *id;
	const char *user_id;
	const char *project_id;
	const char *volume_id;
	const char *status;
	const char *progress;
	int volume_size;
	const char *display_name;
	const char *display_description;
	const char *volume_type_id;
	const char *provider_location;
	bool use_quota;
	const char *created_at;  /* "YYYY-MM-DDTHH:MM:SSZ" or NULL */
	const char *updated_at;
};

/* A versioned-object primitive {versioned_object.name: name, .namespace: "cinder",
 * .version: version, .data: data}, or NULL (arena failed). */
struct pv *proto_build_object(struct pv_arena *a, const char *name, const char *version,
			      const struct pv *data);

/* A Cinder Volume 1.9 versioned-object primitive for f, or NULL (arena failed). */
struct pv *proto_build_volume(struct pv_arena *a, const struct proto_volume_fields *f);

/* A Cinder Snapshot 1.6 versioned-object primitive for f, or NULL (arena failed). */
struct pv *proto_build_snapshot(struct pv_arena *a, const struct proto_snapshot_fields *f);

#endif
