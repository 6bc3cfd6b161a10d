/*
 * test_cfg.c - configuration loading: defaults, file, environment, bounds and argv.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/log.h"
#include "core/settings.h"

/* A second table, as a daemon would add for its own section. */
static char *t_listen;
static int t_port;
static bool t_flag;
static char *t_token;
static const struct cfg_key test_keys[] = {
	{ "api", "listen", CFG_STR, &t_listen, "127.0.0.1", 0, 0, NULL },
	{ "api", "port", CFG_INT, &t_port, "8776", 1, 65535, NULL },
	{ "api", "flag", CFG_BOOL, &t_flag, "false", 0, 0, "TEST_CFG_FLAG" },
	{ "api", "token", CFG_STR, &t_token, NULL, 0, 0, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};
/* A table of another program sharing the file: known to this one, never applied by it. */
static int t_theirs;
static const struct cfg_key other_keys[] = {
	{ "DEFAULT", "theirs", CFG_INT, &t_theirs, "1", 0, 10, NULL },
	{ "other_program", "x", CFG_INT, &t_theirs, "1", 0, 10, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};
static const struct cfg_key *const tables[] = { cfg_common_keys, settings_keys, test_keys };
static const struct cfg_tables applied = { tables, sizeof(tables) / sizeof(tables[0]) };
static const struct cfg_key *const all_tables[] = { cfg_common_keys, settings_keys, test_keys,
						     other_keys };
static const struct cfg_tables known = { all_tables, sizeof(all_tables) / sizeof(all_tables[0]) };

static char dir[32];
static char path[64];
static char logpath[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_cfg.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/volmgr.conf", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	unsetenv("VOLMGR_TRANSPORT_URL");
	unsetenv("VOLMGR_DB_URL");
	unsetenv("TEST_CFG_FLAG");
	cr_assert_eq(log_init("test_cfg", LOGL_INFO, logpath), 0);
}

static void teardown(void)
{
	cfg_free(applied);
	unlink(path);
	unlink(logpath);
	rmdir(dir);
}

TestSuite(cfg, .init = setup, .fini = teardown);

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(char *err, size_t errlen)
{
	return cfg_load(path, applied, known, err, errlen);
}

static char *read_log(void)
{
	static char buf[4096];
	FILE *f = fopen(logpath, "r");
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(cfg, defaults_from_an_empty_file)
{
	char err[256];

	write_file("");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg_common.transport_url, "amqp://guest:guest@127.0.0.1:5672/");
	cr_assert_str_eq(cfg_common.control_exchange, "openstack");
	cr_assert_str_eq(cfg_common.host, "node1");
	cr_assert_str_eq(settings.backend, "filestore");
	cr_assert_str_eq(cfg_common.log_level, "info");
	cr_assert_str_eq(settings.storage_availability_zone, "nova");
	cr_assert_str_eq(settings.default_volume_type, "__DEFAULT__");
	cr_assert_eq(settings.quota_volumes, 10);
	cr_assert_eq(settings.quota_snapshots, 10);
	cr_assert_eq(settings.quota_gigabytes, 1000);
	cr_assert_eq(settings.per_volume_size_limit, -1);
	cr_assert_eq(settings.reservation_expire, 86400);
	cr_assert_eq(settings.message_ttl, 2592000);
	cr_assert_str_eq(cfg_common.db_connection, "postgresql://volmgr@127.0.0.1:5432/volmgr");
	cr_assert(cfg_common.amqp_durable_queues);
	cr_assert(!cfg_common.rabbit_quorum_queue);
	cr_assert_eq(cfg_common.rabbit_qos_prefetch_count, 16);
	cr_assert_eq(cfg_common.heartbeat_timeout_threshold, 60);
	cr_assert_str_eq(t_listen, "127.0.0.1");
	cr_assert_str_eq(t_token, "", "a NULL default is an empty string");
	cr_assert_eq(t_port, 8776);
}

Test(cfg, file_values_override_defaults)
{
	char err[256];

	write_file("# a comment\n"
		   "host = early\n"
		   "[DEFAULT]\n"
		   "control_exchange = volmgr-test\n"
		   "backend=lvm\n"
		   "quota_volumes = -1\n"
		   "; another comment\n"
		   "[database]\n"
		   "connection = postgresql://u@db:1/x\n"
		   "[oslo_messaging_rabbit]\n"
		   "rabbit_quorum_queue = Yes\n"
		   "amqp_durable_queues = off\n"
		   "rabbit_qos_prefetch_count = 64\n"
		   "[api]\n"
		   "port = 9000\n"
		   "listen = 0.0.0.0   # inline comment as in the sample file\n"
		   "token = abc ; semicolon comment\n"
		   "[database]\n"
		   "connection =        # nothing but a comment\n"
		   "connection = postgresql://u@db:1/x#frag  # the last one wins\n"
		   "[somebody_else]\n"
		   "whatever = 1\n");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg_common.host, "early", "keys before any section are [DEFAULT]");
	cr_assert_str_eq(cfg_common.control_exchange, "volmgr-test");
	cr_assert_str_eq(settings.backend, "lvm");
	cr_assert_eq(settings.quota_volumes, -1);
	cr_assert_str_eq(cfg_common.db_connection, "postgresql://u@db:1/x#frag",
			 "a # inside a value is kept");
	cr_assert(cfg_common.rabbit_quorum_queue);
	cr_assert(!cfg_common.amqp_durable_queues);
	cr_assert_eq(cfg_common.rabbit_qos_prefetch_count, 64);
	cr_assert_eq(t_port, 9000);
	cr_assert_str_eq(t_listen, "0.0.0.0");
	cr_assert_str_eq(t_token, "abc");
	cr_assert_str_eq(cfg_common.log_level, "info", "untouched keys keep their default");
}

Test(cfg, comment_only_value_is_empty)
{
	char err[256];

	write_file("[api]\ntoken =                 # X-Auth-Token (optional)\n"
		   "listen = ; also a comment\n");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(t_token, "");
	cr_assert_str_eq(t_listen, "");
}

Test(cfg, repeated_key_takes_the_last_value)
{
	char err[256];

	write_file("[DEFAULT]\nhost = a\nhost = b\nhost = c\n");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg_common.host, "c");
}

