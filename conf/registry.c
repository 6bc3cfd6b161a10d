/*
 * registry.c - the list of every key table of the project (see registry.h).
 */
#include "conf/registry.h"

#include "api-shim/shim.h"
#include "core/glance.h"
#include "core/notification.h"
#include "core/nova.h"
#include "core/settings.h"
#include "manager/mconf.h"

static const struct cfg_key *const conf_registry_tables[] = {
	cfg_common_keys, settings_keys, nova_keys, glance_keys, api_keys, keystone_keys, mconf_keys,
	notification_keys,
};

const struct cfg_tables conf_registry = {
	conf_registry_tables, sizeof(conf_registry_tables) / sizeof(conf_registry_tables[0]),
};
