/*
 * shim.h - the api-shim's configuration (its [api] keys on top of cfg_common, settings and
 * nova_cfg) and its fixed limits.
 *
 * main.c fills api_cfg (table in conf.c) and shim_quota_defaults before the server starts;
 * every other file only reads them.
 */
#ifndef VOLMGR_SHIM_SHIM_H
#define VOLMGR_SHIM_SHIM_H

#include <stdbool.h>

#include "common/cfg.h"
#include "common/keystone.h"
#include "core/quota.h"
#include "proto/wire.h"

/* The [api] section (docs/contracts.md). Strings are owned by cfg. */
struct api_config {
	char *listen;
	char *metrics_listen;  /* the shim's /metrics; "" takes [DEFAULT] metrics_listen */
	int port;
	char *auth_strategy;   /* "noauth" | "tokenfile" | "keystone" */
	bool noauth_allow_remote; /* noauth may listen on an address that is not loopback */
	char *admin_users;     /* comma-separated user ids treated as admin */
	char *token_file;
	int publish_timeout;   /* seconds */
	int rpc_response_timeout; /* seconds a call waits for its reply (oslo's option name) */
	int workers;           /* HTTP worker threads */
	int max_connections;   /* client connections at once, waiting requests included */
	int max_connections_per_address;
	int client_header_timeout; /* seconds for a request's head to arrive */
	int client_body_timeout;   /* seconds for its body to arrive after the head */
	int request_timeout;       /* seconds from a request's head to its answer, at most */
	int cast_workers;          /* threads that run the transactions that publish a cast */
	bool enable_force_upload;  /* os-volume_upload_image's force is honoured (Cinder's option) */
	char *service_roles;   /* comma-separated roles that make a caller a service */
	char *rpc_wire_format_text; /* "msgpack" | "json" */
	enum proto_format rpc_wire_format; /* parsed from it: how casts and calls are encoded */
};

extern struct api_config api_cfg;

/* The [keystone_authtoken] section of the keystone strategy, with keystonemiddleware's
 * option names (docs/operations.md). Strings are owned by cfg. */
struct keystone_authtoken_config {
	char *www_authenticate_uri;   /* told to clients in WWW-Authenticate */
	struct ks_auth_options auth;  /* the shim's own user, which validates tokens */
	char *service_token_roles;    /* comma-separated: an X-Service-Token with one is a service */
	bool service_token_roles_required; /* a service token without them is refused (401) */
	int token_cache_time;         /* seconds a validated token is trusted without asking */
	int http_connect_timeout;     /* seconds per request to Keystone */
};

extern struct keystone_authtoken_config keystone_cfg;
/* The [keystone_authtoken] keys, terminated by an entry whose name is NULL. */
extern const struct cfg_key keystone_keys[];
/* The [api] keys, terminated by an entry whose name is NULL. */
extern const struct cfg_key api_keys[];
/* The quota defaults of the settings (settings_quota_defaults). */
extern struct quota_defaults shim_quota_defaults;

/* A request body larger than this is answered 413 without being kept. */
#define SHIM_MAX_BODY (1024 * 1024)
/* Bound on every SQL statement of a request, lock waits included. */
#define SHIM_STATEMENT_TIMEOUT_MS 10000
/* Attempts of a transaction that hits a serialization failure or deadlock. */
#define SHIM_TXN_ATTEMPTS 3
/* The longest the publisher waits for a connection to the broker. */
#define SHIM_CONNECT_MAX_MS 5000
/* Seconds SIGTERM waits for in-flight requests before stopping the server. */
#define SHIM_DRAIN_SECONDS 10
/* Largest page of a list (Cinder's osapi_max_limit default). */
#define SHIM_MAX_LIMIT 1000

/* The microversions this API serves (Cinder HEAD). */
#define SHIM_MIN_MAJOR 3
#define SHIM_MIN_MINOR 0
#define SHIM_MAX_MAJOR 3
#define SHIM_MAX_MINOR 71
#define SHIM_VERSION_UPDATED "2023-08-31T00:00:00Z"

#endif
