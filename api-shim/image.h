/*
 * image.h - what the volume create of volumes.c needs of the image actions (image.c): the
 * image a new volume is created from (imageRef or image_id), looked up in the image service
 * and checked as Cinder's create flow checks it.
 */
#ifndef VOLMGR_SHIM_IMAGE_H
#define VOLMGR_SHIM_IMAGE_H

#include <jansson.h>
#include "api-shim/request.h"

/* The image a create names, and its lookup's outcome. Lives with the request. */
struct image_source {
	const char *id;               /* NULL: none; else points into the request body */
	const char *token;            /* the caller's, sent to the image service */
	int status;                   /* enum glance_status of the lookup */
	json_t *image;                /* the image's record while it is checked */
	char err[512];
};

/* Reads imageRef (or image_id) of the request's volume object vol into src (src->id NULL
 * when absent or null). Returns 0, or -1 with a 400 set. */
__attribute__((warn_unused_result))
int image_source_parse(struct shim_request *r, const json_t *vol, struct image_source *src);

/* Suspends r and looks src's image up on the OFFLOAD_IMAGE pool; next(r) runs afterwards on a
 * server thread. Returns 0, or -1 with a 503 set (r not suspended). */
__attribute__((warn_unused_result))
int image_source_lookup(struct shim_request *r, struct image_source *src, req_resume_fn next);

/* After the lookup: 0 when the image exists, is active and fits a volume of size GiB; else
 * -1 with Cinder's 400 set. Frees src->image. */
__attribute__((warn_unused_result))
int image_source_verdict(struct shim_request *r, struct image_source *src, int size);

#endif
