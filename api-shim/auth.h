/*
 * auth.h - who is calling: the request's user, project and roles.
 *
 * Two strategies ([api] auth_strategy):
 *   noauth    X-Auth-Token "<user>:<project>" (a token without ':' means user = project =
 *             token, as Cinder's noauth middleware reads it), roles from X-Roles
 *             (comma-separated). Meant for development and tests: the caller is trusted.
 *   tokenfile the token is looked up in [api] token_file, whose lines are
 *             "token user_id project_id role,role" ('#' starts a comment line). The file
 *             is read at start and again by auth_reload (the shim calls it on SIGHUP);
 *             tokens are compared in constant time.
 *   keystone  the token is validated by Keystone (api-shim/ksauth.h; server.c asks it, on the
 *             offload threads when the token is not in the cache); auth_resolve cannot
 *             resolve anything and client-sent role headers mean nothing.
 * Either way the caller is an admin when its roles hold "admin" (Cinder's context_is_admin
 * rule) or its user id is listed in [api] admin_users (for clients that cannot send roles).
 *
 * Unlike Cinder's noauth middleware, which makes every caller an admin and answers a request
 * without a token with 204 and a made-up token, a missing or unknown token is 401 here.
 *
 * This header knows nothing of HTTP, so that the rules can be unit-tested.
 */
#ifndef VOLMGR_SHIM_AUTH_H
#define VOLMGR_SHIM_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_ID_MAX 256      /* user and project ids: at most 255 bytes (Cinder's columns) */
#define AUTH_ROLE_MAX 64
#define AUTH_MAX_ROLES 16
#define AUTH_TOKEN_MAX 1024   /* a longer token is invalid */

struct auth_ctx {
	char user_id[AUTH_ID_MAX];
	char project_id[AUTH_ID_MAX];
	char user_domain_id[AUTH_ID_MAX];    /* keystone: the token's domains; "" otherwise */
	char project_domain_id[AUTH_ID_MAX];
	char roles[AUTH_MAX_ROLES][AUTH_ROLE_MAX];
	int nroles;
	bool is_admin;
	/* The request also carried a valid service token whose roles hold a service role
	 * (auth_service_token): it comes from another OpenStack service, e.g. the compute
	 * service, as Cinder's is_service_request tells. */
	bool is_service;
};

enum auth_status {
	AUTH_OK = 0,
	AUTH_MISSING = -1,   /* no token */
	AUTH_INVALID = -2,   /* unknown or malformed token */
	AUTH_PENDING = -3,   /* keystone: not in the cache, Keystone must be asked */
	AUTH_UNAVAILABLE = -4, /* keystone: Keystone could not be asked */
};

/*
 * Sets the strategy and its data: strategy "noauth", "tokenfile" or "keystone" (token_file then names
 * the file, read now), admin_users a comma-separated list (may be NULL or empty).
 * The token file must be a regular file that neither group nor others may read or write
 * (mode 0600 or 0400): any other mode is refused.
 * Returns 0, or -1 with a readable reason in err. Call once, before any auth_resolve.
 */
__attribute__((warn_unused_result))
int auth_init(const char *strategy, const char *token_file, const char *admin_users,
	      char *err, size_t errlen);

/*
 * Reads the token file again (tokenfile strategy; does nothing for noauth) and replaces the
 * tokens in force at once: tokens added to the file work from now on, removed ones stop
 * working. A file that cannot be read, is malformed or has a mode group or others may use
 * leaves the previous tokens in force. Safe while other threads call auth_resolve.
 * Returns 0, or -1 with a readable reason in err.
 */
__attribute__((warn_unused_result))
int auth_reload(char *err, size_t errlen);

/* Frees what auth_init and auth_reload loaded. */
void auth_shutdown(void);

/*
 * True if the given token (given_len bytes) equals the known one (known_len bytes, not 0).
 * The comparison takes a time that depends on given_len only, not on the bytes compared, so
 * that timing the answers does not reveal a token's bytes one after the other.
 */
bool auth_token_equal(const char *given, size_t given_len, const char *known,
		      size_t known_len);

/*
 * Resolves a token (the X-Auth-Token value, may be NULL) and, for noauth, the X-Roles value
 * (may be NULL) into out. Thread-safe after auth_init. Returns an enum auth_status.
 */
__attribute__((warn_unused_result))
int auth_resolve(const char *token, const char *roles_header, struct auth_ctx *out);

/*
 * Cinder's is_service_request for a service token (X-Service-Token, may be NULL) and, for
 * noauth, its roles header (X-Service-Roles): true when the token resolves as auth_resolve
 * resolves a user token and its roles hold one of service_roles (comma-separated, as
 * Cinder's [keystone_authtoken] service_token_roles).
 */
bool auth_service_token(const char *token, const char *roles_header, const char *service_roles);

/* True under the keystone strategy. */
bool auth_keystone(void);

/* Sets ctx->is_admin from its roles (and, except under keystone, [api] admin_users). */
void auth_set_admin(struct auth_ctx *ctx);

/* True if svc's roles hold one of service_roles (comma-separated). */
bool auth_is_service(const struct auth_ctx *svc, const char *service_roles);

/* True if ctx holds role (exact match). */
bool auth_has_role(const struct auth_ctx *ctx, const char *role);

#endif
