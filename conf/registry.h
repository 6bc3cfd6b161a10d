/*
 * registry.h - every key table of the project, for cfg_load's "known" set.
 *
 * The three programs share one configuration file, so a key one of them reads must not be
 * reported as unknown by the other two, while a typo must still be. Each table is declared
 * once, by the layer that reads it (common/cfg.c, core/settings.c, core/nova.c,
 * api-shim/conf.c, manager/mconf.c); this registry only lists them, and is linked into every
 * program together with those tables (Makefile, CONF_SRCS). A new table is added here.
 */
#ifndef VOLMGR_CONF_REGISTRY_H
#define VOLMGR_CONF_REGISTRY_H

#include "common/cfg.h"

extern const struct cfg_tables conf_registry;

#endif
