/*
 * methods.h - the volume RPC methods volmgr serves, one row each.
 *
 * PROTO_METHODS(X) calls X once per method, with the whole description of the method:
 *
 *   X(ID, name, send_version, min_minor, kind, group, args, handler, failed, after)
 *
 *   ID            the suffix of its enum proto_method_id constant (PROTO_M_<ID>)
 *   name          the method name on the wire, a bare token (stringified where needed); the
 *                 typed arguments are struct proto_args_<name> (schema.h), member <name> of
 *                 union proto_args
 *   send_version  the version a sender stamps ("3.19")
 *   min_minor     the lowest 3.x a receiver must support to serve it
 *   kind          PROTO_CAST or PROTO_CALL
 *   group         whether the manager may finalize several messages of it in one transaction
 *                 (manager/batch.c); false for calls
 *   args          the argument schema, a parenthesised list of entries in the order a sender
 *                 puts them: PROTO_ARG(key, kind, required, member), member being the field of
 *                 union proto_args that holds the typed value, or PROTO_ARG_IGNORED(key, kind,
 *                 required) for an argument the receiver validates and ignores (it reads the
 *                 database instead) and a sender fills from the volume or with null. The same
 *                 schema parses a received message (proto_args_parse) and builds a sent one
 *                 (proto_args_build), so a sender and a receiver cannot disagree.
 *   handler       the manager's transaction body (manager/handlers.h)
 *   failed        the manager's transaction for a message dead-lettered for good, or NULL
 *   after         the manager's after-commit step, or NULL
 *
 * Each layer expands the rows it needs and ignores the rest: proto builds its method and
 * argument tables, the manager its dispatch table. The handler columns are names only, so the
 * shim, which never expands them, does not link the manager's code. Adding a method is one row
 * here, its argument struct in schema.h, and its handler.
 *
 * Oslo lets a sender add optional arguments, so a receiver ignores arguments not listed.
 */
#ifndef VOLMGR_PROTO_METHODS_H
#define VOLMGR_PROTO_METHODS_H

