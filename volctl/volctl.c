/*
 * volctl.c - the administration tool: db-sync, type-create, quota-set, attach.
 *
 *   volctl [--config-file F] <command> [args]     (volctl --help, volctl <command> --help)
 *
 * Every command parses its arguments completely before it reads the configuration or touches
 * the database, so a usage error (exit 2) never has side effects. Operational failures exit
 * 1 with one line on stderr; results go to stdout.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/db.h"
#include "common/log.h"
#include "common/util.h"
#include "core/migrate.h"
#include "core/quota.h"
#include "core/volume.h"
#include "proto/names.h"

enum { VOLCTL_OK = 0, VOLCTL_FAIL = 1, VOLCTL_USAGE = 2 };

#define VOLCTL_TXN_ATTEMPTS 3
#define VOLCTL_MAX_SPECS 64

/* Transaction body codes of the attach command (positive: rolled back, not db errors). */
enum { ATTACH_REFUSED = 100, ATTACH_READONLY = 101, ATTACH_SAME_INSTANCE = 102 };

struct volctl_args {
	const char *name;               /* type-create NAME, attach VOLUME_ID, quota PROJECT */
	const char *resource;
	long limit;
	const char *specs[VOLCTL_MAX_SPECS];
	int nspecs;
	const char *instance;
	const char *host;
	const char *mountpoint;
	const char *mode;
};

struct volctl_cmd {
	const char *name;
	const char *synopsis;
	const char *help;
	int (*parse)(int argc, char **argv, struct volctl_args *a);
	int (*run)(db_conn *db, struct volctl_args *a);
};

static const struct volctl_cmd *volctl_current;

static int volctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int volctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "volctl: %s: ", volctl_current->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: volctl [--config-file F] %s%s%s\n", volctl_current->name,
		volctl_current->synopsis[0] != '\0' ? " " : "", volctl_current->synopsis);
	return VOLCTL_USAGE;
}

static int volctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int volctl_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "volctl: %s: ", volctl_current->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return VOLCTL_FAIL;
}

/* A db status as a failure line: the server's message when there is one. */
static int volctl_db_fail(db_conn *db, int rc)
{
	const char *err = db_last_error(db);

	return volctl_fail("%s%s%s", db_strerror(rc), err[0] != '\0' ? ": " : "", err);
}

/*
 * Matches argv[*i] against "--name VALUE" or "--name=VALUE". Returns 1 with *value set (and
 * *i advanced past a separate value), 0 when argv[*i] is another argument, -1 when the
 * option has no value.
 */
static int volctl_option(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return (*value)[0] != '\0' ? 1 : -1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc || argv[*i + 1][0] == '\0')
		return -1;
	*value = argv[++*i];
	return 1;
}

/* An argument that looks like an option; "-1" (an unlimited quota) is a value. */
static bool volctl_is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0' && !(arg[1] >= '0' && arg[1] <= '9');
}

/* Takes the positional arguments into out[0..want); anything else is a usage error. */
static int volctl_positional(int argc, char **argv, const char **out, int want)
{
	int got = 0;

	for (int i = 0; i < argc; i++) {
		if (volctl_is_option(argv[i]))
			return volctl_usage_error("unknown option %s", argv[i]);
		if (got == want)
			return volctl_usage_error("unexpected argument %s", argv[i]);
		out[got++] = argv[i];
	}
	if (got < want)
		return volctl_usage_error("missing arguments");
	return VOLCTL_OK;
}

/* ---- db-sync ---- */

static int parse_db_sync(int argc, char **argv, struct volctl_args *a)
{
	(void)a;
	return volctl_positional(argc, argv, NULL, 0);
}

static int run_db_sync(db_conn *db, struct volctl_args *a)
{
	int applied = 0;
	int rc;

	(void)a;
	rc = migrate_apply(db, &applied);
	if (rc != DB_OK)
		return volctl_fail("failed after %d migrations: %s (see the log above)", applied,
				   db_strerror(rc));
	printf("applied %d migrations\n", applied);
	return VOLCTL_OK;
}

/* ---- type-create ---- */

