/*
 * main.c - bin/volctl: the command table, the option parser, the connections, the output.
 *
 *   volctl [--config-file F] <command> [args]     (volctl --help, volctl <command> --help)
 *
 * Operational failures exit 1 with one line on stderr; results go to stdout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api-shim/shim.h"
#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/registry.h"
#include "volctl/volctl.h"

static const struct volctl_cmd *const volctl_families[] = {
	volctl_cmds_admin, volctl_cmds_msg, volctl_cmds_capture, volctl_cmds_dlq,
	volctl_cmds_quota, volctl_cmds_catalog, volctl_cmds_health,
};
#define VOLCTL_NFAMILIES (sizeof(volctl_families) / sizeof(volctl_families[0]))

static const struct volctl_cmd *volctl_current;
/* [api] for the catalog's default endpoint URL. */
static const struct cfg_key *const volctl_tables[] = { cfg_common_keys, api_keys };
static const struct cfg_tables volctl_applied = {
	volctl_tables, sizeof(volctl_tables) / sizeof(volctl_tables[0]),
};
static db_conn *volctl_db_conn;
static mq_conn *volctl_mq_conns[2];   /* [0] consuming, [1] confirms */

volatile sig_atomic_t volctl_stop;

static void volctl_vreport(const char *fmt, va_list ap)
{
	fprintf(stderr, "volctl: %s: ", volctl_current != NULL ? volctl_current->name : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void volctl_synopsis(FILE *f, const struct volctl_cmd *c)
{
	fprintf(f, "usage: volctl [--config-file F] %s%s%s\n", c->name,
		c->synopsis[0] != '\0' ? " " : "", c->synopsis);
}

int volctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	volctl_vreport(fmt, ap);
	va_end(ap);
	volctl_synopsis(stderr, volctl_current);
	return VOLCTL_USAGE;
}

int volctl_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	volctl_vreport(fmt, ap);
	va_end(ap);
	return VOLCTL_FAIL;
}

int volctl_db_fail(db_conn *db, int rc)
{
	const char *err = db_last_error(db);

	return volctl_fail("%s%s%s", db_strerror(rc), err[0] != '\0' ? ": " : "", err);
}

db_conn *volctl_db(void)
{
	if (volctl_db_conn == NULL) {
		volctl_db_conn = db_open(cfg_common.db_connection, "volctl", 0);
		if (volctl_db_conn == NULL)
			volctl_fail("cannot connect to the database (see the log above)");
	}
	return volctl_db_conn;
}

mq_conn *volctl_mq(bool confirms)
{
	mq_conn **slot = &volctl_mq_conns[confirms ? 1 : 0];
	char err[256];

	if (*slot == NULL) {
		struct mq_options opt = {
			.url = cfg_common.transport_url,
			.heartbeat = confirms ? 0 : cfg_common.heartbeat_timeout_threshold,
			.confirms = confirms,
		};
		*slot = mq_open(&opt, err, sizeof(err));
		if (*slot == NULL)
			volctl_fail("broker: %s", err);
	}
	return *slot;
}

const char *volctl_exchange(void)
{
	return cfg_common.control_exchange;
}

/* ---- options ---- */

static bool volctl_is_option(const char *arg)
{
	/* "-1" (an unlimited quota) is a value, "-" is stdin. */
	return arg[0] == '-' && arg[1] != '\0' && !(arg[1] >= '0' && arg[1] <= '9');
}

static const struct volctl_opt *volctl_find_opt(const struct volctl_opt *opts, const char *arg,
						const char **inline_value)
{
	for (const struct volctl_opt *o = opts; o != NULL && o->name != NULL; o++) {
		size_t n = strlen(o->name);

		if (strncmp(arg, o->name, n) != 0)
			continue;
		if (arg[n] == '\0') {
			*inline_value = NULL;
			return o;
		}
		if (arg[n] == '=' && o->type != VOLCTL_FLAG) {
			*inline_value = arg + n + 1;
			return o;
		}
	}
	return NULL;
}

