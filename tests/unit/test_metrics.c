/*
 * test_metrics.c - common/metrics: the text exposition format 0.0.4 (HELP, TYPE, labels,
 * cumulative buckets, _sum and _count), escaping, bounded label values, slots summed, and
 * common/health's renderings.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/health.h"
#include "common/metrics.h"
#include "common/util.h"

static const char *const t_outcomes[] = { "ok", "failed", "other" };
static const char *const t_odd[] = { "a\"b", "c\\d", "e\nf" };
static const char *const t_methods[] = { "GET", "POST" };
static const char *const t_patterns[] = { "/v3", "/v3/{project_id}/volumes" };
static const double t_buckets[] = { 0.001, 0.01, 0.1 };

enum { T_COUNTER, T_ODD, T_GAUGE, T_HIST, T_ROUTE, T_COUNT };

static const struct metrics_def t_defs[T_COUNT] = {
	[T_COUNTER] = { "t_messages_total", "Messages.", METRICS_COUNTER,
		{ { "outcome", t_outcomes, 3, NULL, NULL } }, NULL, 0, 0 },
	[T_ODD] = { "t_odd_total", "Help with \\ and\nnewline.", METRICS_COUNTER,
		{ { "v", t_odd, 3, NULL, NULL } }, NULL, 0, 0 },
	[T_GAUGE] = { "t_depth", "Depth.", METRICS_GAUGE, { { 0 } }, NULL, 0, 0 },
	[T_HIST] = { "t_seconds", "Latency.", METRICS_HISTOGRAM, { { 0 } }, t_buckets, 3, 1e-6 },
	[T_ROUTE] = { "t_requests_total", "Requests.", METRICS_COUNTER,
		{ { "route", t_patterns, 2, "method", t_methods } }, NULL, 0, 0 },
};

static char *rendered;

static void setup(void)
{
	cr_assert_eq(metrics_init(t_defs, T_COUNT, 2), 0);
}

static void teardown(void)
{
	free(rendered);
	rendered = NULL;
	metrics_free();
}

static const char *render(void)
{
	size_t len = 0;

	free(rendered);
	rendered = metrics_render(&len);
	cr_assert_not_null(rendered);
	cr_assert_eq(strlen(rendered), len);
	return rendered;
}

static void has_line(const char *line)
{
	const char *text = render();
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	cr_assert_fail("no line \"%s\" in:\n%s", line, text);
}

TestSuite(metrics, .init = setup, .fini = teardown);

Test(metrics, counter_has_help_type_and_every_series)
{
	metrics_add(T_COUNTER, metrics_series(T_COUNTER, 1, 0, 0), 3);
	has_line("# HELP t_messages_total Messages.");
	has_line("# TYPE t_messages_total counter");
	has_line("t_messages_total{outcome=\"ok\"} 0");
	has_line("t_messages_total{outcome=\"failed\"} 3");
	has_line("t_messages_total{outcome=\"other\"} 0");
}

Test(metrics, an_index_out_of_range_counts_under_the_last_value)
{
	metrics_add(T_COUNTER, metrics_series(T_COUNTER, 99, 0, 0), 1);
	has_line("t_messages_total{outcome=\"other\"} 1");
}

Test(metrics, help_and_label_values_are_escaped)
{
	metrics_add(T_ODD, 0, 1);
	has_line("# HELP t_odd_total Help with \\\\ and\\nnewline.");
	has_line("t_odd_total{v=\"a\\\"b\"} 1");
	has_line("t_odd_total{v=\"c\\\\d\"} 0");
	has_line("t_odd_total{v=\"e\\nf\"} 0");
}

Test(metrics, histogram_buckets_are_cumulative_with_sum_and_count)
{
	metrics_observe(T_HIST, 0, 500);       /* 0.0005 s */
	metrics_observe(T_HIST, 0, 1000);      /* exactly on the 0.001 bound */
	metrics_observe(T_HIST, 0, 50000);     /* 0.05 s */
	metrics_observe(T_HIST, 0, 2000000);   /* 2 s: +Inf only */
	has_line("# TYPE t_seconds histogram");
	has_line("t_seconds_bucket{le=\"0.001\"} 2");
	has_line("t_seconds_bucket{le=\"0.01\"} 2");
	has_line("t_seconds_bucket{le=\"0.1\"} 3");
	has_line("t_seconds_bucket{le=\"+Inf\"} 4");
	has_line("t_seconds_sum 2.0515");
	has_line("t_seconds_count 4");
}

