/*
 * names.h - literal values both sides must agree on: statuses, admin-metadata keys, user
 * message ids. Values are Cinder's (docs/cinder.md).
 */
#ifndef VOLMGR_PROTO_NAMES_H
#define VOLMGR_PROTO_NAMES_H

/* volumes.status */
#define VOL_S_CREATING "creating"
#define VOL_S_AVAILABLE "available"
#define VOL_S_IN_USE "in-use"
#define VOL_S_EXTENDING "extending"
#define VOL_S_ERROR_EXTENDING "error_extending"
#define VOL_S_DELETING "deleting"
#define VOL_S_DELETED "deleted"
#define VOL_S_ERROR "error"
#define VOL_S_ERROR_DELETING "error_deleting"
#define VOL_S_RESERVED "reserved"
#define VOL_S_ATTACHING "attaching"
#define VOL_S_DETACHING "detaching"
#define VOL_S_RETYPING "retyping"
#define VOL_S_REVERTING "reverting"

/* Manage and unmanage (docs/cinder.md §20). */
#define VOL_S_MANAGING "managing"
#define VOL_S_ERROR_MANAGING "error_managing"
#define VOL_S_UNMANAGING "unmanaging"
#define VOL_S_ERROR_UNMANAGING "error_unmanaging"
#define VOL_S_ERROR_MANAGING_DELETING "error_managing_deleting"

/* Images (docs/cinder.md §18): an upload to an image, a reimage. */
#define VOL_S_UPLOADING "uploading"
#define VOL_S_DOWNLOADING "downloading"

/* volumes.attach_status / volume_attachment.attach_status */
#define VOL_AS_ATTACHED "attached"
#define VOL_AS_ATTACHING "attaching"
#define VOL_AS_DETACHED "detached"
#define VOL_AS_RESERVED "reserved"

/* volume_admin_metadata keys */
#define ADMIN_MD_EXTEND_NEW_SIZE "extend_new_size"
#define ADMIN_MD_EXTEND_RESERVATIONS "extend_reservations"
#define ADMIN_MD_ATTACHED_MODE "attached_mode"
#define ADMIN_MD_READONLY "readonly"

/* User messages (messages table) */
#define UMSG_RESOURCE_VOLUME "VOLUME"
#define UMSG_ACTION_EXTEND_VOLUME "007"
#define UMSG_ACTION_SCHEDULE_ALLOCATE_VOLUME "001"
#define UMSG_ACTION_CREATE_VOLUME "008"  /* cinder: CREATE_VOLUME_FROM_BACKEND */
#define UMSG_DETAIL_UNKNOWN_ERROR "001"
#define UMSG_DETAIL_NO_BACKEND_AVAILABLE "003"
#define UMSG_DETAIL_NOTIFY_COMPUTE_SERVICE_FAILED "009"
#define UMSG_DETAIL_DRIVER_FAILED_EXTEND "010"
/* Images */
#define UMSG_ACTION_COPY_VOLUME_TO_IMAGE "003"
#define UMSG_ACTION_COPY_IMAGE_TO_VOLUME "005"
#define UMSG_DETAIL_FAILED_TO_UPLOAD_VOLUME "004"
#define UMSG_DETAIL_NOT_ENOUGH_SPACE_FOR_IMAGE "007"
/* volmgr's own: the compute service did not report back before the deadline */
#define UMSG_DETAIL_COMPUTE_FEEDBACK_TIMEOUT "volmgr-001"

/* Quota resources */
#define QUOTA_RES_VOLUMES "volumes"
#define QUOTA_RES_GIGABYTES "gigabytes"
#define QUOTA_RES_SNAPSHOTS "snapshots"
#define QUOTA_RES_PER_VOLUME_GIGABYTES "per_volume_gigabytes"
#define DEFAULT_VOLUME_TYPE_NAME "__DEFAULT__"

#endif
