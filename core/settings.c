/*
 * settings.c - the shared configuration turned into domain parameters.
 */
#include "core/settings.h"

void settings_quota_defaults(const struct cfg_common *c, struct quota_defaults *out)
{
	out->volumes = c->quota_volumes;
	out->snapshots = c->quota_snapshots;
	out->gigabytes = c->quota_gigabytes;
	out->per_volume_gigabytes = c->per_volume_size_limit;
	out->reservation_expire = c->reservation_expire;
}