static int volctl_set_opt(const struct volctl_opt *o, const char *value, struct volctl_args *a)
{
	char *field = (char *)a + o->off;

	switch (o->type) {
	case VOLCTL_FLAG:
		*(bool *)field = true;
		return VOLCTL_OK;
	case VOLCTL_STR:
		*(const char **)field = value;
		return VOLCTL_OK;
	case VOLCTL_LONG:
		if (util_parse_long(value, o->min, o->max, (long *)field) != 0)
			return volctl_usage_error("%s: %s is not an integer in [%ld, %ld]", o->name,
						  value, o->min, o->max);
		return VOLCTL_OK;
	case VOLCTL_LIST:
		if (a->nlist == VOLCTL_MAX_LIST)
			return volctl_usage_error("%s given more than %d times", o->name,
						  VOLCTL_MAX_LIST);
		a->list[a->nlist++] = value;
		return VOLCTL_OK;
	}
	return VOLCTL_USAGE;
}

static int volctl_parse(const struct volctl_cmd *c, int argc, char **argv, struct volctl_args *a)
{
	for (int i = 0; i < argc; i++) {
		const char *value = NULL;
		const struct volctl_opt *o = volctl_is_option(argv[i])
			? volctl_find_opt(c->opts, argv[i], &value) : NULL;
		int rc;

		if (o == NULL && volctl_is_option(argv[i]))
			return volctl_usage_error("unknown option %s", argv[i]);
		if (o == NULL) {
			if (a->npos == c->max_pos)
				return volctl_usage_error("unexpected argument %s", argv[i]);
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (o->type != VOLCTL_FLAG && value == NULL) {
			if (i + 1 >= argc)
				return volctl_usage_error("%s needs a value", o->name);
			value = argv[++i];
		}
		if (o->type != VOLCTL_FLAG && value[0] == '\0')
			return volctl_usage_error("%s needs a value", o->name);
		rc = volctl_set_opt(o, value, a);
		if (rc != VOLCTL_OK)
			return rc;
	}
	if (a->npos < c->min_pos)
		return volctl_usage_error("missing arguments");
	return c->check != NULL ? c->check(a) : VOLCTL_OK;
}

/* ---- output ---- */

/* A cell as text (malloc'd). */
static char *volctl_cell(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

void volctl_emit(json_t *rows, const struct volctl_col *cols, bool json)
{
	size_t ncols = 0, width[16] = { 0 };
	size_t nrows = json_array_size(rows);

	if (json) {
		json_dumpf(rows, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(rows);
		return;
	}
	while (cols[ncols].key != NULL && ncols < 16)
		ncols++;
	for (size_t c = 0; c < ncols; c++)
		width[c] = strlen(cols[c].title);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			char *s = volctl_cell(json_object_get(json_array_get(rows, r), cols[c].key));
			size_t n = s != NULL ? strlen(s) : 0;

			width[c] = n > width[c] ? n : width[c];
			free(s);
		}
	}
	for (size_t c = 0; c < ncols; c++)
		printf("%-*s%s", (int)width[c], cols[c].title, c + 1 < ncols ? "  " : "\n");
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			char *s = volctl_cell(json_object_get(json_array_get(rows, r), cols[c].key));

			printf("%-*s%s", (int)width[c], s != NULL ? s : "?", c + 1 < ncols ? "  " : "\n");
			free(s);
		}
	}
	printf("(%zu row%s)\n", nrows, nrows == 1 ? "" : "s");
	json_decref(rows);
}

