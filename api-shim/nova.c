/*
 * nova.c - the compute API check of the 409 guard (see nova.h).
 */
#include "api-shim/nova.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/http.h"
#include "common/log.h"
#include "api-shim/shim.h"

#define NOVA_PATH_MAX 256

int nova_attachment_in_use(const char *server, const char *volume_id, const char *attachment_id,
			   char *err, size_t errlen)
{
	char path[NOVA_PATH_MAX];
	struct http_response resp = { 0 };
	json_error_t jerr;
	json_t *root = NULL;
	const char *used;
	int n, rc = NOVA_FAILED;

	n = snprintf(path, sizeof(path), "/servers/%s/os-volume_attachments/%s", server, volume_id);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "server or volume id is too long");
		goto out;
	}
	if (http_service_request("GET", nova_cfg.endpoint, path, nova_cfg.token,
				 "X-OpenStack-Nova-API-Version: 2.89", NULL, nova_cfg.timeout,
				 &resp, err, errlen) != 0)
		goto out;
	if (resp.status == 404) {
		rc = NOVA_NOT_USED;
		goto out;
	}
	root = resp.status == 200 ? json_loads(resp.body != NULL ? resp.body : "", 0, &jerr) : NULL;
	if (!json_is_object(json_object_get(root, "volumeAttachment"))) {
		snprintf(err, errlen, "compute answered HTTP %ld without a volumeAttachment",
			 resp.status);
		goto out;
	}
	/* Cinder proceeds when Nova's attachment differs: that attachment is not the one the
	 * server uses, so ending it cannot leave the server with a dangling device. */
	used = json_string_value(json_object_get(json_object_get(root, "volumeAttachment"),
						 "attachment_id"));
	rc = used != NULL && strcmp(used, attachment_id) == 0 ? NOVA_IN_USE : NOVA_NOT_USED;
out:
	log_info("compute: server %s, volume %s, attachment %s: %s", server, volume_id,
		 attachment_id, rc == NOVA_IN_USE ? "in use" : rc == NOVA_NOT_USED ? "not used" :
		 err);
	json_decref(root);
	http_response_free(&resp);
	return rc;
}