Test(cfg, long_lines_are_not_truncated)
{
	char text[2048], token[1500], err[256];

	memset(token, 'k', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	snprintf(text, sizeof(text), "[api]\ntoken = %s   # trailing comment\nport = 1234\n", token);
	write_file(text);
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(t_token), strlen(token));
	cr_assert_str_eq(t_token, token);
	cr_assert_eq(t_port, 1234, "the line after a long one still parses");
}

Test(cfg, environment_overrides_the_file)
{
	char err[256];

	write_file("[DEFAULT]\ntransport_url = amqp://file:file@h:1/\n"
		   "[database]\nconnection = postgresql://file@h/db\n"
		   "[api]\nflag = false\n");
	setenv("VOLMGR_DB_URL", "postgresql://env@h/db", 1);
	setenv("TEST_CFG_FLAG", "on", 1);
	setenv("VOLMGR_TRANSPORT_URL", "", 1);
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg_common.db_connection, "postgresql://env@h/db");
	cr_assert(t_flag);
	cr_assert_str_eq(cfg_common.transport_url, "amqp://file:file@h:1/",
			 "an empty variable does not override");
}

Test(cfg, environment_value_is_validated)
{
	char err[256];

	write_file("");
	setenv("TEST_CFG_FLAG", "perhaps", 1);
	cr_assert_eq(load(err, sizeof(err)), -1);
	cr_assert(strstr(err, "[api] flag: 'perhaps' is not a boolean") != NULL, "%s", err);
	cr_assert(strstr(err, "TEST_CFG_FLAG") != NULL, "%s", err);
}

