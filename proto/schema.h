/*
 * schema.h - the volume RPC methods volmgr serves: names, versions, and typed arguments.
 *
 * The dispatch side looks a method up by name, checks the message version against the
 * method, then parses args into the method's struct. The sending side builds args with the
 * proto_build_* helpers. Adding a method means one row in the table (schema.c) and one
 * argument struct here.
 */
#ifndef VOLMGR_PROTO_SCHEMA_H
#define VOLMGR_PROTO_SCHEMA_H

#include <stdbool.h>
#include "proto/msg.h"

/* The volume RPC API version volmgr implements (cinder HEAD). */
#define PROTO_RPC_MAJOR 3
#define PROTO_RPC_MINOR 20
#define PROTO_RPC_VERSION "3.20"

#define PROTO_MAX_RESERVATIONS 16

enum proto_method_id {
	PROTO_M_CREATE_VOLUME,
	PROTO_M_DELETE_VOLUME,
	PROTO_M_EXTEND_VOLUME,
	PROTO_M_EXTEND_VOLUME_COMPLETION,
	PROTO_M_INITIALIZE_CONNECTION,  /* calls from here on (cinder-behaviour.md §5.2) */
	PROTO_M_TERMINATE_CONNECTION,
	PROTO_M_ATTACH_VOLUME,
	PROTO_M_DETACH_VOLUME,          /* the last call */
	PROTO_M_PUBLISH_SERVICE_CAPABILITIES, /* the scheduler's fanout broadcast (no args) */
	PROTO_M_COUNT
};

struct proto_method {
	enum proto_method_id id;
	const char *name;
	const char *send_version; /* version the sender stamps, e.g. "3.19" */
	int min_minor;            /* lowest 3.x a receiver must support to serve it */
	bool is_call;
};

/* The method called name, or NULL. */
const struct proto_method *proto_method_find(const char *name);
const struct proto_method *proto_method_get(enum proto_method_id id);

/*
 * Checks a message version "X.Y" against what we serve: PROTO_OK when X == 3 and
 * Y <= PROTO_RPC_MINOR and Y >= method->min_minor (method may be NULL), PROTO_EVERSION
 * otherwise (also for text that is not "X.Y").
 */
int proto_version_check(const char *version, const struct proto_method *method);

struct proto_args_create_volume {
	const char *volume_id;
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

struct proto_args_extend_completion {
	const char *volume_id;
	int new_size;
	const char *reservations[PROTO_MAX_RESERVATIONS];
	unsigned nreservations;
	bool error;
};

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

union proto_args {
	struct proto_args_create_volume create_volume;
	struct proto_args_delete_volume delete_volume;
	struct proto_args_extend_volume extend_volume;
	struct proto_args_extend_completion extend_completion;
	struct proto_args_initialize_connection initialize_connection;
	struct proto_args_terminate_connection terminate_connection;
	struct proto_args_attach_volume attach_volume;
	struct proto_args_detach_volume detach_volume;
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
 * Cinder's boolean strings (parameter_types.boolean): "true", "1", "yes", "on", "y", "t" and
 * their listed case variants are true; "false", "0", "no", "off", "n", "f" false.
 * Returns 0 with *out set, or -1 for anything else.
 */
int proto_parse_bool_string(const char *s, bool *out);

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

/* A versioned-object primitive {versioned_object.name: name, .namespace: "cinder",
 * .version: version, .data: data}, or NULL (arena failed). */
struct pv *proto_build_object(struct pv_arena *a, const char *name, const char *version,
			      const struct pv *data);

/* A Cinder Volume 1.9 versioned-object primitive for f, or NULL (arena failed). */
struct pv *proto_build_volume(struct pv_arena *a, const struct proto_volume_fields *f);

#endif
