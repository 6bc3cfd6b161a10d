/*
 * main.c - bin/api-shim [--config-file F]: configuration, start-up, the signal wait loop and
 * the drain. bin/api-shim --print-api prints the routes, actions and RPC methods it serves
 * (from their tables, which docs/api.md must list) and exits.
 *
 * Start-up order: configuration (exit 2 on a usage error, 1 on a bad file), logging, auth,
 * then the lazily connecting database pool and publisher, then the HTTP server. Neither
 * PostgreSQL nor RabbitMQ needs to be up for the shim to start: a request that needs one that
 * is down is answered 503. SIGTERM/SIGINT stop accepting connections, wait up to
 * SHIM_DRAIN_SECONDS for the requests in flight, then stop; a second signal exits at once.
 * SIGHUP reads [api] token_file again (within a second).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/db.h"
#include "common/log.h"
#include "common/util.h"
#include "conf/registry.h"
#include "core/glance.h"
#include "core/notification.h"
#include "core/nova.h"
#include "core/settings.h"
#include "proto/schema.h"
#include "api-shim/actions.h"
#include "api-shim/auth.h"
#include "api-shim/clients.h"
#include "api-shim/dbpool.h"
#include "api-shim/ksauth.h"
#include "api-shim/offload.h"
#include "common/http.h"
#include "api-shim/publish.h"
#include "api-shim/replies.h"
#include "api-shim/server.h"
#include "api-shim/shim.h"
#include "api-shim/smetrics.h"

struct quota_defaults shim_quota_defaults;

static const struct cfg_key *const tables[] = { cfg_common_keys, settings_keys, nova_keys,
						glance_keys, api_keys, keystone_keys,
						notification_keys };
static const struct cfg_tables applied = { tables, sizeof(tables) / sizeof(tables[0]) };

static volatile sig_atomic_t signals;
static volatile sig_atomic_t reload_requested;

/* SIGHUP asks for the token file to be read again; the main loop does it, outside the
 * handler. */