#define PROTO_METHODS(X)                                                                  \
	X(CREATE_VOLUME, create_volume, "3.0", 0, PROTO_CAST, false,                      \
	  (PROTO_ARG("volume", A_VOLUME, true, create_volume.volume_id),                  \
	   PROTO_ARG("request_spec", A_REQUEST_SPEC, false, create_volume.image_id),    \
	   PROTO_ARG_IGNORED("filter_properties", A_MAP_OR_NULL, false),          \
	   PROTO_ARG("allow_reschedule", A_BOOL, false, create_volume.allow_reschedule)), \
	  h_create_volume, h_create_volume_failed, NULL)                                  \
	X(DELETE_VOLUME, delete_volume, "3.0", 0, PROTO_CAST, false,                      \
	  (PROTO_ARG("volume", A_VOLUME, true, delete_volume.volume_id),                  \
	   PROTO_ARG("unmanage_only", A_BOOL, false, delete_volume.unmanage_only),        \
	   PROTO_ARG("cascade", A_BOOL, false, delete_volume.cascade)),                   \
	  h_delete_volume, h_delete_volume_failed, NULL)                                  \
	X(EXTEND_VOLUME, extend_volume, "3.0", 0, PROTO_CAST, true,                      \
	  (PROTO_ARG("volume", A_VOLUME, true, extend_volume.volume_id),                  \
	   PROTO_ARG("new_size", A_SIZE, true, extend_volume.new_size),                   \
	   PROTO_ARG("reservations", A_RESERVATIONS, true, extend_volume.reservations)),  \
	  h_extend_volume, h_extend_volume_failed, h_extend_after)                        \
	X(EXTEND_VOLUME_COMPLETION, extend_volume_completion, "3.19", 19, PROTO_CAST, true, \
	  (PROTO_ARG("volume", A_VOLUME, true, extend_volume_completion.volume_id),       \
	   PROTO_ARG("new_size", A_SIZE, true, extend_volume_completion.new_size),        \
	   PROTO_ARG("reservations", A_RESERVATIONS, true,                                \
		     extend_volume_completion.reservations),                              \
	   PROTO_ARG("error", A_ERROR, true, extend_volume_completion.error)),            \
	  h_extend_completion, h_extend_completion_failed, NULL)                          \
	X(INITIALIZE_CONNECTION, initialize_connection, "3.0", 0, PROTO_CALL, false,      \
	  (PROTO_ARG("volume", A_VOLUME, true, initialize_connection.volume_id),          \
	   PROTO_ARG("connector", A_CONNECTOR, true, initialize_connection.connector)),   \
	  h_initialize_connection, NULL, NULL)                                            \
	X(TERMINATE_CONNECTION, terminate_connection, "3.0", 0, PROTO_CALL, false,        \
	  (PROTO_ARG("volume_id", A_VOLUME_ID, true, terminate_connection.volume_id),          \
	   PROTO_ARG("connector", A_CONNECTOR_OR_NULL, true,                              \
		     terminate_connection.connector),                                     \
	   PROTO_ARG("force", A_BOOL, false, terminate_connection.force)),                \
	  h_terminate_connection, NULL, NULL)                                             \
	X(ATTACH_VOLUME, attach_volume, "3.3", 0, PROTO_CALL, false,                      \
	  (PROTO_ARG("volume_id", A_VOLUME_ID, true, attach_volume.volume_id),                 \
	   PROTO_ARG_IGNORED("volume", A_VOLUME, false),                           \
	   PROTO_ARG("instance_uuid", A_UUID_OR_NULL, true, attach_volume.instance_uuid), \
	   PROTO_ARG("host_name", A_TEXT_OR_NULL, true, attach_volume.host_name),         \
	   PROTO_ARG("mountpoint", A_TEXT_OR_NULL, true, attach_volume.mountpoint),       \
	   PROTO_ARG("mode", A_MODE, true, attach_volume.mode)),                          \
	  h_attach_volume, NULL, NULL)                                                    \
	X(DETACH_VOLUME, detach_volume, "3.4", 0, PROTO_CALL, false,                      \
	  (PROTO_ARG("volume_id", A_VOLUME_ID, true, detach_volume.volume_id),                 \
	   PROTO_ARG_IGNORED("volume", A_VOLUME, false),                           \
	   PROTO_ARG("attachment_id", A_UUID_OR_NULL, false, detach_volume.attachment_id)), \
	  h_detach_volume, NULL, NULL)                                                    \
	X(ATTACHMENT_UPDATE, attachment_update, "3.9", 9, PROTO_CALL, false,              \
	  (PROTO_ARG("vref", A_VOLUME, true, attachment_update.volume_id),                \
	   PROTO_ARG("connector", A_CONNECTOR, true, attachment_update.connector),        \
	   PROTO_ARG("attachment_id", A_UUID, true, attachment_update.attachment_id)),    \
	  h_attachment_update, NULL, NULL)                                                \
	X(ATTACHMENT_DELETE, attachment_delete, "3.9", 9, PROTO_CALL, false,              \
	  (PROTO_ARG("attachment_id", A_UUID, true, attachment_delete.attachment_id),     \
	   PROTO_ARG("vref", A_VOLUME, true, attachment_delete.volume_id)),               \
	  h_attachment_delete, NULL, NULL)                                                \
	X(PUBLISH_SERVICE_CAPABILITIES, publish_service_capabilities, "3.0", 0,           \
	  PROTO_CAST, false, (), h_publish_service_capabilities, NULL, NULL)               \
	X(FREEZE_HOST, freeze_host, "3.0", 0, PROTO_CALL, false, (), h_freeze_host, NULL,   \
	  NULL)                                                                           \
	X(THAW_HOST, thaw_host, "3.0", 0, PROTO_CALL, false, (), h_thaw_host, NULL, NULL)   \
	X(MIGRATE_VOLUME, migrate_volume, "3.5", 0, PROTO_CAST, false,                    \
	  (PROTO_ARG("volume", A_VOLUME, true, migrate_volume.volume_id),                 \
	   PROTO_ARG("host", A_HOST, true, migrate_volume.host),                          \
	   PROTO_ARG("force_host_copy", A_BOOL, false, migrate_volume.force_host_copy)),  \
	  h_migrate_volume, h_migrate_volume_failed, NULL)                                \
	X(MIGRATE_VOLUME_COMPLETION, migrate_volume_completion, "3.0", 0, PROTO_CALL,     \
	  false,                                                                          \
	  (PROTO_ARG("volume", A_VOLUME, true, migrate_volume_completion.volume_id),      \
	   PROTO_ARG("new_volume", A_NEW_VOLUME, true,                                    \
		     migrate_volume_completion.new_volume),                               \
	   PROTO_ARG("error", A_ERROR, true, migrate_volume_completion.error)),           \
	  h_migrate_volume_completion, NULL, NULL)                                        \
	X(UPDATE_MIGRATED_VOLUME, update_migrated_volume, "3.0", 0, PROTO_CALL, false,    \
	  (PROTO_ARG("volume", A_VOLUME, true, update_migrated_volume.volume_id),         \
	   PROTO_ARG("new_volume", A_NEW_VOLUME, true, update_migrated_volume.new_volume),\
	   PROTO_ARG("volume_status", A_TEXT_OR_NULL, true,                               \
		     update_migrated_volume.volume_status)),                              \
	  h_update_migrated_volume, NULL, NULL)                                           \
	X(RETYPE, retype, "3.5", 0, PROTO_CAST, false,                                    \
	  (PROTO_ARG("volume", A_VOLUME, true, retype.volume_id),                         \
	   PROTO_ARG("new_type_id", A_UUID, true, retype.new_type_id),                    \
	   PROTO_ARG("host", A_HOST, true, retype.host),                                  \
	   PROTO_ARG("migration_policy", A_POLICY, false, retype.migration_policy),       \
	   PROTO_ARG("reservations", A_RESERVATIONS_OR_NULL, false, retype.reservations), \
	   PROTO_ARG("old_reservations", A_RESERVATIONS_OR_NULL, false,                   \
		     retype.old_reservations)),                                           \
	  h_retype, h_retype_failed, NULL)                                                \
	X(CREATE_SNAPSHOT, create_snapshot, "3.0", 0, PROTO_CAST, false,                  \
	  (PROTO_ARG("snapshot", A_SNAPSHOT, true, create_snapshot.snapshot)),            \
	  h_create_snapshot, h_create_snapshot_failed, NULL)                              \
	X(DELETE_SNAPSHOT, delete_snapshot, "3.0", 0, PROTO_CAST, false,                  \
	  (PROTO_ARG("snapshot", A_SNAPSHOT, true, delete_snapshot.snapshot),             \
	   PROTO_ARG("unmanage_only", A_BOOL, false, delete_snapshot.unmanage_only)),     \
	  h_delete_snapshot, h_delete_snapshot_failed, NULL)                              \
	X(REVERT_TO_SNAPSHOT, revert_to_snapshot, "3.15", 15, PROTO_CAST, false,          \
	  (PROTO_ARG("volume", A_VOLUME, true, revert_to_snapshot.volume_id),             \
	   PROTO_ARG("snapshot", A_SNAPSHOT, true, revert_to_snapshot.snapshot)),         \
	  h_revert_to_snapshot, h_revert_to_snapshot_failed, NULL)                        \
	X(COPY_VOLUME_TO_IMAGE, copy_volume_to_image, "3.0", 0, PROTO_CAST, false,        \
	  (PROTO_ARG("volume_id", A_VOLUME_ID, true, copy_volume_to_image.volume_id),     \
	   PROTO_ARG("image_meta", A_MAP, true, copy_volume_to_image.image_meta)),        \
	  h_copy_volume_to_image, h_copy_volume_to_image_failed, NULL)                    \
	X(REIMAGE, reimage, "3.18", 18, PROTO_CAST, false,                                \
	  (PROTO_ARG("volume", A_VOLUME, true, reimage.volume_id),                        \
	   PROTO_ARG("image_meta", A_MAP, true, reimage.image_meta)),                     \
	  h_reimage, h_reimage_failed, NULL)                                              \
	X(MANAGE_EXISTING, manage_existing, "3.0", 0, PROTO_CAST, false,                  \
	  (PROTO_ARG("ref", A_VALUE, true, manage_existing.ref),                            \
	   PROTO_ARG("volume", A_VOLUME, true, manage_existing.volume_id)),               \
	  h_manage_existing, h_manage_existing_failed, NULL)                              \
	X(GET_MANAGEABLE_VOLUMES, get_manageable_volumes, "3.10", 0, PROTO_CALL, false,   \
	  (PROTO_ARG("marker", A_VALUE, false, get_manageable_volumes.marker),            \
	   PROTO_ARG("limit", A_COUNT_OR_NULL, false, get_manageable_volumes.limit),      \
	   PROTO_ARG("offset", A_COUNT_OR_NULL, false, get_manageable_volumes.offset),    \
	   PROTO_ARG("sort_keys", A_VALUE, false, get_manageable_volumes.sort_keys),      \
	   PROTO_ARG("sort_dirs", A_VALUE, false, get_manageable_volumes.sort_dirs),      \
	   PROTO_ARG("want_objects", A_BOOL, false, get_manageable_volumes.want_objects)), \
	  h_get_manageable_volumes, NULL, NULL)

#endif
