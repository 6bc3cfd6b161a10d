/*
 * ksauth.h - the keystone strategy: X-Auth-Token and X-Service-Token validated by Keystone,
 * as keystonemiddleware's auth_token does ([keystone_authtoken], shim.h).
 *
 * The shim authenticates as its own service user (a ks_session that renews its token itself)
 * and validates a client's token with GET /v3/auth/tokens. A valid token is cached
 * (tokcache.h) until min(its expiry, now + token_cache_time); an invalid one for
 * KSAUTH_INVALID_TTL_S at most, so that a flood of one bad token is not a flood on Keystone.
 * Keystone not answering is never taken for a valid token: the request gets 503.
 *
 * ksauth_lookup only reads the cache and never blocks; ksauth_validate asks Keystone and
 * blocks for up to twice [keystone_authtoken] http_connect_timeout, so server.c runs it on the
 * offload threads with the request suspended.
 */
#ifndef VOLMGR_SHIM_KSAUTH_H
#define VOLMGR_SHIM_KSAUTH_H

#include <stddef.h>

#include "api-shim/auth.h"

/* Tokens the cache holds at most. */
#define KSAUTH_CACHE_ENTRIES 2048
/* Seconds an invalid token is remembered (at most token_cache_time). */
#define KSAUTH_INVALID_TTL_S 10

/*
 * Checks [keystone_authtoken] (auth_type password; auth_url, username, password,
 * project_name and www_authenticate_uri set) and makes the session and the cache; nothing is
 * sent to Keystone yet. Returns 0, or -1 with a readable reason in err.
 */
__attribute__((warn_unused_result))
int ksauth_init(char *err, size_t errlen);

void ksauth_shutdown(void);

/* From the cache alone: AUTH_OK (out filled, is_admin set), AUTH_INVALID, AUTH_MISSING (token
 * NULL or empty) or AUTH_PENDING (not cached: call ksauth_validate). */
int ksauth_lookup(const char *token, struct auth_ctx *out);

/* Asks Keystone (blocking) and caches the answer: AUTH_OK (out filled, is_admin set),
 * AUTH_INVALID, or AUTH_UNAVAILABLE when Keystone cannot tell. */
int ksauth_validate(const char *token, struct auth_ctx *out);

#endif
