/*
 * nova.h - the service's client of the compute API (Nova), used by both daemons, and its
 * [nova] key table:
 *   - the shim's 409 guard of the detach actions asks whether a server still uses a volume
 *     attachment (Cinder's get_server_volume, bug 2004555);
 *   - the manager sends the volume-extended external event after growing an in-use volume
 *     (Cinder's extend_volume_completion path, docs/contracts.md).
 *
 * Every call is blocking, bounded by [nova] timeout (twice or three times when the service
 * user's token must be obtained from Keystone first, or the catalog read), and must be made
 * outside any database transaction, so that no row lock is held while the compute service
 * answers. The HTTP plumbing is common/http.h's, Keystone's common/keystone.h's.
 */
#ifndef VOLMGR_CORE_NOVA_H
#define VOLMGR_CORE_NOVA_H

#include <stddef.h>

#include "common/cfg.h"
#include "common/keystone.h"

/* The [nova] section. Strings are owned by cfg (cfg_free). */
struct nova_config {
	char *endpoint;        /* "" when no compute service is configured (or: the catalog's) */
	char *token;           /* X-Auth-Token; "" sends none */
	int timeout;           /* seconds per request */
	/* keystoneauth's options, as Cinder's [nova] section has them: when auth_url is set,
	 * the calls authenticate as this service user (a token renewed before it expires;
	 * token is then unused), and an unset endpoint is the catalog's compute endpoint. */
	struct ks_auth_options auth;
	char *region_name;     /* "" for any region */
	char *interface;       /* the catalog's public, internal or admin endpoint */
};

extern struct nova_config nova_cfg;
/* Terminated by an entry whose name is NULL. */
extern const struct cfg_key nova_keys[];

/* Servers one volume-extended request may name. */
#define NOVA_MAX_SERVERS 16

enum nova_use {
	NOVA_IN_USE = 1,     /* the server has the volume attached through this attachment */
	NOVA_NOT_USED = 0,   /* 404, or the server uses another attachment of the volume */
	NOVA_FAILED = -1,    /* no endpoint, transport error or an unexpected answer */
};

enum nova_events {
	NOVA_EVENTS_OK = 0,
	/* The request was accepted but at least one event came back with a code other than 200.
	 * Cinder only warns about this; a caller waiting for feedback treats it as a failure. */
	NOVA_EVENT_REJECTED = 1,
	/* No endpoint, transport error, non-2xx answer, or an answer that is not
	 * {"events": [...]} with a code on every event. */
	NOVA_EVENTS_FAILED = -1,
};

/*
 * GET <endpoint>/servers/<server>/os-volume_attachments/<volume_id> with
 * X-OpenStack-Nova-API-Version 2.89 (the microversion whose answer has attachment_id) and,
 * when the token is set, X-Auth-Token. Returns an enum nova_use; err receives the reason of
 * NOVA_FAILED.
 */
__attribute__((warn_unused_result))
int nova_attachment_in_use(const char *server, const char *volume_id, const char *attachment_id,
			   char *err, size_t errlen);

/*
 * POSTs {"events": [{"name": "volume-extended", "server_uuid": s, "tag": volume_id}, ...]},
 * one event per entry of servers (1 <= n <= NOVA_MAX_SERVERS), to
 * "<endpoint>/os-server-external-events" with X-OpenStack-Nova-API-Version 2.51 and, when the
 * token is set, X-Auth-Token. Returns an enum nova_events; err receives the reason of anything
 * but NOVA_EVENTS_OK.
 */
__attribute__((warn_unused_result))
int nova_volume_extended(const char *const *servers, int n, const char *volume_id, char *err,
			 size_t errlen);

/*
 * Cinder's nova.update_server_volume: asks compute to swap the volume old_volume_id of
 * server for new_volume_id, PUT "<endpoint>/servers/<server>/os-volume_attachments/
 * <old_volume_id>" with {"volumeAttachment": {"volumeId": new_volume_id}} (compute copies
 * the bytes and calls os-migrate_volume_completion back). Returns 0 when compute accepted it
 * (2xx), or -1 with the reason in err.
 */
__attribute__((warn_unused_result))
int nova_swap_volume(const char *server, const char *old_volume_id, const char *new_volume_id,
		     char *err, size_t errlen);

#endif
