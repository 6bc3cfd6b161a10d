/*
 * glance.h - the service's client of the image service (Glance's v2 API), used by both
 * daemons, and its [glance] key table:
 *   - the shim looks an image up (create from an image, os-reimage) and creates the queued
 *     image of os-volume_upload_image;
 *   - the manager sends a volume's bytes to an image (copy_volume_to_image), writes an
 *     image's bytes into a volume (create from an image, reimage) and deletes the image of a
 *     failed upload.
 *
 * Every call is blocking and must be made outside any database transaction that others wait
 * for, on a thread that serves nobody else meanwhile. Metadata calls are bounded by [glance]
 * glance_request_timeout, byte transfers by image_transfer_timeout. [glance] api_servers is a
 * comma-separated list of URLs: a call that gets no answer from one server is tried on the
 * next. The caller's token is sent when there is one (the shim's calls), as Cinder sends its
 * caller's; the manager's calls go without one. The HTTP plumbing is common/http.h's.
 */
#ifndef VOLMGR_CORE_GLANCE_H
#define VOLMGR_CORE_GLANCE_H

#include <stddef.h>
#include <jansson.h>

#include "common/cfg.h"

/* The [glance] section. Strings are owned by cfg (cfg_free). */
struct glance_config {
	char *api_servers;      /* comma-separated URLs; "" when no image service is configured */
	int request_timeout;    /* seconds per metadata request */
	int transfer_timeout;   /* seconds per byte transfer (upload or download) */
};

extern struct glance_config glance_cfg;
/* Terminated by an entry whose name is NULL. */
extern const struct cfg_key glance_keys[];

enum glance_status {
	GLANCE_OK = 0,
	GLANCE_NOT_FOUND = 1,   /* Glance answered 404: no such image (or not the caller's) */
	GLANCE_REFUSED = 2,     /* another 4xx: the request itself was refused (err says why) */
	GLANCE_FAILED = -1,     /* no server configured or answering, a 5xx, a bad answer */
};

/* GET /v2/images/<id>: *image receives the image's record (the caller json_decref()s it). */
__attribute__((warn_unused_result))
int glance_image_show(const char *token, const char *id, json_t **image, char *err,
		      size_t errlen);

/* POST /v2/images with body (name, formats, visibility, properties): a queued image whose
 * record *image receives (the caller json_decref()s it). */
__attribute__((warn_unused_result))
int glance_image_create(const char *token, const json_t *body, json_t **image, char *err,
			size_t errlen);

/* DELETE /v2/images/<id>; an image already gone is GLANCE_OK. */
__attribute__((warn_unused_result))
int glance_image_delete(const char *token, const char *id, char *err, size_t errlen);

/* PUT /v2/images/<id>/file: the len bytes of fd from offset 0 become the image's data
 * (Glance makes the image active). */
__attribute__((warn_unused_result))
int glance_image_upload(const char *token, const char *id, int fd, long long len, char *err,
			size_t errlen);

/* GET /v2/images/<id>/file into fd from offset 0 (a file that reads as zeros: zero blocks are
 * skipped), at most max bytes (more is GLANCE_FAILED); *got receives the bytes that came. */
__attribute__((warn_unused_result))
int glance_image_download(const char *token, const char *id, int fd, long long max,
			  long long *got, char *err, size_t errlen);

/* A string property of an image record, or def when it is absent or not a string. */
const char *glance_str(const json_t *image, const char *key, const char *def);

/* An integer property of an image record (size, min_disk...), or def. */
long long glance_int(const json_t *image, const char *key, long long def);

#endif
