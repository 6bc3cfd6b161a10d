/*
 * keystone.c - the Identity API v3 client (see keystone.h).
 */
#include "common/keystone.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/log.h"
#include "common/util.h"

#define KS_HDR_MAX (KS_TOKEN_MAX + 32)

struct ks_session {
	pthread_mutex_t lock;
	char *auth_url, *username, *password, *project_name, *user_domain, *project_domain;
	int timeout;
	char v3[KS_URL_MAX];          /* auth_url ending in "/v3" */
	char token[KS_TOKEN_MAX];     /* "" until authenticated */
	time_t expires_at;
	json_t *catalog;              /* the token's catalog, or NULL */
};

void ks_session_free(struct ks_session *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->auth_url);
	free(s->username);
	free(s->password);
	free(s->project_name);
	free(s->user_domain);
	free(s->project_domain);
	json_decref(s->catalog);
	free(s);
}

static char *dup_or_empty(const char *v)
{
	return strdup(v != NULL ? v : "");
}

struct ks_session *ks_session_new(const struct ks_creds *c)
{
	struct ks_session *s = calloc(1, sizeof(*s));
	size_t n;

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->auth_url = dup_or_empty(c->auth_url);
	s->username = dup_or_empty(c->username);
	s->password = dup_or_empty(c->password);
	s->project_name = dup_or_empty(c->project_name);
	s->user_domain = dup_or_empty(c->user_domain_name);
	s->project_domain = dup_or_empty(c->project_domain_name);
	s->timeout = c->timeout > 0 ? c->timeout : 1;
	if (s->auth_url == NULL || s->username == NULL || s->password == NULL ||
	    s->project_name == NULL || s->user_domain == NULL || s->project_domain == NULL) {
		ks_session_free(s);
		return NULL;
	}
	/* keystoneauth takes both the service root and the versioned URL; volmgr speaks v3 only. */
	n = strlen(s->auth_url);
	while (n > 0 && s->auth_url[n - 1] == '/')
		n--;
	if (n >= 3 && strncmp(s->auth_url + n - 3, "/v3", 3) == 0)
		snprintf(s->v3, sizeof(s->v3), "%.*s", (int)n, s->auth_url);
	else
		snprintf(s->v3, sizeof(s->v3), "%.*s/v3", (int)n, s->auth_url);
	return s;
}

/* A required option of a section. Returns 0, or -1 with err set. */
static int need(const char *section, const char *key, const char *value, char *err,
		size_t errlen)
{
	if (value != NULL && value[0] != '\0')
		return 0;
	snprintf(err, errlen, "[%s] %s must be set", section, key);
	return -1;
}

struct ks_session *ks_session_from_options(const char *section, const struct ks_auth_options *o,
					   int timeout, char *err, size_t errlen)
{
	struct ks_creds creds = {
		o->auth_url, o->username, o->password, o->project_name, o->user_domain_name,
		o->project_domain_name, timeout,
	};
	struct ks_session *s;

	if (need(section, "auth_url", o->auth_url, err, errlen) != 0 ||
	    need(section, "username", o->username, err, errlen) != 0 ||
	    need(section, "password", o->password, err, errlen) != 0 ||
	    need(section, "project_name", o->project_name, err, errlen) != 0)
		return NULL;
	if (o->auth_type == NULL || strcmp(o->auth_type, "password") != 0) {
		snprintf(err, errlen, "[%s] auth_type: '%s' is not password", section,
			 o->auth_type != NULL ? o->auth_type : "");
		return NULL;
	}
	s = ks_session_new(&creds);
	if (s == NULL)
		snprintf(err, errlen, "out of memory");
	return s;
}

int ks_parse_time(const char *text, time_t *out)
{
	struct tm tm;
	const char *rest;

	memset(&tm, 0, sizeof(tm));
	rest = text != NULL ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (rest == NULL)
		return -1;
	if (*rest == '.') {
		rest++;
		while (*rest >= '0' && *rest <= '9')
			rest++;
	}
	/* Keystone writes UTC ("Z" or an offset of zero); anything else is not what it sends. */
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0 && strcmp(rest, "+0000") != 0)
		return -1;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

/* Copies a JSON string member into dst (dstlen bytes). Returns 0, or -1 when it is absent,
 * empty or too long. */
