/*
 * mconf.c - the manager's configuration tables (docs/contracts.md, "Configuration file").
 * Every program links this file: conf/registry.h lists mconf_keys so that the other programs
 * know its keys.
 */
#include "manager/mconf.h"

#include <stdio.h>
#include <string.h>

#include "common/cfg.h"
#include "common/util.h"
#include "conf/registry.h"
#include "core/glance.h"
#include "core/notification.h"
#include "core/nova.h"
#include "core/settings.h"
#include "manager/batch.h"
#include "manager/workers.h"

struct mconf mconf;

/* Alphabetical within each section, as deploy/volmgr.conf.sample documents them. */
const struct cfg_key mconf_keys[] = {
	{ "DEFAULT", "backend_stats_polling_interval", CFG_INT,
	  &mconf.backend_stats_polling_interval, "60", 1, 86400, NULL },
	{ "DEFAULT", "max_over_subscription_ratio", CFG_STR,
	  &mconf.max_over_subscription_ratio_text, "20.0", 0, 0, NULL },
	{ "DEFAULT", "oslo_compatible_topology", CFG_BOOL, &mconf.oslo_compatible_topology,
	  "false", 0, 0, NULL },
	{ "DEFAULT", "reserved_percentage", CFG_INT, &mconf.reserved_percentage, "0", 0, 100,
	  NULL },
	{ "filestore", "filestore_compute_feedback", CFG_BOOL, &mconf.filestore_compute_feedback,
	  "true", 0, 0, NULL },
	{ "filestore", "filestore_dir", CFG_STR, &mconf.filestore_dir,
	  "/var/lib/volmgr/volumes", 0, 0, NULL },
	{ "journal", "enabled", CFG_BOOL, &mconf.journal_enabled, "true", 0, 0, NULL },
	{ "journal", "max_age", CFG_STR, &mconf.journal_max_age, "7D", 0, 0, NULL },
	{ "journal", "max_bytes", CFG_STR, &mconf.journal_max_bytes_text, "1073741824", 0, 0,
	  NULL },
	{ "manager", "batch_interval_ms", CFG_INT, &mconf.batch_interval_ms, "20", 0, 1000,
	  NULL },
	{ "manager", "batch_size", CFG_INT, &mconf.batch_size, "16", 1, BATCH_MAX, NULL },
	{ "manager", "batch_window_ms", CFG_INT, &mconf.batch_window_ms, "2", 0, 1000, NULL },
	{ "manager", "drain_timeout", CFG_INT, &mconf.drain_timeout, "10", 0, 600, NULL },
	{ "manager", "extend_feedback_timeout", CFG_INT, &mconf.extend_feedback_timeout,
	  "600", 1, 30 * 86400, NULL },
	{ "manager", "max_message_bytes", CFG_INT, &mconf.max_message_bytes,
	  "1048576", 1024, 64 * 1024 * 1024, NULL },
	{ "manager", "migration_create_volume_timeout", CFG_INT,
	  &mconf.migration_create_volume_timeout, "300", 1, 86400, NULL },
	{ "manager", "migration_swap_timeout", CFG_INT, &mconf.migration_swap_timeout,
	  "3600", 1, 7 * 86400, NULL },
	{ "manager", "migration_update_timeout", CFG_INT, &mconf.migration_update_timeout,
	  "3600", 1, 7 * 86400, NULL },
	{ "manager", "migration_copy_delay_ms", CFG_INT, &mconf.migration_copy_delay_ms, "0", 0,
	  10000, NULL },
	{ "manager", "periodic_interval", CFG_INT, &mconf.periodic_interval, "5", 1, 3600, NULL },
	{ "manager", "processed_message_retention", CFG_INT, &mconf.processed_message_retention,
	  "604800", 60, 10 * 365 * 86400, NULL },
	{ "manager", "report_interval", CFG_INT, &mconf.report_interval, "10", 1, 3600, NULL },
	{ "manager", "worker_stall_timeout", CFG_INT, &mconf.worker_stall_timeout, "120", 30,
	  86400, NULL },
	{ "manager", "workers", CFG_INT, &mconf.workers, "1", 1, WORKERS_MAX, NULL },
	{ "oslo_messaging_rabbit", "rabbit_ha_queues", CFG_BOOL, &mconf.rabbit_ha_queues,
	  "false", 0, 0, NULL },
	{ "oslo_messaging_rabbit", "rabbit_transient_queues_ttl", CFG_INT,
	  &mconf.rabbit_transient_queues_ttl, "1800", 1, 24 * 86400, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};

static const struct cfg_key *const mconf_tables[] = { cfg_common_keys, settings_keys, nova_keys,
						      glance_keys, mconf_keys,
						      notification_keys };
static const struct cfg_tables mconf_applied = {
	mconf_tables, sizeof(mconf_tables) / sizeof(mconf_tables[0]),
};

/* A host or backend name ends up inside queue names and "<host>@<backend>#<pool>". */
static int check_name(const char *what, const char *v, char *err, size_t errlen)
{
	if (v == NULL || v[0] == '\0') {
		snprintf(err, errlen, "[DEFAULT] %s: must not be empty", what);
		return -1;
	}
	if (strpbrk(v, "@#") != NULL) {
		snprintf(err, errlen, "[DEFAULT] %s: '%s' must not contain '@' or '#'", what, v);
		return -1;
	}
	return 0;
}

/* RabbitMQ's x-max-age: a positive number and one unit of Y, M, D, h, m, s. */
static int check_max_age(const char *v, char *err, size_t errlen)
{
	size_t digits = strspn(v, "0123456789");

	if (digits == 0 || digits > 9 || v[digits] == '\0' || strchr("YMDhms", v[digits]) == NULL ||
	    v[digits + 1] != '\0' || strspn(v, "0") == digits) {
		snprintf(err, errlen, "[journal] max_age: '%s' is not N followed by Y, M, D, h, m "
			 "or s (e.g. 7D)", v);
		return -1;
	}
	return 0;
}

int mconf_load(const char *path, char *err, size_t errlen)
{
	if (cfg_load(path, mconf_applied, conf_registry, err, errlen) != 0)
		return -1;
	if (check_name("host", cfg_common.host, err, errlen) != 0 ||
	    check_name("backend", settings.backend, err, errlen) != 0)
		return -1;
	if (check_max_age(mconf.journal_max_age, err, errlen) != 0 ||
	    notification_check(err, errlen) != 0)
		return -1;
	if (mconf.rabbit_ha_queues && cfg_common.rabbit_quorum_queue) {
		/* oslo.messaging refuses the same combination at start-up. */
		snprintf(err, errlen, "[oslo_messaging_rabbit] rabbit_quorum_queue and "
			 "rabbit_ha_queues are both enabled; choose one");
		return -1;
	}
	if (util_parse_long(mconf.journal_max_bytes_text, 1, 1L << 50, &mconf.journal_max_bytes)
	    != 0) {
		snprintf(err, errlen, "[journal] max_bytes: '%s' is not an integer in [1, 2^50]",
			 mconf.journal_max_bytes_text);
		return -1;
	}
	/* Cinder's option also takes "auto" (a ratio the driver computes); volmgr's filestore
	 * has no figure to compute it from, so only a number is accepted. */
	if (util_parse_double(mconf.max_over_subscription_ratio_text, 1.0, 1e6,
			      &mconf.max_over_subscription_ratio) != 0) {
		snprintf(err, errlen, "[DEFAULT] max_over_subscription_ratio: '%s' is not a number "
			 "in [1, 1000000]", mconf.max_over_subscription_ratio_text);
		return -1;
	}
	if (mconf.filestore_dir == NULL || mconf.filestore_dir[0] != '/') {
		snprintf(err, errlen, "[filestore] filestore_dir: must be an absolute path");
		return -1;
	}
	int n = snprintf(mconf.service_host, sizeof(mconf.service_host), "%s@%s",
			 cfg_common.host, settings.backend);
	if (n < 0 || (size_t)n >= sizeof(mconf.service_host)) {
		snprintf(err, errlen, "[DEFAULT] host@backend is longer than %d bytes",
			 MCONF_SERVICE_HOST_MAX - 1);
		return -1;
	}
	return 0;
}

void mconf_free(void)
{
	cfg_free(mconf_applied);
}
