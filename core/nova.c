/*
 * nova.c - the compute API client of both daemons (see nova.h).
 */
#include "core/nova.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/keystone.h"
#include "common/log.h"
#include "common/util.h"

#define NOVA_PATH_MAX 256

struct nova_config nova_cfg;

/* VOLMGR_COMPUTE_URL lets scripts/run.sh and the tests point both daemons at a stub. */
const struct cfg_key nova_keys[] = {
	{ "nova", "endpoint", CFG_STR, &nova_cfg.endpoint, NULL, 0, 0, "VOLMGR_COMPUTE_URL" },
	{ "nova", "timeout", CFG_INT, &nova_cfg.timeout, "10", 1, 300, NULL },
	{ "nova", "token", CFG_STR, &nova_cfg.token, NULL, 0, 0, NULL },
	KS_AUTH_OPTION_KEYS("nova", nova_cfg.auth),
	{ "nova", "region_name", CFG_STR, &nova_cfg.region_name, NULL, 0, 0, NULL },
	{ "nova", "interface", CFG_STR, &nova_cfg.interface, "public", 0, 0, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};

/* The service user's session, made at the first call (the configuration is read by then). */
static pthread_once_t session_once = PTHREAD_ONCE_INIT;
static struct ks_session *session;

static void session_make(void)
{
	char err[256];

	if (nova_cfg.auth.auth_url == NULL || nova_cfg.auth.auth_url[0] == '\0')
		return;
	session = ks_session_from_options("nova", &nova_cfg.auth, nova_cfg.timeout, err,
					  sizeof(err));
	if (session == NULL)
		log_error("compute calls go without a token: %s", err);
}

/*
 * One request to the compute API, as the service user when [nova] auth_url is set (at the
 * catalog's endpoint when [nova] endpoint is not; a 401 renews the token and tries once
 * more), else with [nova] token at [nova] endpoint. Returns as http_service_request.
 */
static int nova_request(const char *method, const char *path, const char *version,
			const char *body, struct http_response *resp, char *err, size_t errlen)
{
	char token[KS_TOKEN_MAX], endpoint[KS_URL_MAX];

	pthread_once(&session_once, session_make);
	if (session == NULL)
		return http_service_request(method, nova_cfg.endpoint, path, nova_cfg.token,
					    version, body, nova_cfg.timeout, resp, err, errlen);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (nova_cfg.endpoint != NULL && nova_cfg.endpoint[0] != '\0')
			util_strlcpy(endpoint, nova_cfg.endpoint, sizeof(endpoint));
		else if (ks_session_endpoint(session, "compute", nova_cfg.interface,
					     nova_cfg.region_name, endpoint, sizeof(endpoint),
					     err, errlen) != KS_OK)
			return -1;
		if (ks_session_token(session, token, sizeof(token), err, errlen) != KS_OK ||
		    http_service_request(method, endpoint, path, token, version, body,
					 nova_cfg.timeout, resp, err, errlen) != 0)
			return -1;
		if (resp->status != 401 || attempt == 1)
			break;
		/* Our token was revoked or expired early: a new one, once. */
		http_response_free(resp);
		ks_session_invalidate(session);
	}
	return 0;
}

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
	if (nova_request("GET", path, "X-OpenStack-Nova-API-Version: 2.89", NULL, &resp, err,
			 errlen) != 0)
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

static char *nova_events_body(const char *const *servers, int n, const char *volume_id)
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

/* Maps an answer as Cinder's _send_events does: not {"events": [...]} or an event without a code is a
 * failure; a code other than 200 is only a rejection of that event. */
static int nova_events_verdict(const struct http_response *r, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loads(r->body != NULL ? r->body : "", 0, &jerr);
	json_t *events = json_is_object(root) ? json_object_get(root, "events") : NULL;
	int rc = NOVA_EVENTS_OK;
	size_t i;
	json_t *ev;

	if (!json_is_array(events)) {
		snprintf(err, errlen, "compute answered %ld without an events list", r->status);
		rc = NOVA_EVENTS_FAILED;
		goto out;
	}
	json_array_foreach(events, i, ev) {
		json_t *code = json_object_get(ev, "code");
		if (!json_is_integer(code)) {
			snprintf(err, errlen, "compute answered an event without a code");
			rc = NOVA_EVENTS_FAILED;
			goto out;
		}
		if (json_integer_value(code) != 200 && rc == NOVA_EVENTS_OK) {
			snprintf(err, errlen, "compute answered event code %lld",
				 (long long)json_integer_value(code));
			rc = NOVA_EVENT_REJECTED;
		}
	}
out:
	json_decref(root);
	return rc;
}

int nova_volume_extended(const char *const *servers, int n, const char *volume_id, char *err,
			 size_t errlen)
{
	struct http_response resp = { 0 };
	char *body = NULL;
	int rc = NOVA_EVENTS_FAILED;

	if (n < 1 || n > NOVA_MAX_SERVERS) {
		snprintf(err, errlen, "%d servers to notify (1..%d)", n, NOVA_MAX_SERVERS);
		return NOVA_EVENTS_FAILED;
	}
	body = nova_events_body(servers, n, volume_id);
	if (body == NULL) {
		snprintf(err, errlen, "out of memory building the event");
		return NOVA_EVENTS_FAILED;
	}
	if (nova_request("POST", "/os-server-external-events", "X-OpenStack-Nova-API-Version: 2.51",
			 body, &resp, err, errlen) != 0)
		goto out;
	if (resp.status < 200 || resp.status > 299) {
		snprintf(err, errlen, "compute answered HTTP %ld%s", resp.status,
			 resp.status == 404 ? " (no such server)" : "");
		goto out;
	}
	rc = nova_events_verdict(&resp, err, errlen);
out:
	log_debug("compute: volume-extended for volume %s to %d server(s): %s", volume_id, n,
		  rc == NOVA_EVENTS_OK ? "ok" : err);
	http_response_free(&resp);
	free(body);
	return rc;
}

int nova_swap_volume(const char *server, const char *old_volume_id, const char *new_volume_id,
		     char *err, size_t errlen)
{
	char path[NOVA_PATH_MAX];
	struct http_response resp = { 0 };
	json_t *root = json_pack("{s:{s:s}}", "volumeAttachment", "volumeId", new_volume_id);
	char *body = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(root);
	int n = snprintf(path, sizeof(path), "/servers/%s/os-volume_attachments/%s", server,
			 old_volume_id);
	if (body == NULL || n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "the swap request of server %s cannot be built", server);
		goto out;
	}
	if (nova_request("PUT", path, NULL, body, &resp, err, errlen) != 0)
		goto out;
	if (resp.status < 200 || resp.status > 299) {
		snprintf(err, errlen, "compute answered HTTP %ld to the swap", resp.status);
		goto out;
	}
	rc = 0;
out:
	log_info("compute: swap of volume %s for %s on server %s: %s", old_volume_id,
		 new_volume_id, server, rc == 0 ? "accepted" : err);
	http_response_free(&resp);
	free(body);
	return rc;
}