void volctl_emit_one(json_t *obj, bool json)
{
	const char *key;
	json_t *v;

	if (json) {
		json_dumpf(obj, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		json_object_foreach(obj, key, v) {
			char *s = json_is_object(v) || json_is_array(v)
				? json_dumps(v, JSON_INDENT(2)) : volctl_cell(v);

			printf("%s: %s\n", key, s != NULL ? s : "?");
			free(s);
		}
	}
	json_decref(obj);
}

/* ---- main ---- */

static bool volctl_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void volctl_usage(FILE *out, const char *family)
{
	fprintf(out, "usage: volctl [--config-file F] <command> [args]\n\ncommands:\n");
	for (size_t f = 0; f < VOLCTL_NFAMILIES; f++) {
		for (const struct volctl_cmd *c = volctl_families[f]; c->name != NULL; c++) {
			size_t n = family != NULL ? strlen(family) : 0;

			if (family == NULL || (strncmp(c->name, family, n) == 0 && c->name[n] == ' '))
				fprintf(out, "  %s%s%s\n", c->name, c->synopsis[0] != '\0' ? " " : "",
					c->synopsis);
		}
	}
	fprintf(out, "\nvolctl <command> --help describes a command. The configuration file"
		" (default %s)\nsupplies [database] connection and [DEFAULT] transport_url;"
		" VOLMGR_DB_URL and\nVOLMGR_TRANSPORT_URL override them.\n"
		"Exit status: 0 success, 1 failure, 2 usage error, 3 drift found (quota check).\n",
		CFG_DEFAULT_PATH);
}

/* The command named by argv[0] (and argv[1] for a two-word command); *used gets 1 or 2.
 * *family is set when argv[0] names a family but not one of its commands. */
static const struct volctl_cmd *volctl_lookup(int argc, char **argv, int *used, bool *family)
{
	*family = false;
	for (size_t f = 0; f < VOLCTL_NFAMILIES; f++) {
		for (const struct volctl_cmd *c = volctl_families[f]; c->name != NULL; c++) {
			const char *sp = strchr(c->name, ' ');
			size_t n = sp != NULL ? (size_t)(sp - c->name) : strlen(c->name);

			if (strncmp(argv[0], c->name, n) != 0 || argv[0][n] != '\0')
				continue;
			if (sp == NULL) {
				*used = 1;
				return c;
			}
			*family = true;
			if (argc > 1 && strcmp(argv[1], sp + 1) == 0) {
				*used = 2;
				return c;
			}
		}
	}
	return NULL;
}

static void volctl_on_signal(int sig)
{
	(void)sig;
	volctl_stop = 1;
}

static void volctl_close(void)
{
	db_close(volctl_db_conn);
	mq_close(volctl_mq_conns[0]);
	mq_close(volctl_mq_conns[1]);
}

int main(int argc, char **argv)
{
	struct volctl_args args;
	struct sigaction sa;
	char err[256];
	const char *path;
	int next, used = 0, rc;
	bool family;

	if (log_init("volctl", LOGL_WARNING, NULL) != 0)
		return VOLCTL_FAIL;
	path = cfg_config_file_arg(argc, argv, &next);
	if (next < 0) {
		fprintf(stderr, "volctl: --config-file needs a path\n");
		volctl_usage(stderr, NULL);
		return VOLCTL_USAGE;
	}
	if (next >= argc) {
		volctl_usage(stderr, NULL);
		return VOLCTL_USAGE;
	}
	if (volctl_is_help(argv[next]) || strcmp(argv[next], "help") == 0) {
		volctl_usage(stdout, NULL);
		return VOLCTL_OK;
	}
	volctl_current = volctl_lookup(argc - next, argv + next, &used, &family);
	if (volctl_current == NULL) {
		bool help = family && next + 1 < argc && volctl_is_help(argv[next + 1]);

		if (!help)
			fprintf(stderr, "volctl: unknown command %s%s%s\n", argv[next],
				family && next + 1 < argc ? " " : "",
				family && next + 1 < argc ? argv[next + 1] : "");
		volctl_usage(help ? stdout : stderr, family ? argv[next] : NULL);
		return help ? VOLCTL_OK : VOLCTL_USAGE;
	}
	next += used;
	for (int i = next; i < argc; i++) {
		if (volctl_is_help(argv[i])) {
			volctl_synopsis(stdout, volctl_current);
			printf("\n%s\n", volctl_current->help);
			return VOLCTL_OK;
		}
	}
	memset(&args, 0, sizeof(args));
	rc = volctl_parse(volctl_current, argc - next, argv + next, &args);
	if (rc != VOLCTL_OK)
		return rc;

	if (cfg_load(path, volctl_applied, conf_registry, err, sizeof(err)) != 0) {
		fprintf(stderr, "volctl: configuration: %s\n", err);
		return VOLCTL_FAIL;
	}
	/* Long-running commands poll the flag; no SA_RESTART, so a blocking read wakes. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = volctl_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = volctl_current->run(&args);
	volctl_close();
	cfg_free(volctl_applied);
	return rc;
}