Test(metrics, slots_are_summed_and_gauges_read_per_slot)
{
	metrics_add(T_COUNTER, 0, 2);
	metrics_set(T_GAUGE, 0, 5);
	metrics_set_slot(1);
	metrics_add(T_COUNTER, 0, 3);
	metrics_set(T_GAUGE, 0, -1);
	has_line("t_messages_total{outcome=\"ok\"} 5");
	has_line("t_depth 4");
	cr_assert_eq(metrics_slot_value(T_GAUGE, 0, 0), 5);
	cr_assert_eq(metrics_slot_value(T_GAUGE, 0, 1), -1);
	cr_assert_eq(metrics_slots(), 2);
}

Test(metrics, a_dimension_may_carry_two_labels)
{
	metrics_add(T_ROUTE, metrics_series(T_ROUTE, 1, 0, 0), 1);
	has_line("t_requests_total{route=\"/v3/{project_id}/volumes\",method=\"POST\"} 1");
	has_line("t_requests_total{route=\"/v3\",method=\"GET\"} 0");
}

Test(metrics_table, an_unsorted_bucket_list_is_refused)
{
	static const double bad[] = { 1, 0.5 };
	const struct metrics_def d = { "t_bad", "Bad.", METRICS_HISTOGRAM, { { 0 } }, bad, 2, 0 };

	cr_assert_eq(metrics_init(&d, 1, 1), -1);
}

Test(health, plain_text_says_ok_or_the_failures)
{
	struct health_report h = { .n = 0 };
	const char *type;
	char *body;

	health_add(&h, "DatabaseCheck", true, NULL, "database unreachable");
	body = health_render(&h, HEALTH_TEXT, false, &type);
	cr_assert_str_eq(body, "OK");
	cr_assert_eq(health_status(&h, false), 200);
	cr_assert_eq(health_status(&h, true), 204);
	free(body);
	health_add(&h, "BrokerCheck", false, "x", "broker %s", "down");
	body = health_render(&h, HEALTH_TEXT, false, &type);
	cr_assert_str_eq(body, "broker down");
	cr_assert_eq(health_status(&h, false), 503);
	free(body);
}

Test(health, json_details_only_when_detailed)
{
	struct health_report h = { .n = 0 };
	const char *type;

	health_add(&h, "DatabaseCheck", false, "secret detail", "database unreachable");
	char *plain = health_render(&h, HEALTH_JSON, false, &type);
	cr_assert_str_eq(type, "application/json");
	cr_assert_not_null(strstr(plain, "\"detailed\": false"));
	cr_assert_null(strstr(plain, "secret detail"));
	char *full = health_render(&h, HEALTH_JSON, true, &type);
	cr_assert_not_null(strstr(full, "\"detailed\": true"));
	cr_assert_not_null(strstr(full, "secret detail"));
	cr_assert_not_null(strstr(full, "\"class\": \"DatabaseCheck\""));
	free(plain);
	free(full);
	cr_assert_eq(health_format_of("application/json"), HEALTH_JSON);
	cr_assert_eq(health_format_of("text/plain, application/json"), HEALTH_TEXT);
	cr_assert_eq(health_format_of(NULL), HEALTH_TEXT);
}

Test(util_time, iso_timestamps_parse_to_microseconds)
{
	int64_t us;

	cr_assert_eq(util_iso_us("1970-01-01T00:00:01.5", &us), 0);
	cr_assert_eq(us, 1500000);
	cr_assert_eq(util_iso_us("2026-12-06 13:00:00.000001", &us), 0);
	cr_assert_eq(us % 1000000, 1);
	cr_assert_eq(util_iso_us("2026-12-06", &us), -1);
	cr_assert_eq(util_iso_us("2026-12-06T13:00:00Z", &us), -1);
}

Test(util_time, host_port_splits_v4_and_bracketed_v6)
{
	char host[64];
	int port;

	cr_assert_eq(util_host_port("127.0.0.1:9100", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "127.0.0.1");
	cr_assert_eq(port, 9100);
	cr_assert_eq(util_host_port("[::1]:9101", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "::1");
	cr_assert_eq(util_host_port("127.0.0.1", host, sizeof(host), &port), -1);
	cr_assert_eq(util_host_port("127.0.0.1:0", host, sizeof(host), &port), -1);
}
