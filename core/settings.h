/*
 * settings.h - helpers that turn the shared configuration into domain parameters.
 */
#ifndef VOLMGR_CORE_SETTINGS_H
#define VOLMGR_CORE_SETTINGS_H

#include "common/cfg.h"
#include "core/quota.h"

/* The quota defaults of cfg_common. */
void settings_quota_defaults(const struct cfg_common *c, struct quota_defaults *out);

#endif
