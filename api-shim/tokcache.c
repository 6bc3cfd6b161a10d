/*
 * tokcache.c - the bounded token cache of the keystone strategy (see tokcache.h).
 */
#include "api-shim/tokcache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tokcache_entry {
	uint64_t hash;
	size_t len;                  /* 0: empty */
	time_t until;
	bool valid;
	char token[AUTH_TOKEN_MAX];
	struct auth_ctx ctx;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tokcache_entry *entries;
static size_t nsets;

/* FNV-1a: it only spreads tokens over the sets; equality is decided on the whole token. */
static uint64_t hash_token(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int tokcache_init(int n)
{
	size_t sets = n > TOKCACHE_WAYS ? ((size_t)n + TOKCACHE_WAYS - 1) / TOKCACHE_WAYS : 1;

	entries = calloc(sets * TOKCACHE_WAYS, sizeof(*entries));
	if (entries == NULL)
		return -1;
	nsets = sets;
	return 0;
}

void tokcache_shutdown(void)
{
	pthread_mutex_lock(&lock);
	free(entries);
	entries = NULL;
	nsets = 0;
	pthread_mutex_unlock(&lock);
}

/* The entry of token in its set, or NULL. Called with the lock held. */
static struct tokcache_entry *find(struct tokcache_entry *set, const char *token, size_t len,
				   uint64_t h)
{
	for (int i = 0; i < TOKCACHE_WAYS; i++)
		if (set[i].len != 0 && set[i].hash == h &&
		    auth_token_equal(token, len, set[i].token, set[i].len))
			return &set[i];
	return NULL;
}

int tokcache_get(const char *token, time_t now, struct auth_ctx *out)
{
	size_t len = strlen(token);
	uint64_t h = hash_token(token, len);
	struct tokcache_entry *e;
	int rc = TOKCACHE_MISS;

	pthread_mutex_lock(&lock);
	e = entries != NULL && len < AUTH_TOKEN_MAX ?
		find(&entries[(h % nsets) * TOKCACHE_WAYS], token, len, h) : NULL;
	if (e != NULL && e->until > now) {
		rc = e->valid ? TOKCACHE_VALID : TOKCACHE_INVALID;
		if (e->valid)
			*out = e->ctx;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void tokcache_put(const char *token, const struct auth_ctx *ctx, time_t until, time_t now)
{
	size_t len = strlen(token);
	uint64_t h = hash_token(token, len);
	struct tokcache_entry *set, *e;

	if (len == 0 || len >= AUTH_TOKEN_MAX || until <= now)
		return;
	pthread_mutex_lock(&lock);
	if (entries == NULL)
		goto out;
	set = &entries[(h % nsets) * TOKCACHE_WAYS];
	e = find(set, token, len, h);
	for (int i = 0; e == NULL && i < TOKCACHE_WAYS; i++)
		if (set[i].len == 0 || set[i].until <= now)
			e = &set[i];
	/* A full set gives up the entry that would expire first. */
	if (e == NULL) {
		e = &set[0];
		for (int i = 1; i < TOKCACHE_WAYS; i++)
			if (set[i].until < e->until)
				e = &set[i];
	}
	e->hash = h;
	e->len = len;
	e->until = until;
	e->valid = ctx != NULL;
	memcpy(e->token, token, len + 1);
	if (ctx != NULL)
		e->ctx = *ctx;
	else
		memset(&e->ctx, 0, sizeof(e->ctx));
out:
	pthread_mutex_unlock(&lock);
}