static int copy_member(json_t *obj, const char *key, char *dst, size_t dstlen)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (v == NULL || v[0] == '\0' || strlen(v) >= dstlen)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* Parses a token answer; keeps the catalog in *catalog when catalog is not NULL. */
static int parse_token(const char *body, struct ks_identity *out, json_t **catalog)
{
	json_error_t jerr;
	json_t *root = json_loads(body != NULL ? body : "", 0, &jerr);
	json_t *tok = json_object_get(root, "token"), *roles, *role;
	int rc = KS_REJECTED;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(tok) ||
	    copy_member(json_object_get(tok, "user"), "id", out->user_id, sizeof(out->user_id)) ||
	    copy_member(json_object_get(tok, "project"), "id", out->project_id,
			sizeof(out->project_id)) ||
	    ks_parse_time(json_string_value(json_object_get(tok, "expires_at")),
			  &out->expires_at) != 0)
		goto out;
	/* The domains are the context's, not the caller's credentials: absent ones stay "". */
	(void)copy_member(json_object_get(json_object_get(tok, "user"), "domain"), "id",
			  out->user_domain_id, sizeof(out->user_domain_id));
	(void)copy_member(json_object_get(json_object_get(tok, "project"), "domain"), "id",
			  out->project_domain_id, sizeof(out->project_domain_id));
	roles = json_object_get(tok, "roles");
	json_array_foreach(roles, i, role) {
		if (out->nroles < KS_MAX_ROLES &&
		    copy_member(role, "name", out->roles[out->nroles], KS_ROLE_MAX) == 0)
			out->nroles++;
	}
	if (catalog != NULL) {
		json_decref(*catalog);
		*catalog = json_incref(json_object_get(tok, "catalog"));
	}
	rc = KS_OK;
out:
	json_decref(root);
	return rc;
}

int ks_parse_token(const char *body, struct ks_identity *out)
{
	return parse_token(body, out, NULL);
}

/* keystoneauth's password method with a project scope, as JSON text (caller frees). */
static char *password_body(const struct ks_session *s)
{
	json_t *root = json_pack(
		"{s:{s:{s:[s], s:{s:{s:s, s:{s:s}, s:s}}}, s:{s:{s:s, s:{s:s}}}}}",
		"auth", "identity", "methods", "password", "password", "user",
		"name", s->username, "domain", "name", s->user_domain, "password", s->password,
		"scope", "project", "name", s->project_name, "domain", "name", s->project_domain);
	char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	return text;
}

/* Authenticates (POST /v3/auth/tokens). Called with s->lock held. */
static int authenticate(struct ks_session *s, char *err, size_t errlen)
{
	char url[KS_URL_MAX + 32], token[KS_TOKEN_MAX];
	struct http_response resp = { 0 };
	struct ks_identity who;
	char *body = password_body(s);
	int rc = KS_UNAVAILABLE;

	s->token[0] = '\0';
	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return KS_UNAVAILABLE;
	}
	snprintf(url, sizeof(url), "%s/auth/tokens", s->v3);
	if (http_request_capture("POST", url, NULL, body, s->timeout, "X-Subject-Token", token,
				 sizeof(token), &resp, err, errlen) != 0)
		goto out;
	if (resp.status == 401) {
		snprintf(err, errlen, "Keystone refused the credentials of user %s in project %s",
			 s->username, s->project_name);
		rc = KS_REJECTED;
		goto out;
	}
	if (resp.status != 201 || token[0] == '\0' ||
	    parse_token(resp.body, &who, &s->catalog) != KS_OK) {
		snprintf(err, errlen, "Keystone answered HTTP %ld to %s without a token",
			 resp.status, url);
		goto out;
	}
	util_strlcpy(s->token, token, sizeof(s->token));
	s->expires_at = who.expires_at;
	log_info("keystone: authenticated as %s in project %s", s->username, s->project_name);
	rc = KS_OK;
out:
	free(body);
	http_response_free(&resp);
	return rc;
}

/* Makes sure s holds a token that is good for KS_RENEW_MARGIN_S more. Called with the lock. */
static int ensure_token(struct ks_session *s, char *err, size_t errlen)
{
	if (s->token[0] != '\0' && time(NULL) + KS_RENEW_MARGIN_S < s->expires_at)
		return KS_OK;
	return authenticate(s, err, errlen);
}

