/*
 * tokcache.h - the bounded cache of validated tokens of the keystone strategy: a token maps
 * to who it is (an auth_ctx) until a deadline, or to "invalid" for a short while, so that a
 * token already seen needs no request to Keystone, and a flood of one bad token is not a
 * flood on Keystone.
 *
 * The cache holds a fixed number of entries (set-associative by a hash of the token); a new
 * entry replaces an expired one of its set, else the one that expires first. The whole token
 * is kept and compared in constant time (auth_token_equal), never only a hash of it. Times are
 * wall-clock seconds, given by the caller (unit tests pass their own). Thread-safe after
 * tokcache_init.
 */
#ifndef VOLMGR_SHIM_TOKCACHE_H
#define VOLMGR_SHIM_TOKCACHE_H

#include <time.h>

#include "api-shim/auth.h"

#define TOKCACHE_WAYS 8

enum tokcache_hit {
	TOKCACHE_MISS = -1,
	TOKCACHE_INVALID = 0,   /* the token was found invalid and that is still remembered */
	TOKCACHE_VALID = 1,     /* out holds who it is */
};

/* Makes room for entries tokens (rounded up to a multiple of TOKCACHE_WAYS, at least one
 * set). Returns 0, or -1 when memory runs out. Call once, before any other call. */
__attribute__((warn_unused_result))
int tokcache_init(int entries);

/* Frees the cache (tokcache_init may be called again). */
void tokcache_shutdown(void);

/* Looks token up at time now. Returns an enum tokcache_hit; out is filled on TOKCACHE_VALID. */
int tokcache_get(const char *token, time_t now, struct auth_ctx *out);

/*
 * Remembers token until the time until: as ctx when ctx is not NULL, else as invalid. A
 * token longer than AUTH_TOKEN_MAX - 1 bytes, or an until not after now, is not kept.
 */
void tokcache_put(const char *token, const struct auth_ctx *ctx, time_t until, time_t now);

#endif
