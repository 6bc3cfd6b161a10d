/*
 * cfg.h - a table-driven reader of ini configuration files (inih).
 *
 * Every layer describes its keys as arrays of struct cfg_key (one array per concern); this
 * module knows none of them except the infrastructure keys of cfg_common_keys below (broker,
 * database, logging). One file serves several programs, so cfg_load is given two sets of
 * tables: the ones the program applies, and every table of every program sharing the file,
 * which only decides whether a key of the file is known. cfg_load first applies every
 * default, then the file, then the environment overrides named in the table, and validates
 * types and bounds before the program touches the network.
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

/* A set of key tables: v[0..n-1], each terminated by an entry whose name is NULL. */
struct cfg_tables {
	const struct cfg_key *const *v;
	size_t n;
};

/* The infrastructure keys every binary shares: where the broker and the database are, how
 * to log, the name this node goes by. */
struct cfg_common {
	char *transport_url;
	char *control_exchange;
	char *host;
	char *log_level;
	char *db_connection;            /* [database] connection */
	char *metrics_listen;           /* "host:port" of /metrics and /healthcheck; "" off */
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
 * Loads the configuration into the targets of apply. path NULL means CFG_DEFAULT_PATH, which
 * may be missing; an explicit path must exist. A key of the file that is in apply is set; one
 * that is only in known belongs to another program sharing the file and is skipped silently;
 * one in neither (a typo, a key no program reads) is logged as a warning and ignored. known
 * should hold every table of apply as well.
 * Returns 0, or -1 with a readable message in err (e.g. "[api] port: 70000 is above 65535").
 */
__attribute__((warn_unused_result))
int cfg_load(const char *path, struct cfg_tables apply, struct cfg_tables known, char *err,
	     size_t errlen);

/* Frees every CFG_STR target that cfg_load set in the tables of apply. */
void cfg_free(struct cfg_tables apply);

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
