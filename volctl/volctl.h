/*
 * volctl.h - what the command families of bin/volctl share: exit codes, the command table,
 * the table-driven option parser, lazily opened connections and output.
 *
 * A command family (cmd_*.c) exports a table of struct volctl_cmd ended by a NULL name; main.c
 * lists the families. Every command's arguments are parsed completely, by the generic parser
 * from the command's option table, before the configuration is read or anything is touched,
 * so that a usage error (exit 2) never has side effects.
 */
#ifndef VOLMGR_VOLCTL_VOLCTL_H
#define VOLMGR_VOLCTL_VOLCTL_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"
#include "common/mq.h"

/* Exit codes scripts may rely on. */
enum {
	VOLCTL_OK = 0,
	VOLCTL_FAIL = 1,    /* an operation failed */
	VOLCTL_USAGE = 2,   /* bad command line; nothing was done */
	VOLCTL_DRIFT = 3,   /* quota check: drift found (quota sync: drift found and repaired) */
};

#define VOLCTL_MAX_POS 8
#define VOLCTL_MAX_LIST 64

/* Every option of every command lands here; a command's table says which it takes. */
struct volctl_args {
	const char *pos[VOLCTL_MAX_POS];
	int npos;
	bool json;
	const char *list[VOLCTL_MAX_LIST];    /* --extra-spec, --arg */
	int nlist;
	/* attach */
	const char *instance, *host, *mountpoint, *mode;
	/* messages */
	const char *volume, *routing_key, *exchange, *user, *project, *version, *unique_id;
	const char *output, *pattern, *since, *until, *method, *message_id, *reason, *queue;
	bool admin, dry_run, new_ids, all, from_journal;
	/* catalog */
	const char *url, *region;
	bool apply;
	long count, timeout, rate, limit;
};

enum volctl_opt_type {
	VOLCTL_STR,   /* const char * */
	VOLCTL_FLAG,  /* bool */
	VOLCTL_LONG,  /* long within [min, max] */
	VOLCTL_LIST,  /* appended to list[] */
};

struct volctl_opt {
	const char *name;             /* "--count" */
	enum volctl_opt_type type;
	size_t off;                   /* offsetof(struct volctl_args, field) */
	long min, max;
};

#define VOLCTL_OPT_STR(n, f) { n, VOLCTL_STR, offsetof(struct volctl_args, f), 0, 0 }
#define VOLCTL_OPT_FLAG(n, f) { n, VOLCTL_FLAG, offsetof(struct volctl_args, f), 0, 0 }
#define VOLCTL_OPT_LONG(n, f, lo, hi) { n, VOLCTL_LONG, offsetof(struct volctl_args, f), lo, hi }
#define VOLCTL_OPT_LIST(n) { n, VOLCTL_LIST, offsetof(struct volctl_args, list), 0, 0 }
#define VOLCTL_OPT_JSON VOLCTL_OPT_FLAG("--json", json)
#define VOLCTL_OPT_END { NULL, VOLCTL_STR, 0, 0, 0 }

struct volctl_cmd {
	const char *name;       /* "db-sync", or two words for a family: "dlq list" */
	const char *synopsis;
	const char *help;
	const struct volctl_opt *opts;   /* ended by VOLCTL_OPT_END */
	int min_pos, max_pos;
	/* Semantic checks after parsing (may be NULL): VOLCTL_OK or volctl_usage_error(). */
	int (*check)(struct volctl_args *a);
	int (*run)(struct volctl_args *a);
};

extern const struct volctl_cmd volctl_cmds_admin[];
extern const struct volctl_cmd volctl_cmds_msg[];
extern const struct volctl_cmd volctl_cmds_capture[];
extern const struct volctl_cmd volctl_cmds_dlq[];
extern const struct volctl_cmd volctl_cmds_quota[];
extern const struct volctl_cmd volctl_cmds_catalog[];
extern const struct volctl_cmd volctl_cmds_health[];

/* Reports a usage error of the current command on stderr; returns VOLCTL_USAGE. */
int volctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports an operational failure on stderr; returns VOLCTL_FAIL. */
int volctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A db status as a failure line, with the server's message when there is one. */
int volctl_db_fail(db_conn *db, int rc);

/* Stops long-running commands (capture, replay): set by SIGINT / SIGTERM. */
extern volatile sig_atomic_t volctl_stop;

/*
 * The database and broker connections, opened on first use from the configuration and
 * closed by main. NULL after a failure, which has then been reported.
 */
db_conn *volctl_db(void);
/* A consuming connection (heartbeats on) or a publishing one with confirms. */
mq_conn *volctl_mq(bool confirms);
/* [DEFAULT] control_exchange. */
const char *volctl_exchange(void);

/* A column of a table: the key in each row object and its heading. */
struct volctl_col {
	const char *key;
	const char *title;
};

/*
 * Prints rows (a JSON array of objects; the reference is taken) as a table of cols for people,
 * or as one JSON document with json. Strings print as they are, null as "-", anything else as
 * compact JSON.
 */
void volctl_emit(json_t *rows, const struct volctl_col *cols, bool json);
/* Prints one object (reference taken): "key: value" lines, or JSON. */
void volctl_emit_one(json_t *obj, bool json);

#endif