static int parse_type_create(int argc, char **argv, struct volctl_args *a)
{
	const char *positional[1];
	int npos = 0;

	for (int i = 0; i < argc; i++) {
		const char *spec;
		int m = volctl_option(argc, argv, &i, "--extra-spec", &spec);

		if (m < 0)
			return volctl_usage_error("--extra-spec needs KEY=VALUE");
		if (m > 0) {
			const char *eq = strchr(spec, '=');

			if (eq == NULL || eq == spec)
				return volctl_usage_error("extra spec %s is not KEY=VALUE", spec);
			for (int j = 0; j < a->nspecs; j++)
				if (strncmp(a->specs[j], spec, (size_t)(eq - spec) + 1) == 0)
					return volctl_usage_error("extra spec %.*s given twice",
								  (int)(eq - spec), spec);
			if (a->nspecs == VOLCTL_MAX_SPECS)
				return volctl_usage_error("more than %d extra specs",
							  VOLCTL_MAX_SPECS);
			a->specs[a->nspecs++] = spec;
			continue;
		}
		if (volctl_is_option(argv[i]))
			return volctl_usage_error("unknown option %s", argv[i]);
		if (npos == 1)
			return volctl_usage_error("unexpected argument %s", argv[i]);
		positional[npos++] = argv[i];
	}
	if (npos == 0)
		return volctl_usage_error("missing the type name");
	if (strlen(positional[0]) > 255)
		return volctl_usage_error("the type name is longer than 255 characters");
	a->name = positional[0];
	return VOLCTL_OK;
}

struct type_create_txn {
	const struct volctl_args *a;
	char id[37];
};

static int txn_type_create(db_conn *db, void *arg)
{
	struct type_create_txn *t = arg;

	return vol_type_create(db, t->a->name, t->a->specs, t->a->nspecs, t->id);
}

static int run_type_create(db_conn *db, struct volctl_args *a)
{
	struct type_create_txn t = { a, "" };
	int rc = db_transaction(db, txn_type_create, &t, VOLCTL_TXN_ATTEMPTS);

	if (rc == DB_DUPLICATE)
		return volctl_fail("volume type %s already exists", a->name);
	if (rc != DB_OK)
		return volctl_db_fail(db, rc);
	printf("%s\n", t.id);
	return VOLCTL_OK;
}

/* ---- quota-set ---- */

static int parse_quota_set(int argc, char **argv, struct volctl_args *a)
{
	const char *pos[3];
	int rc = volctl_positional(argc, argv, pos, 3);

	if (rc != VOLCTL_OK)
		return rc;
	if (util_parse_long(pos[2], -1, INT32_MAX, &a->limit) != 0)
		return volctl_usage_error("limit %s is not an integer in [-1, %d]", pos[2],
					  INT32_MAX);
	if (strlen(pos[0]) > 255 || strlen(pos[1]) > 255)
		return volctl_usage_error("project and resource are at most 255 characters");
	a->name = pos[0];
	a->resource = pos[1];
	return VOLCTL_OK;
}

static int txn_quota_set(db_conn *db, void *arg)
{
	const struct volctl_args *a = arg;

	return quota_set_limit(db, a->name, a->resource, a->limit);
}

static int run_quota_set(db_conn *db, struct volctl_args *a)
{
	int rc = db_transaction(db, txn_quota_set, a, VOLCTL_TXN_ATTEMPTS);

	return rc == DB_OK ? VOLCTL_OK : volctl_db_fail(db, rc);
}

/* ---- attach ---- */

