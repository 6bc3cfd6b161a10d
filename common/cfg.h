/*
 * cfg.h - table-driven configuration in the style of cinder.conf.
 *
 * A program describes its keys as arrays of struct cfg_key (one array per concern; the
 * common keys every daemon needs are cfg_common_keys below) and calls cfg_load once with all
 * its arrays. cfg_load first applies every default, then the file (inih), then the
 * environment overrides named in the table, and validates types and bounds before the
 * program touches the network.
 */
#ifndef VOLMGR_COMMON_CFG_H
#define VOLMGR_COMMON_CFG_H

#include <stdbool.h>
#include <stddef.h>

enum cfg_type {
	CFG_STR,  /* target: char ** ; malloc'd, owned by cfg, freed by cfg_free. The target must
		   * start NULL (or hold cfg's own earlier value): cfg frees it on each set. */
	CFG_INT,  /* target: int * ; checked against [min, max] */
	CFG_BOOL, /* target: bool * ; true/false/yes/no/on/off/1/0 (case-insensitive) */
};

struct cfg_key {
	const char *section;  /* "DEFAULT", "database", ... */
	const char *name;
	enum cfg_type type;
	void *target;
	const char *def;      /* default as text; NULL for an empty string (CFG_STR) */
	long min, max;        /* CFG_INT bounds, inclusive */
	const char *env;      /* environment variable that overrides the file, or NULL */
};

/* The keys every binary shares. */
struct cfg_common {
	char *transport_url;
	char *control_exchange;
	char *host;
	char *backend;
	char *log_level;
	char *storage_availability_zone;
	char *default_volume_type;
	int quota_volumes;
	int quota_snapshots;
	int quota_gigabytes;
	int per_volume_size_limit;
	int reservation_expire;
	int message_ttl;
	char *db_connection;            /* [database] connection */
	bool amqp_durable_queues;       /* [oslo_messaging_rabbit] */
	bool rabbit_quorum_queue;
	int rabbit_qos_prefetch_count;
	int heartbeat_timeout_threshold;
};

extern struct cfg_common cfg_common;
/* Terminated by an entry whose name is NULL. */
extern const struct cfg_key cfg_common_keys[];

/* The default path when --config-file is not given. A missing default file is not an error. */
#define CFG_DEFAULT_PATH "/etc/volmgr/volmgr.conf"

/*
 * Loads the configuration. tables is an array of ntables key arrays, each terminated by a
 * NULL name. path NULL means CFG_DEFAULT_PATH, which may be missing; an explicit path must
 * exist. Unknown keys in known sections are logged as warnings and ignored.
 * Returns 0, or -1 with a readable message in err (e.g. "[api] port: 70000 is above 65535").
 */
__attribute__((warn_unused_result))
int cfg_load(const char *path, const struct cfg_key *const *tables, size_t ntables,
	     char *err, size_t errlen);

/* Frees every CFG_STR target that cfg_load set in those tables. */
void cfg_free(const struct cfg_key *const *tables, size_t ntables);

/* Pure parsers used by cfg_load, exposed for unit tests. Return 0 or -1. */
__attribute__((warn_unused_result)) int cfg_parse_bool(const char *text, bool *out);
__attribute__((warn_unused_result)) int cfg_parse_int(const char *text, long min, long max, int *out);

/*
 * Finds "--config-file PATH" or "--config-file=PATH" at the front of argv (after argv[0]).
 * Returns the path (pointing into argv) or NULL when absent, and sets *next to the index of
 * the first remaining argument. On a usage error (the option without a value) returns NULL
 * and sets *next to -1.
 */
const char *cfg_config_file_arg(int argc, char **argv, int *next);

#endif