int ks_session_token(struct ks_session *s, char *out, size_t outlen, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = ensure_token(s, err, errlen);
	if (rc == KS_OK && util_strlcpy(out, s->token, outlen) >= outlen) {
		snprintf(err, errlen, "no room for the token");
		rc = KS_UNAVAILABLE;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void ks_session_invalidate(struct ks_session *s)
{
	pthread_mutex_lock(&s->lock);
	s->token[0] = '\0';
	pthread_mutex_unlock(&s->lock);
}

/* The url of the endpoint of the catalog entry svc that matches interface and region. */
static const char *find_endpoint(json_t *svc, const char *interface, const char *region)
{
	json_t *ep;
	size_t i;

	json_array_foreach(json_object_get(svc, "endpoints"), i, ep) {
		const char *inf = json_string_value(json_object_get(ep, "interface"));
		const char *reg = json_string_value(json_object_get(ep, "region_id"));

		if (inf == NULL || strcmp(inf, interface) != 0)
			continue;
		if (region != NULL && region[0] != '\0' && (reg == NULL || strcmp(reg, region) != 0))
			continue;
		if (json_string_value(json_object_get(ep, "url")) != NULL)
			return json_string_value(json_object_get(ep, "url"));
	}
	return NULL;
}

int ks_session_endpoint(struct ks_session *s, const char *type, const char *interface,
			const char *region, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *url = NULL;
	json_t *svc;
	size_t i;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = ensure_token(s, err, errlen);
	json_array_foreach(rc == KS_OK ? s->catalog : NULL, i, svc) {
		const char *t = json_string_value(json_object_get(svc, "type"));

		if (t != NULL && strcmp(t, type) == 0 &&
		    (url = find_endpoint(svc, interface, region)) != NULL)
			break;
	}
	if (rc == KS_OK && (url == NULL || util_strlcpy(out, url, outlen) >= outlen)) {
		snprintf(err, errlen, "the catalog has no %s endpoint of service type %s%s%s",
			 interface, type, region != NULL && region[0] != '\0' ? " in region " : "",
			 region != NULL ? region : "");
		rc = KS_REJECTED;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int ks_session_call(struct ks_session *s, const char *method, const char *path,
		    const char *body, struct http_response *out, char *err, size_t errlen)
{
	char token[KS_TOKEN_MAX];
	int rc = ks_session_token(s, token, sizeof(token), err, errlen);

	if (rc != KS_OK)
		return rc;
	return http_service_request(method, s->v3, path, token, NULL, body, s->timeout, out, err,
				    errlen) == 0 ? KS_OK : KS_UNAVAILABLE;
}

/* One GET /v3/auth/tokens with the session's token. Returns the HTTP status, or -1. */
static long validate_once(struct ks_session *s, const char *subject, struct http_response *resp,
			  char *err, size_t errlen)
{
	char token[KS_TOKEN_MAX], auth[KS_HDR_MAX], subj[KS_HDR_MAX], url[KS_URL_MAX + 32];
	const char *headers[3] = { auth, subj, NULL };
	int rc = ks_session_token(s, token, sizeof(token), err, errlen);

	if (rc != KS_OK)
		return -1;
	snprintf(auth, sizeof(auth), "X-Auth-Token: %s", token);
	snprintf(subj, sizeof(subj), "X-Subject-Token: %s", subject);
	snprintf(url, sizeof(url), "%s/auth/tokens", s->v3);
	if (http_request("GET", url, headers, NULL, s->timeout, resp, err, errlen) != 0)
		return -1;
	return resp->status;
}

int ks_validate(struct ks_session *s, const char *subject, struct ks_identity *out, char *err,
		size_t errlen)
{
	struct http_response resp = { 0 };
	long status;
	int rc = KS_UNAVAILABLE;

	memset(out, 0, sizeof(*out));
	if (subject == NULL || subject[0] == '\0' || strlen(subject) >= KS_TOKEN_MAX ||
	    strpbrk(subject, "\r\n") != NULL) {
		snprintf(err, errlen, "not a token");
		return KS_REJECTED;
	}
	status = validate_once(s, subject, &resp, err, errlen);
	if (status == 401) {
		/* Our own token was revoked or expired early: a new one, once. */
		http_response_free(&resp);
		ks_session_invalidate(s);
		status = validate_once(s, subject, &resp, err, errlen);
	}
	if (status == 200) {
		rc = ks_parse_token(resp.body, out);
		if (rc != KS_OK)
			snprintf(err, errlen, "the token is not scoped to a project");
	} else if (status == 404) {
		snprintf(err, errlen, "Keystone does not know the token");
		rc = KS_REJECTED;
	} else if (status > 0) {
		snprintf(err, errlen, "Keystone answered HTTP %ld to a token validation", status);
	}
	http_response_free(&resp);
	return rc;
}