static int parse_attach(int argc, char **argv, struct volctl_args *a)
{
	const char *positional = NULL;

	for (int i = 0; i < argc; i++) {
		static const char *const names[] = { "--instance", "--host", "--mountpoint",
						     "--mode" };
		const char **targets[] = { &a->instance, &a->host, &a->mountpoint, &a->mode };
		bool matched = false;

		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && !matched; k++) {
			int m = volctl_option(argc, argv, &i, names[k], targets[k]);

			if (m < 0)
				return volctl_usage_error("%s needs a value", names[k]);
			matched = m > 0;
		}
		if (matched)
			continue;
		if (volctl_is_option(argv[i]))
			return volctl_usage_error("unknown option %s", argv[i]);
		if (positional != NULL)
			return volctl_usage_error("unexpected argument %s", argv[i]);
		positional = argv[i];
	}
	if (positional == NULL)
		return volctl_usage_error("missing the volume id");
	if (!util_is_uuid(positional))
		return volctl_usage_error("volume id %s is not a uuid", positional);
	if (a->instance == NULL)
		return volctl_usage_error("--instance is required");
	if (!util_is_uuid(a->instance))
		return volctl_usage_error("instance %s is not a uuid", a->instance);
	if (a->mode == NULL)
		a->mode = "rw";
	if (strcmp(a->mode, "rw") != 0 && strcmp(a->mode, "ro") != 0)
		return volctl_usage_error("mode must be rw or ro, not %s", a->mode);
	if ((a->host != NULL && strlen(a->host) > 255) ||
	    (a->mountpoint != NULL && strlen(a->mountpoint) > 255))
		return volctl_usage_error("host and mountpoint are at most 255 characters");
	a->name = positional;
	return VOLCTL_OK;
}

struct attach_txn {
	const struct volctl_args *a;
	struct vol_row vol;
	char attachment_id[37];
};

/*
 * Attaches as Cinder's reserve + attach would: only an available volume, or an in-use
 * multiattach one not yet attached to this instance; a read-only volume only in ro mode.
 */
static int txn_attach(db_conn *db, void *arg)
{
	struct attach_txn *t = arg;
	char readonly[VOL_STR];
	int rc;

	rc = vol_get(db, t->a->name, true, &t->vol);
	if (rc != DB_OK)
		return rc;
	if (strcmp(t->vol.status, VOL_S_AVAILABLE) != 0 &&
	    !(strcmp(t->vol.status, VOL_S_IN_USE) == 0 && t->vol.multiattach))
		return ATTACH_REFUSED;
	for (int i = 0; i < t->vol.nattachments && i < VOL_MAX_ATTACHMENTS; i++)
		if (strcmp(t->vol.attachments[i].instance_uuid, t->a->instance) == 0)
			return ATTACH_SAME_INSTANCE;
	rc = vol_admin_md_get(db, t->a->name, ADMIN_MD_READONLY, readonly, sizeof(readonly));
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	if (rc == DB_OK && strcmp(readonly, "True") == 0 && strcmp(t->a->mode, "rw") == 0)
		return ATTACH_READONLY;
	return vol_attach(db, t->a->name, t->a->instance, t->a->host, t->a->mountpoint,
			  t->a->mode, t->attachment_id);
}

static int run_attach(db_conn *db, struct volctl_args *a)
{
	static struct attach_txn t;   /* a vol_row is large; volctl is single-threaded */
	int rc;

	memset(&t, 0, sizeof(t));
	t.a = a;
	rc = db_transaction(db, txn_attach, &t, VOLCTL_TXN_ATTEMPTS);
	switch (rc) {
	case DB_OK:
		printf("%s\n", t.attachment_id);
		return VOLCTL_OK;
	case VOL_NOT_FOUND:
		return volctl_fail("volume %s not found", a->name);
	case ATTACH_REFUSED:
		return volctl_fail("volume %s is %s; it must be available, or in-use with"
				   " multiattach", a->name, t.vol.status);
	case ATTACH_SAME_INSTANCE:
		return volctl_fail("volume %s is already attached to instance %s", a->name,
				   a->instance);
	case ATTACH_READONLY:
		return volctl_fail("volume %s is read-only; attach it with --mode ro", a->name);
	default:
		return volctl_db_fail(db, rc);
	}
}

/* ---- main ---- */

