/*
 * test_util.c - ids, backoff, integer parsing and string helpers.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <ctype.h>
#include <string.h>

#include "common/util.h"

Test(util, uuid4_is_canonical_lowercase_version4)
{
	char a[37], b[37];

	util_uuid4(a);
	util_uuid4(b);
	cr_assert_eq(strlen(a), 36);
	cr_assert(util_is_uuid(a), "%s", a);
	cr_assert_neq(strcmp(a, b), 0);
	for (int i = 0; i < 36; i++)
		cr_assert(!isupper((unsigned char)a[i]), "%s", a);
	cr_assert_eq(a[14], '4', "version nibble in %s", a);
	cr_assert(strchr("89ab", a[19]) != NULL, "variant nibble in %s", a);
}

Test(util, hex_id_is_32_lowercase_hex_digits)
{
	char a[33], b[33];

	util_hex_id(a);
	util_hex_id(b);
	cr_assert_eq(strlen(a), 32);
	cr_assert_eq(strspn(a, "0123456789abcdef"), 32, "%s", a);
	cr_assert_neq(strcmp(a, b), 0);
}

Test(util, is_uuid_rejects_near_misses)
{
	cr_assert(util_is_uuid("0e5d3a52-5b2c-4f6e-9d3c-2a1b0c9d8e7f"));
	cr_assert(util_is_uuid("0E5D3A52-5B2C-4F6E-9D3C-2A1B0C9D8E7F"));
	cr_assert(!util_is_uuid(NULL));
	cr_assert(!util_is_uuid(""));
	cr_assert(!util_is_uuid("0e5d3a525b2c4f6e9d3c2a1b0c9d8e7f"));
	cr_assert(!util_is_uuid("0e5d3a52-5b2c-4f6e-9d3c-2a1b0c9d8e7"));
	cr_assert(!util_is_uuid("0e5d3a52-5b2c-4f6e-9d3c-2a1b0c9d8e7f0"));
	cr_assert(!util_is_uuid("0e5d3a52-5b2c-4f6e-9d3c_2a1b0c9d8e7f"));
	cr_assert(!util_is_uuid("ge5d3a52-5b2c-4f6e-9d3c-2a1b0c9d8e7f"));
}

Test(util, backoff_stays_within_bounds)
{
	for (int attempt = 0; attempt < 40; attempt++) {
		long hi = 100L << (attempt < 20 ? attempt : 20);

		if (hi > 5000)
			hi = 5000;
		for (int i = 0; i < 200; i++) {
			int ms = util_backoff_ms(attempt, 100, 5000);

			cr_assert(ms >= 50 && ms <= hi, "attempt %d gave %d (hi %ld)", attempt, ms, hi);
		}
	}
}

Test(util, backoff_spreads_and_handles_odd_arguments)
{
	int lo = 1 << 30, hi = 0;

	for (int i = 0; i < 500; i++) {
		int ms = util_backoff_ms(3, 100, 10000);

		lo = ms < lo ? ms : lo;
		hi = ms > hi ? ms : hi;
	}
	cr_assert(hi - lo > 200, "no jitter: [%d, %d]", lo, hi);
	cr_assert_eq(util_backoff_ms(5, 0, 1000), 0);
	cr_assert_eq(util_backoff_ms(5, 100, 0), 0);
	cr_assert(util_backoff_ms(-3, 100, 1000) <= 100);
	cr_assert_eq(util_backoff_ms(3, 100, 40), 40);
}

/* Parameters are copied into a re-executed test process, so text is held inline. */
struct parse_case {
	char text[24];
	long min, max;
	int rc;
	long value;
};