/* Parameters are copied into a re-executed test process, so text is held inline. */
struct bound_case {
	char file[80];
	char err[120];
};

ParameterizedTestParameters(cfg, bounds_errors)
{
	static struct bound_case cases[] = {
		{ "[api]\nport = 70000\n", "[api] port: 70000 is above 65535" },
		{ "[api]\nport = 0\n", "[api] port: 0 is below 1" },
		{ "[api]\nport = 80x\n", "[api] port: '80x' is not an integer" },
		{ "[api]\nport =\n", "[api] port: '' is not an integer" },
		{ "[DEFAULT]\nquota_volumes = 99999999999\n",
		  "[DEFAULT] quota_volumes: 99999999999 is above 2147483647" },
		{ "[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = 0\n",
		  "[oslo_messaging_rabbit] rabbit_qos_prefetch_count: 0 is below 1" },
		{ "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 3601\n",
		  "[oslo_messaging_rabbit] heartbeat_timeout_threshold: 3601 is above 3600" },
		{ "[oslo_messaging_rabbit]\nrabbit_quorum_queue = maybe\n",
		  "[oslo_messaging_rabbit] rabbit_quorum_queue: 'maybe' is not a boolean "
		  "(true/false/yes/no/on/off/1/0)" },
	};
	return cr_make_param_array(struct bound_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bound_case *c, cfg, bounds_errors)
{
	char err[256];

	write_file(c->file);
	cr_assert_eq(load(err, sizeof(err)), -1);
	cr_assert_str_eq(err, c->err);
}

Test(cfg, first_error_is_reported)
{
	char err[256];

	write_file("[api]\nport = 70000\nflag = nope\n");
	cr_assert_eq(load(err, sizeof(err)), -1);
	cr_assert_str_eq(err, "[api] port: 70000 is above 65535");
}

Test(cfg, syntax_error_names_the_line)
{
	char err[256], expect[128];

	write_file("[DEFAULT]\nhost = a\nthis line has no equals sign\n");
	cr_assert_eq(load(err, sizeof(err)), -1);
	snprintf(expect, sizeof(expect), "%s:3:", path);
	cr_assert(strncmp(err, expect, strlen(expect)) == 0, "%s", err);
}

Test(cfg, unknown_key_warns_only)
{
	char err[256];
	const char *log;

	write_file("[DEFAULT]\nno_such_option = 1\n[api]\nprot = 1\n[no_such_section]\ny = 1\n");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	log = read_log();
	cr_assert(strstr(log, "WARNING") != NULL, "%s", log);
	cr_assert(strstr(log, "unknown option [DEFAULT] no_such_option ignored") != NULL, "%s",
		  log);
	cr_assert(strstr(log, "unknown option [api] prot ignored") != NULL, "%s", log);
	cr_assert(strstr(log, "unknown option [no_such_section] y ignored") != NULL, "%s", log);
}

Test(cfg, another_programs_key_is_known_but_not_applied)
{
	char err[256];
	const char *log;

	t_theirs = 7;
	write_file("[DEFAULT]\ntheirs = 99\nhost = mine\n[other_program]\nx = not a number\n");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg_common.host, "mine");
	cr_assert_eq(t_theirs, 7, "a table not applied gets neither its default nor the value");
	log = read_log();
	cr_assert(strstr(log, "unknown option") == NULL, "%s", log);
}

