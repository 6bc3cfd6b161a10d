/*
 * cfg.c - table-driven configuration: defaults, then the file (inih), then the environment.
 */
#include "common/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "common/log.h"
#include "common/util.h"

/*
 * inih keeps each line in a fixed buffer (200 bytes in Debian's build) and silently cuts longer
 * lines, which would turn a long URL or token into a wrong value. Lines are therefore fed to
 * inih by cfg_read_line: a line that does not fit keeps its key, and its value is parked in
 * struct cfg_parse and replaced by a short placeholder that cfg_on_pair resolves.
 */
#define CFG_LINE_MAX 16384       /* longest line accepted at all */
#define CFG_LONG_VALUES_MAX 64   /* long values per file */
#define CFG_PLACEHOLDER '\x01'

struct cfg_common cfg_common;

const struct cfg_key cfg_common_keys[] = {
	{ "DEFAULT", "control_exchange", CFG_STR, &cfg_common.control_exchange, "openstack",
	  0, 0, NULL },
	{ "DEFAULT", "host", CFG_STR, &cfg_common.host, "node1", 0, 0, NULL },
	{ "DEFAULT", "log_level", CFG_STR, &cfg_common.log_level, "info", 0, 0, NULL },
	{ "DEFAULT", "metrics_listen", CFG_STR, &cfg_common.metrics_listen, "", 0, 0, NULL },
	{ "DEFAULT", "transport_url", CFG_STR, &cfg_common.transport_url,
	  "amqp://guest:guest@127.0.0.1:5672/", 0, 0, "VOLMGR_TRANSPORT_URL" },
	{ "database", "connection", CFG_STR, &cfg_common.db_connection,
	  "postgresql://volmgr@127.0.0.1:5432/volmgr", 0, 0, "VOLMGR_DB_URL" },
	{ "oslo_messaging_rabbit", "amqp_durable_queues", CFG_BOOL,
	  &cfg_common.amqp_durable_queues, "true", 0, 0, NULL },
	{ "oslo_messaging_rabbit", "heartbeat_timeout_threshold", CFG_INT,
	  &cfg_common.heartbeat_timeout_threshold, "60", 0, 3600, NULL },
	{ "oslo_messaging_rabbit", "rabbit_qos_prefetch_count", CFG_INT,
	  &cfg_common.rabbit_qos_prefetch_count, "16", 1, 65535, NULL },
	{ "oslo_messaging_rabbit", "rabbit_quorum_queue", CFG_BOOL,
	  &cfg_common.rabbit_quorum_queue, "false", 0, 0, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};

struct cfg_parse {
	struct cfg_tables apply;
	struct cfg_tables known;
	const char *path;
	FILE *file;
	int lineno;
	char *line;                 /* getline buffer */
	size_t linecap;
	char *long_values[CFG_LONG_VALUES_MAX];
	int nlong;
	char *err;
	size_t errlen;
	bool failed;
};

/* Records the first error only: later ones are usually consequences of it. */
__attribute__((format(printf, 2, 3)))
static void cfg_fail(struct cfg_parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

int cfg_parse_bool(const char *text, bool *out)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {
		{ "true", true }, { "yes", true }, { "on", true }, { "1", true },
		{ "false", false }, { "no", false }, { "off", false }, { "0", false },
	};

	if (text == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(text, words[i].word) == 0) {
			*out = words[i].value;
			return 0;
		}
	}
	return -1;
}