ParameterizedTestParameters(util, parse_long)
{
	static struct parse_case cases[] = {
		{ "0", 0, 10, 0, 0 },
		{ "10", 0, 10, 0, 10 },
		{ "-1", -1, 10, 0, -1 },
		{ "+7", 0, 10, 0, 7 },
		{ "11", 0, 10, -1, 0 },
		{ "-2", -1, 10, -1, 0 },
		{ "", 0, 10, -1, 0 },
		{ " 1", 0, 10, -1, 0 },
		{ "1 ", 0, 10, -1, 0 },
		{ "1x", 0, 10, -1, 0 },
		{ "0x10", 0, 100, -1, 0 },
		{ "9223372036854775807", 0, 9223372036854775807L, 0, 9223372036854775807L },
		{ "9223372036854775808", 0, 9223372036854775807L, -1, 0 },
		{ "-", -10, 10, -1, 0 },
	};
	return cr_make_param_array(struct parse_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct parse_case *c, util, parse_long)
{
	long v = -12345;
	int rc = util_parse_long(c->text, c->min, c->max, &v);

	cr_assert_eq(rc, c->rc, "'%s' in [%ld, %ld]", c->text, c->min, c->max);
	if (rc == 0)
		cr_assert_eq(v, c->value, "'%s'", c->text);
	else
		cr_assert_eq(v, -12345, "'%s' changed the output on failure", c->text);
}

Test(util, parse_long_rejects_null)
{
	long v;

	cr_assert_eq(util_parse_long(NULL, 0, 1, &v), -1);
}

/* max_over_subscription_ratio's parse: a whole finite number in range, nothing else. */
Test(util, parse_double)
{
	double v = -1;

	cr_assert_eq(util_parse_double("20.0", 1, 1e6, &v), 0);
	cr_assert_float_eq(v, 20.0, 1e-9);
	cr_assert_eq(util_parse_double("1", 1, 1e6, &v), 0);
	cr_assert_float_eq(v, 1.0, 1e-9);
	v = -1;
	cr_assert_eq(util_parse_double("0.5", 1, 1e6, &v), -1);
	cr_assert_eq(util_parse_double("auto", 1, 1e6, &v), -1);
	cr_assert_eq(util_parse_double("nan", 1, 1e6, &v), -1);
	cr_assert_eq(util_parse_double("inf", 1, 1e6, &v), -1);
	cr_assert_eq(util_parse_double(" 2", 1, 1e6, &v), -1);
	cr_assert_eq(util_parse_double("2 ", 1, 1e6, &v), -1);
	cr_assert_eq(util_parse_double("", 1, 1e6, &v), -1);
	cr_assert_eq(util_parse_double(NULL, 1, 1e6, &v), -1);
	cr_assert_float_eq(v, -1.0, 1e-9, "a refused text changed the output");
}

Test(util, strlcpy_truncates_and_terminates)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(util_strlcpy(buf, "abc", sizeof(buf)), 3);
	cr_assert_str_eq(buf, "abc");
	cr_assert_eq(util_strlcpy(buf, "0123456789", sizeof(buf)), 10);
	cr_assert_str_eq(buf, "0123456");
	cr_assert_eq(util_strlcpy(buf, "", sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	buf[0] = 'q';
	cr_assert_eq(util_strlcpy(buf, "abc", 0), 3);
	cr_assert_eq(buf[0], 'q');
}

Test(util, now_iso_looks_like_python_isoformat)
{
	char iso[32];

	util_now_iso(iso);
	cr_assert_eq(strlen(iso), 26, "%s", iso);
	cr_assert_eq(iso[4], '-');
	cr_assert_eq(iso[10], 'T');
	cr_assert_eq(iso[19], '.');
	cr_assert_eq(strspn(iso + 20, "0123456789"), 6, "%s", iso);
}

Test(util, sleep_wakes_early_on_stop)
{
	volatile sig_atomic_t stop = 1;
	int64_t t0 = util_now_ms();

	util_sleep_ms(5000, &stop);
	cr_assert(util_now_ms() - t0 < 500);
	stop = 0;
	t0 = util_now_ms();
	util_sleep_ms(120, &stop);
	cr_assert(util_now_ms() - t0 >= 120);
}

/* RFC 4648 section 10 test vectors, both ways. */
Test(util, base64_rfc4648_vectors)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					     "Zm9vYmFy" };

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char enc[UTIL_BASE64_LEN(8)], dec[8];
		size_t n;

		util_base64_encode(plain[i], strlen(plain[i]), enc);
		cr_assert_str_eq(enc, coded[i]);
		cr_assert_eq(util_base64_decode(coded[i], dec, &n), 0);
		cr_assert_eq(n, strlen(plain[i]));
		cr_assert(memcmp(dec, plain[i], n) == 0);
	}
}

