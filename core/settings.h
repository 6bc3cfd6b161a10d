/*
 * settings.h - the service's own settings of the shared configuration file: the [DEFAULT]
 * keys that are Cinder's (backend, availability zone, default volume type, quotas, user
 * message lifetime), which common/cfg.h reads without knowing what they mean.
 *
 * A program that needs them adds settings_keys to the tables it gives cfg_load; afterwards
 * the global below is read-only.
 */
#ifndef VOLMGR_CORE_SETTINGS_H
#define VOLMGR_CORE_SETTINGS_H

#include "common/cfg.h"
#include "core/quota.h"

struct settings {
	char *backend;                    /* the backend part of "<host>@<backend>#<pool>" */
	char *storage_availability_zone;
	char *default_volume_type;
	int quota_volumes;                /* -1: unlimited */
	int quota_snapshots;
	int quota_gigabytes;
	int per_volume_size_limit;
	int reservation_expire;           /* seconds a quota reservation lives */
	int message_ttl;                  /* seconds a user message lives */
};

/* Strings are owned by cfg (cfg_free). */
extern struct settings settings;
/* Terminated by an entry whose name is NULL. */
extern const struct cfg_key settings_keys[];

/* The quota defaults of s. */
void settings_quota_defaults(const struct settings *s, struct quota_defaults *out);

#endif