Test(cfg, missing_explicit_file_fails)
{
	char err[256];

	cr_assert_eq(cfg_load("/nonexistent/volmgr.conf", applied, known, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/nonexistent/volmgr.conf") != NULL, "%s", err);
	cr_assert(strstr(err, "No such file") != NULL, "%s", err);
}

Test(cfg, missing_default_file_is_fine)
{
	char err[256];

	if (access(CFG_DEFAULT_PATH, F_OK) == 0)
		cr_skip_test("%s exists on this machine", CFG_DEFAULT_PATH);
	cr_assert_eq(cfg_load(NULL, applied, known, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg_common.host, "node1");
}

Test(cfg, load_twice_replaces_strings)
{
	char err[256];

	write_file("[DEFAULT]\nhost = one\n");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	write_file("[DEFAULT]\nhost = two\n");
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg_common.host, "two");
	cfg_free(applied);
	cr_assert_null(cfg_common.host);
	cr_assert_null(t_listen);
}

struct bool_case {
	char text[8];
	int rc;
	bool value;
};

ParameterizedTestParameters(cfg, parse_bool)
{
	static struct bool_case cases[] = {
		{ "true", 0, true }, { "TRUE", 0, true }, { "yes", 0, true }, { "On", 0, true },
		{ "1", 0, true }, { "false", 0, false }, { "No", 0, false }, { "OFF", 0, false },
		{ "0", 0, false }, { "", -1, false }, { "2", -1, false }, { "y", -1, false },
		{ "truee", -1, false }, { " true", -1, false },
	};
	return cr_make_param_array(struct bool_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bool_case *c, cfg, parse_bool)
{
	bool v = !c->value;

	cr_assert_eq(cfg_parse_bool(c->text, &v), c->rc, "'%s'", c->text);
	if (c->rc == 0)
		cr_assert_eq(v, c->value, "'%s'", c->text);
}

Test(cfg, parse_int)
{
	int v = 0;

	cr_assert_eq(cfg_parse_int("42", 0, 100, &v), 0);
	cr_assert_eq(v, 42);
	cr_assert_eq(cfg_parse_int("-1", -1, 100, &v), 0);
	cr_assert_eq(v, -1);
	cr_assert_eq(cfg_parse_int("101", 0, 100, &v), -1);
	cr_assert_eq(cfg_parse_int("-2", -1, 100, &v), -1);
	cr_assert_eq(cfg_parse_int("4x", 0, 100, &v), -1);
	cr_assert_eq(cfg_parse_int("", 0, 100, &v), -1);
	cr_assert_eq(cfg_parse_int(NULL, 0, 100, &v), -1);
	cr_assert_eq(cfg_parse_int("2147483648", 0, 9999999999L, &v), -1,
		     "an int target cannot hold more than INT_MAX");
	cr_assert_eq(cfg_parse_int("2147483647", 0, 9999999999L, &v), 0);
	cr_assert_eq(v, 2147483647);
}

Test(cfg, config_file_argument)
{
	char *a1[] = { "prog", "--config-file", "/x.conf", "db-sync", NULL };
	char *a2[] = { "prog", "--config-file=/y.conf", "attach", NULL };
	char *a3[] = { "prog", "db-sync", NULL };
	char *a4[] = { "prog", "--config-file", NULL };
	char *a5[] = { "prog", "--config-file=", NULL };
	char *a6[] = { "prog", NULL };
	char *a7[] = { "prog", "--config-filex", NULL };
	int next = 99;

	cr_assert_str_eq(cfg_config_file_arg(4, a1, &next), "/x.conf");
	cr_assert_eq(next, 3);
	cr_assert_str_eq(cfg_config_file_arg(3, a2, &next), "/y.conf");
	cr_assert_eq(next, 2);
	cr_assert_null(cfg_config_file_arg(2, a3, &next));
	cr_assert_eq(next, 1);
	cr_assert_null(cfg_config_file_arg(2, a4, &next));
	cr_assert_eq(next, -1);
	cr_assert_null(cfg_config_file_arg(2, a5, &next));
	cr_assert_eq(next, -1);
	cr_assert_null(cfg_config_file_arg(1, a6, &next));
	cr_assert_eq(next, 1);
	cr_assert_null(cfg_config_file_arg(2, a7, &next));
	cr_assert_eq(next, 1);
}
