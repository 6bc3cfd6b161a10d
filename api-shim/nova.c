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

#define NOVA_URL_MAX 2048
#define NOVA_HDR_MAX 1100

int nova_attachment_in_use(const char *server, const char *volume_id, const char *attachment_id,
			   char *err, size_t errlen)
{
	const char *ep = nova_cfg.endpoint != NULL ? nova_cfg.endpoint : "";
	size_t eplen = strlen(ep);
	const char *headers[3] = { "X-OpenStack-Nova-API-Version: 2.89", NULL, NULL };
	char url[NOVA_URL_MAX], token[NOVA_HDR_MAX];
	struct http_response resp = { 0 };
	json_error_t jerr;
	json_t *root = NULL;
	const char *used;
	int n, rc = NOVA_FAILED;

	while (eplen > 0 && ep[eplen - 1] == '/')
		eplen--;
	if (eplen == 0) {
		snprintf(err, errlen, "no compute endpoint configured ([nova] endpoint)");
		return NOVA_FAILED;
	}
	n = snprintf(url, sizeof(url), "%.*s/servers/%s/os-volume_attachments/%s", (int)eplen, ep,
		     server, volume_id);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		snprintf(err, errlen, "compute endpoint is too long");
		return NOVA_FAILED;
	}
	if (nova_cfg.token != NULL && nova_cfg.token[0] != '\0') {
		n = snprintf(token, sizeof(token), "X-Auth-Token: %s", nova_cfg.token);
		if (n < 0 || (size_t)n >= sizeof(token)) {
			snprintf(err, errlen, "[nova] token is too long");
			return NOVA_FAILED;
		}
		headers[1] = token;
	}
	if (http_request("GET", url, headers, NULL, nova_cfg.timeout, &resp, err, errlen) != 0)
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
