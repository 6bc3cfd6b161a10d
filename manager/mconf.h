/*
 * mconf.h - the volume manager's configuration: the shared keys (cfg_common, settings,
 * nova_cfg) plus the [filestore], [journal] and [manager] sections of docs/contracts.md.
 *
 * mconf_load is called once at start-up, before any network access; afterwards the globals
 * below are read-only, so every module reads them directly.
 */
#ifndef VOLMGR_MANAGER_MCONF_H
#define VOLMGR_MANAGER_MCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/cfg.h"

/* Long enough for "<host>@<backend>" built from two [DEFAULT] values of bounded length. */
#define MCONF_SERVICE_HOST_MAX 256

struct mconf {
	char *filestore_dir;              /* [filestore] */
	bool filestore_compute_feedback;
	int extend_feedback_timeout;      /* [manager], seconds */
	int migration_create_volume_timeout; /* seconds a migration waits for its destination */
	int migration_swap_timeout;       /* seconds a migration waits for compute's swap */
	int migration_update_timeout;     /* seconds it asks update_migrated_volume again */
	int migration_copy_delay_ms;      /* tests only: a pause after each MiB a migration copies */
	int periodic_interval;
	int report_interval;
	int drain_timeout;
	int max_message_bytes;
	int processed_message_retention;  /* seconds a processed message id is remembered */
	bool journal_enabled;             /* [journal] */
	char *journal_max_age;            /* x-max-age, e.g. "7D" */
	char *journal_max_bytes_text;
	int batch_size;                   /* deliveries per group commit (1: one per txn) */
	int batch_window_ms;              /* how long a batch waits to fill */
	int batch_interval_ms;            /* least time between two batches' closing */
	int workers;                      /* processes; above 1 under a supervisor (workers.h) */
	int worker_stall_timeout;         /* seconds without progress before a worker is killed */
	bool oslo_compatible_topology;    /* [DEFAULT]: declare exactly what oslo declares */
	bool rabbit_ha_queues;            /* [oslo_messaging_rabbit], as oslo.messaging */
	int rabbit_transient_queues_ttl;  /* seconds; x-expires of the fanout queues */
	/* [DEFAULT], Cinder's names: the capability reports to the schedulers
	 * (manager/capabilities.h). */
	int backend_stats_polling_interval;  /* seconds between two reports */
	int reserved_percentage;          /* of the pool's capacity the scheduler keeps free */
	char *max_over_subscription_ratio_text;
	/* Derived by mconf_load: "<host>@<backend>", the services row and the queue names. */
	char service_host[MCONF_SERVICE_HOST_MAX];
	long journal_max_bytes;           /* [journal] max_bytes, parsed */
	double max_over_subscription_ratio; /* [DEFAULT] max_over_subscription_ratio, parsed */
};

extern struct mconf mconf;
/* The manager's own keys, terminated by an entry whose name is NULL. */
extern const struct cfg_key mconf_keys[];

/*
 * Loads path (NULL: the default path, which may be missing) into cfg_common, settings,
 * nova_cfg and mconf, then checks what the tables cannot: host and backend non-empty and free
 * of '@' and '#' (they build queue names and the pool suffix), filestore_dir absolute.
 * Returns 0, or -1 with a readable message in err.
 */
__attribute__((warn_unused_result))
int mconf_load(const char *path, char *err, size_t errlen);

/* Frees the strings mconf_load set. */
void mconf_free(void);

#endif
