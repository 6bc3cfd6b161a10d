/*
 * conf.c - the api-shim's [api] and [keystone_authtoken] key tables. It lives apart from main.c because every program
 * links it: conf/registry.h lists it so that the other programs know its keys.
 */
#include "api-shim/shim.h"

struct api_config api_cfg;

const struct cfg_key api_keys[] = {
	{ "api", "listen", CFG_STR, &api_cfg.listen, "127.0.0.1", 0, 0, NULL },
	{ "api", "port", CFG_INT, &api_cfg.port, "8776", 1, 65535, NULL },
	{ "api", "metrics_listen", CFG_STR, &api_cfg.metrics_listen, "", 0, 0, NULL },
	{ "api", "auth_strategy", CFG_STR, &api_cfg.auth_strategy, "noauth", 0, 0, NULL },
	{ "api", "noauth_allow_remote", CFG_BOOL, &api_cfg.noauth_allow_remote, "false", 0, 0,
	  NULL },
	{ "api", "admin_users", CFG_STR, &api_cfg.admin_users, "admin", 0, 0, NULL },
	{ "api", "token_file", CFG_STR, &api_cfg.token_file, NULL, 0, 0, NULL },
	{ "api", "publish_timeout", CFG_INT, &api_cfg.publish_timeout, "5", 1, 300, NULL },
	{ "api", "rpc_response_timeout", CFG_INT, &api_cfg.rpc_response_timeout, "60", 1, 3600,
	  NULL },
	{ "api", "rpc_wire_format", CFG_STR, &api_cfg.rpc_wire_format_text, "msgpack", 0, 0,
	  NULL },
	{ "api", "service_roles", CFG_STR, &api_cfg.service_roles, "service", 0, 0, NULL },
	{ "api", "workers", CFG_INT, &api_cfg.workers, "8", 1, 256, NULL },
	{ "api", "max_connections", CFG_INT, &api_cfg.max_connections, "1024", 16, 65536, NULL },
	{ "api", "max_connections_per_address", CFG_INT, &api_cfg.max_connections_per_address,
	  "256", 1, 65536, NULL },
	{ "api", "client_header_timeout", CFG_INT, &api_cfg.client_header_timeout, "10", 1, 3600,
	  NULL },
	{ "api", "client_body_timeout", CFG_INT, &api_cfg.client_body_timeout, "30", 1, 3600,
	  NULL },
	{ "api", "request_timeout", CFG_INT, &api_cfg.request_timeout, "120", 1, 3600, NULL },
	{ "api", "cast_workers", CFG_INT, &api_cfg.cast_workers, "8", 1, 256, NULL },
	{ "DEFAULT", "enable_force_upload", CFG_BOOL, &api_cfg.enable_force_upload, "false", 0, 0,
	  NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};

struct keystone_authtoken_config keystone_cfg;

const struct cfg_key keystone_keys[] = {
	{ "keystone_authtoken", "www_authenticate_uri", CFG_STR,
	  &keystone_cfg.www_authenticate_uri, NULL, 0, 0, NULL },
	KS_AUTH_OPTION_KEYS("keystone_authtoken", keystone_cfg.auth),
	{ "keystone_authtoken", "service_token_roles", CFG_STR, &keystone_cfg.service_token_roles,
	  "service", 0, 0, NULL },
	{ "keystone_authtoken", "service_token_roles_required", CFG_BOOL,
	  &keystone_cfg.service_token_roles_required, "false", 0, 0, NULL },
	{ "keystone_authtoken", "token_cache_time", CFG_INT, &keystone_cfg.token_cache_time, "300",
	  1, 86400, NULL },
	{ "keystone_authtoken", "http_connect_timeout", CFG_INT,
	  &keystone_cfg.http_connect_timeout, "5", 1, 300, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};
