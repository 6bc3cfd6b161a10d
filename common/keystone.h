/*
 * keystone.h - a small client of the Identity API v3 (Keystone): a session that holds a
 * password-authenticated, project-scoped token and renews it before it expires, the service
 * catalog that came with it, and the validation of other tokens with it (GET /v3/auth/tokens
 * with X-Subject-Token), as keystoneauth and keystonemiddleware do.
 *
 * Every call that talks to Keystone blocks for up to the session's timeout (twice when a
 * token must be renewed first): call it where blocking is allowed (an offload thread, a
 * manager handler outside its transaction). A session is thread-safe; its token and catalog
 * are renewed under its lock, so callers that need a new token at the same time wait for
 * one request.
 */
#ifndef VOLMGR_COMMON_KEYSTONE_H
#define VOLMGR_COMMON_KEYSTONE_H

#include <stddef.h>
#include <time.h>

#include "common/cfg.h"

#define KS_TOKEN_MAX 1024   /* a fernet token is about 200 bytes; longer ones are refused */
#define KS_ID_MAX 256       /* user and project ids (Cinder's columns hold 255 bytes) */
#define KS_ROLE_MAX 64
#define KS_MAX_ROLES 16
#define KS_URL_MAX 1024
/* A session renews its token this many seconds before Keystone's expiry. */
#define KS_RENEW_MARGIN_S 120

/* keystoneauth's password plugin options; strings are copied by ks_session_new. */
struct ks_creds {
	const char *auth_url;            /* ".../v3" or the service root; "/v3" is added */
	const char *username;
	const char *password;
	const char *project_name;
	const char *user_domain_name;
	const char *project_domain_name;
	int timeout;                     /* seconds per request */
};

/* What a validated token says about its bearer. */
struct ks_identity {
	char user_id[KS_ID_MAX];
	char project_id[KS_ID_MAX];
	char user_domain_id[KS_ID_MAX];          /* "" when Keystone named none */
	char project_domain_id[KS_ID_MAX];
	char roles[KS_MAX_ROLES][KS_ROLE_MAX];   /* role names; at most KS_MAX_ROLES are kept */
	int nroles;
	time_t expires_at;                       /* wall-clock */
};

enum ks_status {
	KS_OK = 0,
	KS_REJECTED = 1,      /* Keystone answered that the token (or the credentials) is not valid */
	KS_UNAVAILABLE = -1,  /* no answer, or one that cannot be understood */
};

/* keystoneauth's password plugin options as a configuration section holds them (strings owned
 * by cfg), e.g. [keystone_authtoken] and [nova]. */
struct ks_auth_options {
	char *auth_url;
	char *auth_type;            /* "password", the one plugin volmgr has */
	char *username;
	char *password;
	char *project_name;
	char *user_domain_name;
	char *project_domain_name;
};

/* The cfg_key rows of those options in section, with their targets in opts (an lvalue of
 * struct ks_auth_options), to put in a section's key table. */
#define KS_AUTH_OPTION_KEYS(section, opts) \
	{ section, "auth_url", CFG_STR, &(opts).auth_url, NULL, 0, 0, NULL }, \
	{ section, "auth_type", CFG_STR, &(opts).auth_type, "password", 0, 0, NULL }, \
	{ section, "username", CFG_STR, &(opts).username, NULL, 0, 0, NULL }, \
	{ section, "password", CFG_STR, &(opts).password, NULL, 0, 0, NULL }, \
	{ section, "project_name", CFG_STR, &(opts).project_name, NULL, 0, 0, NULL }, \
	{ section, "user_domain_name", CFG_STR, &(opts).user_domain_name, "Default", 0, 0, NULL }, \
	{ section, "project_domain_name", CFG_STR, &(opts).project_domain_name, "Default", 0, 0, \
	  NULL }

struct ks_session;

/* A session for creds (nothing is sent yet). NULL when memory runs out. */
struct ks_session *ks_session_new(const struct ks_creds *creds);

/*
 * A session for the options of section (named in err), with timeout seconds per request:
 * auth_type must be password, and auth_url, username, password and project_name set.
 * NULL with the reason in err otherwise, or when memory runs out.
 */
struct ks_session *ks_session_from_options(const char *section, const struct ks_auth_options *o,
					   int timeout, char *err, size_t errlen);
void ks_session_free(struct ks_session *s);

/*
 * Copies a token of the session into out (outlen >= KS_TOKEN_MAX), authenticating first when
 * it has none or it expires within KS_RENEW_MARGIN_S. Returns an enum ks_status; err gets the
 * reason of anything but KS_OK (KS_REJECTED: Keystone refused the credentials).
 */
__attribute__((warn_unused_result))
int ks_session_token(struct ks_session *s, char *out, size_t outlen, char *err, size_t errlen);

/*
 * The URL of the endpoint of service type (e.g. "compute") for interface ("public",
 * "internal" or "admin") and region (NULL or "" for any) in the catalog of the session's
 * token, authenticating first as ks_session_token does. Returns an enum ks_status; KS_REJECTED
 * also when the catalog has no such endpoint.
 */
__attribute__((warn_unused_result))
int ks_session_endpoint(struct ks_session *s, const char *type, const char *interface,
			const char *region, char *out, size_t outlen, char *err, size_t errlen);

/*
 * Sends method to the Identity API path (e.g. "/services?type=volumev3") with the session's
 * token and body (JSON text or NULL), authenticating first as ks_session_token does. Returns
 * an enum ks_status (KS_OK: an answer arrived, whatever its status, in out; the caller frees
 * it with http_response_free).
 */
struct http_response;
__attribute__((warn_unused_result))
int ks_session_call(struct ks_session *s, const char *method, const char *path,
		    const char *body, struct http_response *out, char *err, size_t errlen);

/* Forgets the session's token, so that the next call authenticates again (after a service
 * answered 401 to it). */
void ks_session_invalidate(struct ks_session *s);

/*
 * Validates subject (a token a client sent) with the session's own token: KS_OK with out
 * filled when it is a valid project-scoped token, KS_REJECTED when Keystone says it is not
 * valid (unknown, expired, revoked) or it is not scoped to a project, KS_UNAVAILABLE when
 * Keystone cannot tell (unreachable, an error, or it refuses the session's own credentials).
 * A session token that Keystone answers 401 to is renewed once.
 */
__attribute__((warn_unused_result))
int ks_validate(struct ks_session *s, const char *subject, struct ks_identity *out, char *err,
		size_t errlen);

/* Parses Keystone's ISO 8601 time ("2026-01-02T03:04:05.000000Z", "...+00:00"). Returns 0
 * or -1. Exposed for unit tests. */
__attribute__((warn_unused_result))
int ks_parse_time(const char *text, time_t *out);

/*
 * Reads the body of a token answer ({"token": {...}}) into out. Returns KS_OK, or KS_REJECTED
 * when it has no user, no project scope or no valid expiry. Exposed for unit tests.
 */
__attribute__((warn_unused_result))
int ks_parse_token(const char *body, struct ks_identity *out);

#endif