static void on_sighup(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void install_sighup(void)
{
	/* The server threads' system calls restart instead of failing with EINTR. */
	util_handle_signal(SIGHUP, on_sighup, SA_RESTART);
}

static void reload_tokens(void)
{
	char err[512];

	if (auth_reload(err, sizeof(err)) != 0)
		log_error("auth: the token file was not reloaded, the previous tokens stay in "
			  "force: %s", err);
}

/* Reports at start-up whether the database answers; the pool connects lazily either way. */
static void probe_database(void)
{
	db_conn *db = db_open(cfg_common.db_connection, "volmgr-api-shim-probe", 5000);

	if (db == NULL) {
		log_warning("the database is not reachable yet; requests will get 503 until it is");
		return;
	}
	db_close(db);
}

/* True if addr is an IPv4 or IPv6 loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
static bool is_loopback(const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/*
 * noauth believes whatever user, project and roles a caller names in its headers, so anyone
 * who reaches the port is an administrator: it listens on loopback only, unless the operator
 * says otherwise in so many words ([api] noauth_allow_remote). Returns 0, or 1 after logging.
 */
static int check_noauth(void)
{
	if (!is_loopback(api_cfg.listen) && !api_cfg.noauth_allow_remote) {
		log_error("configuration: [api] auth_strategy noauth trusts every caller: it "
			  "listens on a loopback address only, not on %s (set [api] "
			  "noauth_allow_remote = true to insist, or use auth_strategy keystone)",
			  api_cfg.listen);
		return 1;
	}
	log_warning("auth: noauth trusts the user, project and roles each caller names: anyone "
		    "who reaches %s port %d is an administrator; use it for tests only",
		    api_cfg.listen, api_cfg.port);
	return 0;
}

static int configure(int argc, char **argv)
{
	char err[512];
	int next, level;
	const char *path = cfg_config_file_arg(argc, argv, &next);

	if (next < 0 || next != argc) {
		fprintf(stderr, "usage: %s [--config-file PATH]\n", argv[0]);
		return 2;
	}
	if (cfg_load(path, applied, conf_registry, err, sizeof(err)) != 0) {
		log_error("configuration: %s", err);
		return 1;
	}
	level = log_level_parse(cfg_common.log_level);
	if (level < 0) {
		log_error("configuration: [DEFAULT] log_level: '%s' is not error, warning, info or "
			  "debug", cfg_common.log_level);
		return 1;
	}
	if (log_init("api-shim", (enum log_level)level, NULL) != 0)
		return 1;
	if (proto_format_parse(api_cfg.rpc_wire_format_text, &api_cfg.rpc_wire_format) != 0) {
		log_error("configuration: [api] rpc_wire_format: '%s' is not msgpack or json",
			  api_cfg.rpc_wire_format_text);
		return 1;
	}
	if (notification_check(err, sizeof(err)) != 0) {
		log_error("configuration: %s", err);
		return 1;
	}
	settings_quota_defaults(&settings, &shim_quota_defaults);
	if (auth_init(api_cfg.auth_strategy, api_cfg.token_file, api_cfg.admin_users, err,
		      sizeof(err)) != 0 ||
	    (auth_keystone() && ksauth_init(err, sizeof(err)) != 0)) {
		log_error("configuration: %s", err);
		return 1;
	}
	return strcmp(api_cfg.auth_strategy, "noauth") == 0 ? check_noauth() : 0;
}

/* Threads of each of the pools that call the compute API (the 409 guard) and Keystone (a token
 * not in the cache) for requests that are suspended meanwhile. */
#define SHIM_OFFLOAD_THREADS 4

/* Files the shim opens besides its client connections: database and broker connections,
 * logs, libmicrohttpd's own. */
#define SHIM_OTHER_FDS 64

static int start(void)
{
	struct publish_options po = {
		.url = cfg_common.transport_url,
		.exchange = cfg_common.control_exchange,
		/* oslo.messaging's rule, which the manager follows too. */
		.durable_exchange = cfg_common.amqp_durable_queues || cfg_common.rabbit_quorum_queue,
		/* The publisher reads its connection only while confirms are due, so an idle
		 * publisher would miss heartbeats and the broker would drop it; a dead connection
		 * shows at the next publish instead, which reconnects and writes again. */
		.heartbeat = 0,
		.connect_timeout_ms = api_cfg.publish_timeout * 1000 < SHIM_CONNECT_MAX_MS ?
			api_cfg.publish_timeout * 1000 : SHIM_CONNECT_MAX_MS,
		/* A request has one message waiting at a time. */
		.max_pending = api_cfg.max_connections,
	};

	struct replies_options ro = {
		.url = cfg_common.transport_url,
		.heartbeat = cfg_common.heartbeat_timeout_threshold,
		/* A connection waits for one call at a time. */
		.max_pending = api_cfg.max_connections,
	};

	if (smetrics_start() != 0)
		return 1;
	/* One connection per server thread and per casts' thread, one for the metrics
	 * listener's health check, plus room for libmicrohttpd's own. */
	if (dbpool_init(cfg_common.db_connection, SHIM_STATEMENT_TIMEOUT_MS,
			api_cfg.workers + api_cfg.cast_workers + 3) != 0) {
		log_error("out of memory");
		return 1;
	}
	if (publish_start(&po) != 0)
		return 1;
	if (http_global_init() != 0 || replies_start(&ro) != 0) {
		log_error("cannot start the HTTP client or the reply listener");
		return 1;
	}
	probe_database();
	if (util_raise_nofile(api_cfg.max_connections + SHIM_OTHER_FDS) != 0)
		log_warning("the open files limit is below %d: connections beyond it are refused",
			    api_cfg.max_connections + SHIM_OTHER_FDS);
	if (clients_start(api_cfg.max_connections, api_cfg.client_header_timeout,
			  api_cfg.client_body_timeout) != 0 ||
	    offload_start(OFFLOAD_COMPUTE, SHIM_OFFLOAD_THREADS, api_cfg.max_connections) != 0 ||
	    offload_start(OFFLOAD_AUTH, SHIM_OFFLOAD_THREADS, api_cfg.max_connections) != 0 ||
	    offload_start(OFFLOAD_IMAGE, SHIM_OFFLOAD_THREADS, api_cfg.max_connections) != 0 ||
	    offload_start(OFFLOAD_CASTS, api_cfg.cast_workers, api_cfg.max_connections) != 0)
		return 1;
	return server_start(api_cfg.listen, api_cfg.port, api_cfg.workers) == 0 ? 0 : 1;
}

/* How long the requests woken at the end of the drain have to send their answers. */
#define SHIM_DRAIN_ANSWER_MS 2000

/* Stops accepting, waits for the requests in flight (bounded), then stops the server. */
static void drain(void)
{
	int64_t deadline = util_now_ms() + SHIM_DRAIN_SECONDS * 1000;

	server_quiesce();
	log_info("stopping: %d requests in flight", server_inflight());
	while (server_inflight() > 0 && util_now_ms() < deadline)
		util_sleep_ms(100, NULL);
	/* Messages still waiting for their confirm and calls still waiting for a reply are ended
	 * (their connection to the reply queue goes), and compute checks still queued cancelled,
	 * and their requests answered before the server stops, which it cannot do with a request
	 * suspended. */
	publish_stop();
	replies_stop();
	offload_stop();
	deadline = util_now_ms() + SHIM_DRAIN_ANSWER_MS;
	while (server_inflight() > 0 && util_now_ms() < deadline)
		util_sleep_ms(20, NULL);
	if (server_inflight() > 0)
		log_warning("stopping with %d requests still in flight", server_inflight());
	server_stop();
}

/* One line per route, action and RPC method, as the tables say. */
static void print_api(void)
{
	server_print_routes();
	actions_print_table();
	for (int i = 0; i < PROTO_M_COUNT; i++) {
		const struct proto_method *m = proto_method_get((enum proto_method_id)i);

		printf("method %s %s %s\n", m->name, m->send_version, m->is_call ? "call" : "cast");
	}
}

int main(int argc, char **argv)
{
	int rc;

	if (argc == 2 && strcmp(argv[1], "--print-api") == 0) {
		print_api();
		return 0;
	}
	if (log_init("api-shim", LOGL_INFO, NULL) != 0)
		return 1;
	util_install_signals(&signals);
	install_sighup();
	rc = configure(argc, argv);
	if (rc != 0)
		goto out;
	rc = start();
	if (rc != 0)
		goto stop;
	log_info("api-shim ready (auth %s, exchange %s, publish timeout %d s)",
		 api_cfg.auth_strategy, cfg_common.control_exchange, api_cfg.publish_timeout);
	while (signals == 0) {
		util_sleep_ms(1000, &signals);
		if (reload_requested) {
			reload_requested = 0;
			reload_tokens();
		}
	}
	drain();
stop:
	replies_stop();
	offload_stop();
	replies_free();
	clients_stop();
	http_global_cleanup();
	publish_stop();
	smetrics_stop();
	dbpool_shutdown();
	log_info("api-shim stopped");
out:
	ksauth_shutdown();
	auth_shutdown();
	cfg_free(applied);
	return rc;
}