int cfg_parse_int(const char *text, long min, long max, int *out)
{
	long v;

	if (min < INT_MIN)
		min = INT_MIN;
	if (max > INT_MAX)
		max = INT_MAX;
	if (util_parse_long(text, min, max, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * Stores text into k's target. origin names where text came from when that is not the file
 * ("default", "environment VOLMGR_DB_URL"), so the message points at the right place.
 */
static int cfg_apply(struct cfg_parse *p, const struct cfg_key *k, const char *text,
		     const char *origin)
{
	char from[96] = "";
	long v;

	if (origin != NULL)
		snprintf(from, sizeof(from), " (from %s)", origin);

	switch (k->type) {
	case CFG_STR: {
		char **target = k->target;
		char *copy = strdup(text);

		if (copy == NULL) {
			cfg_fail(p, "[%s] %s: out of memory", k->section, k->name);
			return -1;
		}
		free(*target);
		*target = copy;
		return 0;
	}
	case CFG_BOOL:
		if (cfg_parse_bool(text, k->target) != 0) {
			cfg_fail(p, "[%s] %s: '%s' is not a boolean (true/false/yes/no/on/off/1/0)%s",
				 k->section, k->name, text, from);
			return -1;
		}
		return 0;
	case CFG_INT:
		if (util_parse_long(text, LONG_MIN, LONG_MAX, &v) != 0) {
			cfg_fail(p, "[%s] %s: '%s' is not an integer%s", k->section, k->name, text,
				 from);
			return -1;
		}
		if (v < k->min || v < INT_MIN) {
			cfg_fail(p, "[%s] %s: %ld is below %ld%s", k->section, k->name, v,
				 k->min > INT_MIN ? k->min : (long)INT_MIN, from);
			return -1;
		}
		if (v > k->max || v > INT_MAX) {
			cfg_fail(p, "[%s] %s: %ld is above %ld%s", k->section, k->name, v,
				 k->max < INT_MAX ? k->max : (long)INT_MAX, from);
			return -1;
		}
		*(int *)k->target = (int)v;
		return 0;
	}
	cfg_fail(p, "[%s] %s: unknown key type", k->section, k->name);
	return -1;
}

/*
 * The value as the program sees it: inih has already trimmed it and cut ";" comments; a "#"
 * that starts the value or follows whitespace also starts a comment, as in the documented
 * sample file ("endpoint =     # compute API root"). Returns a malloc'd copy or NULL when out
 * of memory.
 */
static char *cfg_clean_value(const char *value)
{
	size_t end;

	while (isspace((unsigned char)*value))
		value++;
	end = strlen(value);
	for (size_t i = 0; i < end; i++) {
		if ((value[i] == '#' || value[i] == ';') &&
		    (i == 0 || isspace((unsigned char)value[i - 1]))) {
			end = i;
			break;
		}
	}
	while (end > 0 && isspace((unsigned char)value[end - 1]))
		end--;
	return strndup(value, end);
}

/* inih's reader callback (fgets-like): see the comment on CFG_LINE_MAX. */
static char *cfg_read_line(char *buf, int num, void *stream)
{
	struct cfg_parse *p = stream;
	ssize_t len;
	char *sep, *start;

	if (p->failed || num < 16)
		return NULL;
	len = getline(&p->line, &p->linecap, p->file);
	if (len < 0)
		return NULL;
	p->lineno++;
	if (len > CFG_LINE_MAX) {
		cfg_fail(p, "%s:%d: line is longer than %d bytes", p->path, p->lineno, CFG_LINE_MAX);
		return NULL;
	}
	if (len < num) {
		memcpy(buf, p->line, (size_t)len + 1);
		return buf;
	}

	start = p->line;
	while (isspace((unsigned char)*start))
		start++;
	if (*start == '#' || *start == ';') {
		snprintf(buf, (size_t)num, "\n");
		return buf;
	}
	sep = strpbrk(start, "=:");
	if (*start == '[' || sep == NULL || sep - p->line > num - 8) {
		cfg_fail(p, "%s:%d: line is too long to parse", p->path, p->lineno);
		return NULL;
	}
	if (p->nlong == CFG_LONG_VALUES_MAX) {
		cfg_fail(p, "%s:%d: more than %d long values", p->path, p->lineno,
			 CFG_LONG_VALUES_MAX);
		return NULL;
	}
	if (p->line[len - 1] == '\n')
		p->line[len - 1] = '\0';
	p->long_values[p->nlong] = cfg_clean_value(sep + 1);
	if (p->long_values[p->nlong] == NULL) {
		cfg_fail(p, "%s:%d: out of memory", p->path, p->lineno);
		return NULL;
	}
	snprintf(buf, (size_t)num, "%.*s= %c%d\n", (int)(sep - p->line), p->line,
		 CFG_PLACEHOLDER, p->nlong);
	p->nlong++;
	return buf;
}

static bool cfg_key_in(struct cfg_tables set, const char *section, const char *name)
{
	for (size_t t = 0; t < set.n; t++) {
		for (const struct cfg_key *k = set.v[t]; k->name != NULL; k++) {
			if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0)
				return true;
		}
	}
	return false;
}

/* inih's handler: one "name = value" pair. Always returns 1 (continue); errors are kept in p. */
static int cfg_on_pair(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parse *p = user;
	bool found = false;
	char *text;

	/* inih reports keys before the first section header with section "". */
	if (section[0] == '\0')
		section = "DEFAULT";
	if (value[0] == CFG_PLACEHOLDER) {
		long idx;

		if (util_parse_long(value + 1, 0, p->nlong - 1, &idx) != 0) {
			cfg_fail(p, "%s: [%s] %s: malformed value", p->path, section, name);
			return 1;
		}
		text = strdup(p->long_values[idx]);
	} else {
		text = cfg_clean_value(value);
	}
	if (text == NULL) {
		cfg_fail(p, "%s: out of memory", p->path);
		return 1;
	}

	for (size_t t = 0; t < p->apply.n; t++) {
		for (const struct cfg_key *k = p->apply.v[t]; k->name != NULL; k++) {
			if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0) {
				found = true;
				(void)cfg_apply(p, k, text, NULL);
			}
		}
	}
	/* A key only another program applies is no mistake: the file serves them all. */
	if (!found && !cfg_key_in(p->known, section, name))
		log_warning("%s: unknown option [%s] %s ignored", p->path, section, name);
	free(text);
	return 1;
}

static void cfg_read_file(struct cfg_parse *p, const char *path)
{
	int rc;

	p->path = path != NULL ? path : CFG_DEFAULT_PATH;
	p->file = fopen(p->path, "r");
	if (p->file == NULL) {
		if (path == NULL && errno == ENOENT) {
			log_debug("no configuration file %s; using defaults", p->path);
			return;
		}
		cfg_fail(p, "cannot read configuration file %s: %s", p->path, strerror(errno));
		return;
	}
	rc = ini_parse_stream(cfg_read_line, p, cfg_on_pair, p);
	if (rc > 0)
		cfg_fail(p, "%s:%d: syntax error (expected [section] or name = value)", p->path, rc);
	else if (rc < 0)
		cfg_fail(p, "%s: cannot parse (error %d)", p->path, rc);
	else if (ferror(p->file))
		cfg_fail(p, "%s: read error", p->path);
	fclose(p->file);
	p->file = NULL;
}

int cfg_load(const char *path, struct cfg_tables apply, struct cfg_tables known, char *err,
	     size_t errlen)
{
	static char scratch[8];
	struct cfg_parse p = {
		.apply = apply,
		.known = known,
		.err = err != NULL && errlen > 0 ? err : scratch,
		.errlen = err != NULL && errlen > 0 ? errlen : sizeof(scratch),
	};

	p.err[0] = '\0';
	for (size_t t = 0; t < apply.n; t++) {
		for (const struct cfg_key *k = apply.v[t]; k->name != NULL; k++)
			(void)cfg_apply(&p, k, k->def != NULL ? k->def : "", "default");
	}
	if (!p.failed)
		cfg_read_file(&p, path);
	for (size_t t = 0; t < apply.n && !p.failed; t++) {
		for (const struct cfg_key *k = apply.v[t]; k->name != NULL; k++) {
			const char *v = k->env != NULL ? getenv(k->env) : NULL;
			char origin[80];

			if (v == NULL || v[0] == '\0')
				continue;
			snprintf(origin, sizeof(origin), "environment %s", k->env);
			(void)cfg_apply(&p, k, v, origin);
		}
	}

	free(p.line);
	for (int i = 0; i < p.nlong; i++)
		free(p.long_values[i]);
	return p.failed ? -1 : 0;
}

void cfg_free(struct cfg_tables apply)
{
	for (size_t t = 0; t < apply.n; t++) {
		for (const struct cfg_key *k = apply.v[t]; k->name != NULL; k++) {
			if (k->type == CFG_STR) {
				char **target = k->target;

				free(*target);
				*target = NULL;
			}
		}
	}
}

const char *cfg_config_file_arg(int argc, char **argv, int *next)
{
	static const char opt[] = "--config-file";
	const size_t optlen = sizeof(opt) - 1;
	int dummy;

	if (next == NULL)
		next = &dummy;
	*next = argc > 0 ? 1 : 0;
	if (argc < 2)
		return NULL;
	if (strcmp(argv[1], opt) == 0) {
		if (argc < 3 || argv[2][0] == '\0') {
			*next = -1;
			return NULL;
		}
		*next = 3;
		return argv[2];
	}
	if (strncmp(argv[1], opt, optlen) == 0 && argv[1][optlen] == '=') {
		if (argv[1][optlen + 1] == '\0') {
			*next = -1;
			return NULL;
		}
		*next = 2;
		return argv[1] + optlen + 1;
	}
	return NULL;
}