Test(util, base64_round_trips_every_byte)
{
	unsigned char in[256], out[256];
	char enc[UTIL_BASE64_LEN(256)];
	size_t n;

	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)(255 - i);
	util_base64_encode(in, sizeof(in), enc);
	cr_assert_eq(util_base64_decode(enc, out, &n), 0);
	cr_assert_eq(n, sizeof(in));
	cr_assert(memcmp(in, out, n) == 0);
}

Test(util, base64_rejects_bad_text)
{
	static const char *const bad[] = { "Zg=", "Zg=a", "Z===", "Zm9v!A==", "=Zm9", "Zg==Zg==",
					   "Zm 9" };
	unsigned char out[16];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(util_base64_decode(bad[i], out, &n), -1, "%s", bad[i]);
}

struct mask_case {
	char text[96];
	char masked[96];
};

ParameterizedTestParameters(util, mask_secrets)
{
	static struct mask_case cases[] = {
		/* URL user information: the password goes, the user and the host stay. */
		{ "GET http://nova:s3cret@10.0.0.1:8774/v2.1/servers: refused",
		  "GET http://nova:***@10.0.0.1:8774/v2.1/servers: refused" },
		{ "amqp://guest:pa@ss@rabbit:5672/%2F", "amqp://guest:***@rabbit:5672/%2F" },
		{ "postgresql://volmgr:pw@db/cinder?sslmode=require",
		  "postgresql://volmgr:***@db/cinder?sslmode=require" },
		/* No password: nothing to mask, and an '@' past the authority is not one. */
		{ "http://nova@host/v2.1", "http://nova@host/v2.1" },
		{ "http://host/servers/a:b@c", "http://host/servers/a:b@c" },
		{ "http://host:8774/v2.1", "http://host:8774/v2.1" },
		/* Keys that name a token or a password, in headers, queries, conninfo and JSON. */
		{ "X-Auth-Token: abc123 sent", "X-Auth-Token: *** sent" },
		{ "/path?auth_token=abc&x=1", "/path?auth_token=***&x=1" },
		{ "host=db password=pw dbname=c", "host=db password=*** dbname=c" },
		{ "{\"_context_auth_token\": \"tok\", \"a\": 1}",
		  "{\"_context_auth_token\": \"***\", \"a\": 1}" },
		{ "PASSWORD='x y'", "PASSWORD='*** y'" },
		/* Words that only look like keys. */
		{ "auth: 3 tokens loaded from /etc/t", "auth: 3 tokens loaded from /etc/t" },
		{ "[api] token_file /etc/t", "[api] token_file /etc/t" },
		{ "token: ", "token: " },
		{ "", "" },
	};
	return cr_make_param_array(struct mask_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct mask_case *c, util, mask_secrets)
{
	char out[128];

	util_mask_secrets(c->text, out, sizeof(out));
	cr_assert_str_eq(out, c->masked, "'%s'", c->text);
}

Test(util, mask_secrets_cuts_at_the_buffer)
{
	char out[12];

	memset(out, 'x', sizeof(out));
	util_mask_secrets("http://u:password@host/path", out, sizeof(out));
	cr_assert_str_eq(out, "http://u:**");
	util_mask_secrets("anything", out, 1);
	cr_assert_str_eq(out, "");
}
