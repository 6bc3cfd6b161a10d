/*
 * compute.c - POST /os-server-external-events (cinder/compute/nova.py _send_events).
 */
#include "manager/compute.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/http.h"
#include "common/log.h"
#include "manager/mconf.h"


static char *compute_body(const char *const *servers, int n, const char *volume_id)
{
	json_t *events = json_array();
	for (int i = 0; events != NULL && i < n; i++) {
		json_t *ev = json_pack("{s:s, s:s, s:s}", "name", "volume-extended",
				       "server_uuid", servers[i], "tag", volume_id);
		if (ev == NULL || json_array_append_new(events, ev) != 0) {
			json_decref(events);
			return NULL;
		}
	}
	json_t *root = events != NULL ? json_pack("{s:o}", "events", events) : NULL;
	char *body = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return body;
}

/* Maps an answer as _send_events does: not {"events": [...]} or an event without a code is a
 * failure; a code other than 200 is only a rejection of that event. */
static int compute_verdict(const struct http_response *r, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loads(r->body != NULL ? r->body : "", 0, &jerr);
	json_t *events = json_is_object(root) ? json_object_get(root, "events") : NULL;
	int rc = COMPUTE_OK;
	size_t i;
	json_t *ev;

	if (!json_is_array(events)) {
		snprintf(err, errlen, "compute answered %ld without an events list", r->status);
		rc = COMPUTE_FAILED;
		goto out;
	}
	json_array_foreach(events, i, ev) {
		json_t *code = json_object_get(ev, "code");
		if (!json_is_integer(code)) {
			snprintf(err, errlen, "compute answered an event without a code");
			rc = COMPUTE_FAILED;
			goto out;
		}
		if (json_integer_value(code) != 200 && rc == COMPUTE_OK) {
			snprintf(err, errlen, "compute answered event code %lld",
				 (long long)json_integer_value(code));
			rc = COMPUTE_EVENT_REJECTED;
		}
	}
out:
	json_decref(root);
	return rc;
}

int compute_volume_extended(const char *const *servers, int n, const char *volume_id,
			    char *err, size_t errlen)
{
	struct http_response resp = { 0 };
	char *body = NULL;
	int rc = COMPUTE_FAILED;

	if (n < 1 || n > COMPUTE_MAX_SERVERS) {
		snprintf(err, errlen, "%d servers to notify (1..%d)", n, COMPUTE_MAX_SERVERS);
		return COMPUTE_FAILED;
	}
	body = compute_body(servers, n, volume_id);
	if (body == NULL) {
		snprintf(err, errlen, "out of memory building the event");
		return COMPUTE_FAILED;
	}
	if (http_service_request("POST", mconf.nova_endpoint, "/os-server-external-events",
				 mconf.nova_token, "X-OpenStack-Nova-API-Version: 2.51", body,
				 mconf.nova_timeout, &resp, err, errlen) != 0)
		goto out;
	if (resp.status < 200 || resp.status > 299) {
		snprintf(err, errlen, "compute answered HTTP %ld%s", resp.status,
			 resp.status == 404 ? " (no such server)" : "");
		goto out;
	}
	rc = compute_verdict(&resp, err, errlen);
out:
	log_debug("compute: volume-extended for volume %s to %d server(s): %s", volume_id, n,
		  rc == COMPUTE_OK ? "ok" : err);
	http_response_free(&resp);
	free(body);
	return rc;
}
