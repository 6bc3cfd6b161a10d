/*
 * ksauth.c - token validation by Keystone, with its cache (see ksauth.h).
 */
#include "api-shim/ksauth.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/keystone.h"
#include "common/log.h"
#include "api-shim/shim.h"
#include "api-shim/tokcache.h"

static struct ks_session *session;

int ksauth_init(char *err, size_t errlen)
{
	const struct keystone_authtoken_config *c = &keystone_cfg;

	if (c->www_authenticate_uri == NULL || c->www_authenticate_uri[0] == '\0') {
		snprintf(err, errlen, "[keystone_authtoken] www_authenticate_uri must be set");
		return -1;
	}
	session = ks_session_from_options("keystone_authtoken", &c->auth, c->http_connect_timeout,
					  err, errlen);
	if (session == NULL)
		return -1;
	if (tokcache_init(KSAUTH_CACHE_ENTRIES) != 0) {
		snprintf(err, errlen, "out of memory");
		ksauth_shutdown();
		return -1;
	}
	return 0;
}

void ksauth_shutdown(void)
{
	ks_session_free(session);
	session = NULL;
	tokcache_shutdown();
}

int ksauth_lookup(const char *token, struct auth_ctx *out)
{
	memset(out, 0, sizeof(*out));
	if (token == NULL || token[0] == '\0')
		return AUTH_MISSING;
	if (strlen(token) >= AUTH_TOKEN_MAX)
		return AUTH_INVALID;
	switch (tokcache_get(token, time(NULL), out)) {
	case TOKCACHE_VALID:
		return AUTH_OK;
	case TOKCACHE_INVALID:
		return AUTH_INVALID;
	default:
		return AUTH_PENDING;
	}
}

static void identity_to_ctx(const struct ks_identity *id, struct auth_ctx *out)
{
	memset(out, 0, sizeof(*out));
	/* Both sides are sized for Cinder's 255-byte columns and KS_MAX_ROLES roles. */
	_Static_assert(sizeof(out->user_id) == sizeof(id->user_id), "id sizes");
	_Static_assert(sizeof(out->roles) == sizeof(id->roles), "role sizes");
	memcpy(out->user_id, id->user_id, sizeof(out->user_id));
	memcpy(out->project_id, id->project_id, sizeof(out->project_id));
	memcpy(out->user_domain_id, id->user_domain_id, sizeof(out->user_domain_id));
	memcpy(out->project_domain_id, id->project_domain_id, sizeof(out->project_domain_id));
	memcpy(out->roles, id->roles, sizeof(out->roles));
	out->nroles = id->nroles;
	auth_set_admin(out);
}

int ksauth_validate(const char *token, struct auth_ctx *out)
{
	struct ks_identity id;
	char err[256];
	time_t now = time(NULL), until;
	int rc = ksauth_lookup(token, out);

	if (rc != AUTH_PENDING)
		return rc;
	switch (ks_validate(session, token, &id, err, sizeof(err))) {
	case KS_OK:
		identity_to_ctx(&id, out);
		until = now + keystone_cfg.token_cache_time;
		tokcache_put(token, out, id.expires_at < until ? id.expires_at : until, now);
		return AUTH_OK;
	case KS_REJECTED:
		log_info("auth: token refused: %s", err);
		until = now + (keystone_cfg.token_cache_time < KSAUTH_INVALID_TTL_S ?
			       keystone_cfg.token_cache_time : KSAUTH_INVALID_TTL_S);
		tokcache_put(token, NULL, until, now);
		memset(out, 0, sizeof(*out));
		return AUTH_INVALID;
	default:
		log_error("auth: Keystone cannot validate tokens: %s", err);
		memset(out, 0, sizeof(*out));
		return AUTH_UNAVAILABLE;
	}
}
