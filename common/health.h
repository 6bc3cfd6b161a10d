/*
 * health.h - the result of a daemon's health check and its rendering as oslo.middleware's
 * healthcheck middleware renders it, so that a load balancer or an orchestrator probes volmgr
 * as it probes any OpenStack service.
 *
 * A daemon runs its checks (each one bounded: no probe may hold a server thread for long)
 * into a struct health_report; health_status and health_render turn it into the reply:
 * GET gives 200 when every check passed and 503 otherwise (HEAD 204 / 503 without a body);
 * the body is text/plain unless the Accept header prefers application/json. The plain body
 * is "OK" when healthy, otherwise the reason of each failed check, one a line. The JSON body
 * is {"detailed": false, "reasons": [...]} with the same reasons, or, for a caller the daemon
 * trusts with details (an admin), {"detailed": true, "now": ..., "reasons": [{"reason",
 * "details", "class"}, ...]} with every check, passed or not.
 */
#ifndef VOLMGR_COMMON_HEALTH_H
#define VOLMGR_COMMON_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#define HEALTH_CHECKS_MAX 8
#define HEALTH_TEXT_MAX 256

struct health_check {
	const char *name;                /* a static name: the "class" of the detailed form */
	bool ok;
	char reason[HEALTH_TEXT_MAX];    /* "OK", or what is wrong */
	char details[HEALTH_TEXT_MAX];
};

struct health_report {
	struct health_check check[HEALTH_CHECKS_MAX];
	int n;
};

enum health_format {
	HEALTH_TEXT,
	HEALTH_JSON,
};

/* Appends a check (ignored past HEALTH_CHECKS_MAX): reason "OK" when ok, else why_fmt's
 * text; details as given (may be NULL). */
__attribute__((format(printf, 5, 6)))
void health_add(struct health_report *h, const char *name, bool ok, const char *details,
		const char *why_fmt, ...);

/* True when every check passed. */
bool health_ok(const struct health_report *h);

/* The HTTP status of the reply: 200 (204 for HEAD) when healthy, 503 otherwise. */
int health_status(const struct health_report *h, bool head);

/* The format the Accept header (NULL: none) asks for. */
enum health_format health_format_of(const char *accept);

/* The body (a new NUL-terminated string, the caller frees it; NULL when memory ran out)
 * and its content type (static). */
__attribute__((warn_unused_result))
char *health_render(const struct health_report *h, enum health_format fmt, bool detailed,
		    const char **content_type);

#endif