static const struct volctl_cmd volctl_cmds[] = {
	{ "db-sync", "",
	  "Creates or upgrades volmgr's tables (Cinder's tables it shares, and its own) by\n"
	  "applying the migrations built into volctl that the database has not seen yet.\n"
	  "Safe to run again, and on a database that Cinder's `cinder-manage db sync` made.\n"
	  "Prints \"applied N migrations\".",
	  parse_db_sync, run_db_sync },
	{ "type-create", "NAME [--extra-spec KEY=VALUE]...",
	  "Creates a public volume type with the given extra specs, e.g.\n"
	  "  --extra-spec provisioning:max_vol_size=100 --extra-spec 'multiattach=<is> True'\n"
	  "Prints the new type's id. Fails if a live type has that name.",
	  parse_type_create, run_type_create },
	{ "quota-set", "PROJECT RESOURCE LIMIT",
	  "Sets the project's limit for a quota resource (volumes, gigabytes, snapshots,\n"
	  "per_volume_gigabytes, gigabytes_<type>, ...); -1 means unlimited.",
	  parse_quota_set, run_quota_set },
	{ "attach", "VOLUME_ID --instance UUID [--host NAME] [--mountpoint /dev/vdb] [--mode rw|ro]",
	  "Marks the volume attached to the instance, as Cinder's attach does: the volume\n"
	  "must be available, or in-use with multiattach. Prints the attachment id.",
	  parse_attach, run_attach },
};

#define VOLCTL_NCMDS ((int)(sizeof(volctl_cmds) / sizeof(volctl_cmds[0])))

static void volctl_usage(FILE *out)
{
	fprintf(out, "usage: volctl [--config-file F] <command> [args]\n\ncommands:\n");
	for (int i = 0; i < VOLCTL_NCMDS; i++)
		fprintf(out, "  %s%s%s\n", volctl_cmds[i].name,
			volctl_cmds[i].synopsis[0] != '\0' ? " " : "", volctl_cmds[i].synopsis);
	fprintf(out, "\nvolctl <command> --help describes a command. The configuration file"
		" (default %s)\nsupplies [database] connection; VOLMGR_DB_URL overrides it.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n", CFG_DEFAULT_PATH);
}

static bool volctl_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int main(int argc, char **argv)
{
	const struct cfg_key *const tables[] = { cfg_common_keys };
	struct volctl_args args;
	char err[256];
	const char *path;
	db_conn *db;
	int next, rc;

	if (log_init("volctl", LOGL_WARNING, NULL) != 0)
		return VOLCTL_FAIL;
	path = cfg_config_file_arg(argc, argv, &next);
	if (next < 0) {
		fprintf(stderr, "volctl: --config-file needs a path\n");
		volctl_usage(stderr);
		return VOLCTL_USAGE;
	}
	if (next >= argc) {
		volctl_usage(stderr);
		return VOLCTL_USAGE;
	}
	if (volctl_is_help(argv[next]) || strcmp(argv[next], "help") == 0) {
		volctl_usage(stdout);
		return VOLCTL_OK;
	}
	for (int i = 0; i < VOLCTL_NCMDS && volctl_current == NULL; i++)
		if (strcmp(argv[next], volctl_cmds[i].name) == 0)
			volctl_current = &volctl_cmds[i];
	if (volctl_current == NULL) {
		fprintf(stderr, "volctl: unknown command %s\n", argv[next]);
		volctl_usage(stderr);
		return VOLCTL_USAGE;
	}
	for (int i = next + 1; i < argc; i++) {
		if (volctl_is_help(argv[i])) {
			printf("usage: volctl [--config-file F] %s%s%s\n\n%s\n", volctl_current->name,
			       volctl_current->synopsis[0] != '\0' ? " " : "",
			       volctl_current->synopsis, volctl_current->help);
			return VOLCTL_OK;
		}
	}
	memset(&args, 0, sizeof(args));
	rc = volctl_current->parse(argc - next - 1, argv + next + 1, &args);
	if (rc != VOLCTL_OK)
		return rc;

	if (cfg_load(path, tables, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "volctl: configuration: %s\n", err);
		return VOLCTL_FAIL;
	}
	db = db_open(cfg_common.db_connection, "volctl", 0);
	if (db == NULL) {
		rc = volctl_fail("cannot connect to the database (see the log above)");
	} else {
		rc = volctl_current->run(db, &args);
		db_close(db);
	}
	cfg_free(tables, 1);
	return rc;
}
