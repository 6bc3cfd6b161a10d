/*
 * settings.c - the service's [DEFAULT] keys and the domain parameters made of them.
 */
#include "core/settings.h"

#include <limits.h>

struct settings settings;

/* Alphabetical, as deploy/volmgr.conf.sample documents them. */
const struct cfg_key settings_keys[] = {
	{ "DEFAULT", "backend", CFG_STR, &settings.backend, "filestore", 0, 0, NULL },
	{ "DEFAULT", "default_volume_type", CFG_STR, &settings.default_volume_type,
	  "__DEFAULT__", 0, 0, NULL },
	{ "DEFAULT", "message_ttl", CFG_INT, &settings.message_ttl, "2592000", 1, INT_MAX, NULL },
	{ "DEFAULT", "per_volume_size_limit", CFG_INT, &settings.per_volume_size_limit, "-1",
	  -1, INT_MAX, NULL },
	{ "DEFAULT", "quota_gigabytes", CFG_INT, &settings.quota_gigabytes, "1000", -1,
	  INT_MAX, NULL },
	{ "DEFAULT", "quota_snapshots", CFG_INT, &settings.quota_snapshots, "10", -1, INT_MAX,
	  NULL },
	{ "DEFAULT", "quota_volumes", CFG_INT, &settings.quota_volumes, "10", -1, INT_MAX,
	  NULL },
	{ "DEFAULT", "reservation_expire", CFG_INT, &settings.reservation_expire, "86400", 1,
	  INT_MAX, NULL },
	{ "DEFAULT", "storage_availability_zone", CFG_STR, &settings.storage_availability_zone,
	  "nova", 0, 0, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};

void settings_quota_defaults(const struct settings *s, struct quota_defaults *out)
{
	out->volumes = s->quota_volumes;
	out->snapshots = s->quota_snapshots;
	out->gigabytes = s->quota_gigabytes;
	out->per_volume_gigabytes = s->per_volume_size_limit;
	out->reservation_expire = s->reservation_expire;
}
