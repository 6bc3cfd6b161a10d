/*
 * cmd_health.c - volctl health: the volume manager's health check, as its listener serves it.
 *
 * volctl asks the manager's own GET /healthcheck ([DEFAULT] metrics_listen) rather than
 * checking the database and the broker itself: what an operator wants to know is whether
 * the running manager consumes and reaches its database, which only the manager knows (a
 * database that answers volctl says nothing of a manager stuck in a reconnect).
 */
#include <stdio.h>
#include <string.h>

#include "common/cfg.h"
#include "common/http.h"
#include "common/util.h"
#include "volctl/volctl.h"

#define HEALTH_URL_MAX 512
#define HEALTH_TIMEOUT_S 5

static int run_health(struct volctl_args *a)
{
	struct http_response resp = { 0 };
	char url[HEALTH_URL_MAX], err[512];
	int timeout = a->timeout > 0 ? (int)a->timeout : HEALTH_TIMEOUT_S;
	int rc;

	if (a->url != NULL)
		rc = snprintf(url, sizeof(url), "%s", a->url);
	else if (cfg_common.metrics_listen != NULL && cfg_common.metrics_listen[0] != '\0')
		rc = snprintf(url, sizeof(url), "http://%s/healthcheck", cfg_common.metrics_listen);
	else
		return volctl_fail("unhealthy: [DEFAULT] metrics_listen is not set, so the manager "
				   "serves no health check (or give --url)");
	if (rc < 0 || (size_t)rc >= sizeof(url))
		return volctl_fail("the health check's URL is too long");
	if (http_global_init() != 0)
		return volctl_fail("cannot start the HTTP client");
	if (http_request("GET", url, NULL, NULL, timeout, &resp, err, sizeof(err)) != 0) {
		rc = volctl_fail("unhealthy: the manager does not answer on %s: %s", url, err);
	} else if (resp.status == 200) {
		printf("healthy: %s\n", resp.body != NULL ? resp.body : "");
		rc = VOLCTL_OK;
	} else {
		printf("unhealthy (HTTP %ld):\n%s\n", resp.status, resp.body != NULL ? resp.body : "");
		rc = VOLCTL_FAIL;
	}
	http_response_free(&resp);
	http_global_cleanup();
	return rc;
}

static const struct volctl_opt opts_health[] = {
	VOLCTL_OPT_STR("--url", url),
	VOLCTL_OPT_LONG("--timeout", timeout, 1, 300),
	VOLCTL_OPT_END,
};

const struct volctl_cmd volctl_cmds_health[] = {
	{ "health", "[--url http://HOST:PORT/healthcheck] [--timeout SECONDS]",
	  "Asks the running volume manager whether it is healthy: GET /healthcheck on its\n"
	  "[DEFAULT] metrics_listen (or --url), which answers for every worker of the service.\n"
	  "Healthy means a worker consumes from the broker and has its database session.\n"
	  "Prints \"healthy\" or \"unhealthy\" with the reasons; exit 0 healthy, 1 not\n"
	  "(also when the manager does not answer within --timeout, default 5 s).",
	  opts_health, 0, 0, NULL, run_health },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
