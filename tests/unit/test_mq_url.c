/*
 * test_mq_url.c - transport URLs with several hosts, in oslo.messaging's form (mq_url_hosts).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/mq.h"

/* Splits url and checks the per-host URLs against want (NULL-terminated). */
static void expect_hosts(const char *url, const char *const *want)
{
	char *out[MQ_URL_HOSTS_MAX], err[256];
	size_t n = 0, nwant = 0;

	while (want[nwant] != NULL)
		nwant++;
	cr_assert(eq(int, mq_url_hosts(url, out, MQ_URL_HOSTS_MAX, &n, err, sizeof(err)), MQ_OK),
		  "%s: %s", url, err);
	cr_assert(eq(sz, n, nwant), "%s", url);
	for (size_t i = 0; i < n; i++) {
		cr_expect(eq(str, out[i], (char *)want[i]), "%s host %zu", url, i);
		free(out[i]);
	}
}

Test(mq_url, one_host_is_unchanged)
{
	expect_hosts("amqp://guest:guest@127.0.0.1:5672/",
		     (const char *const[]){ "amqp://guest:guest@127.0.0.1:5672/", NULL });
	expect_hosts("amqp://rabbit", (const char *const[]){ "amqp://rabbit", NULL });
}

Test(mq_url, several_hosts_keep_their_order_credentials_and_the_vhost)
{
	expect_hosts("amqp://u:p@h1:5672,v:q@h2:5673,h3/cinder%2Fvols",
		     (const char *const[]){ "amqp://u:p@h1:5672/cinder%2Fvols",
					    "amqp://v:q@h2:5673/cinder%2Fvols",
					    "amqp://h3/cinder%2Fvols", NULL });
}

Test(mq_url, rabbit_scheme_and_ipv6_hosts)
{
	expect_hosts("rabbit://u:p@[::1]:5672,u:p@[::1]:5673/",
		     (const char *const[]){ "amqp://u:p@[::1]:5672/", "amqp://u:p@[::1]:5673/",
					    NULL });
}

Test(mq_url, refused_forms_name_no_password)
{
	static const char *const bad[] = {
		"amqps://u:secret@h/", "http://u:secret@h/", "amqp://u:secret@h1,,h2/",
		"amqp://u:secret@h1,/", "amqp:///vhost", "amqp://u:secret@h/?ssl=1",
	};
	char *out[MQ_URL_HOSTS_MAX], err[256];
	size_t n = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect(eq(int, mq_url_hosts(bad[i], out, MQ_URL_HOSTS_MAX, &n, err, sizeof(err)),
			     MQ_INVALID), "%s", bad[i]);
		cr_expect(eq(sz, n, 0));
		cr_expect(strstr(err, "secret") == NULL, "%s: %s", bad[i], err);
	}
}

Test(mq_url, too_many_hosts)
{
	char url[512] = "amqp://h0", *out[2], err[256];
	size_t n;

	strcat(url, ",h1,h2/");
	cr_expect(eq(int, mq_url_hosts(url, out, 2, &n, err, sizeof(err)), MQ_INVALID));
	cr_expect(strstr(err, "more than 2") != NULL, "%s", err);
}
