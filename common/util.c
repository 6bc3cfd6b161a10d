/*
 * util.c - ids, clocks, backoff, signals and string helpers.
 */
#include "common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

void util_uuid4(char out[37])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

void util_hex_id(char out[33])
{
	static const char digits[] = "0123456789abcdef";
	uuid_t u;

	uuid_generate_random(u);
	for (size_t i = 0; i < sizeof(u); i++) {
		out[2 * i] = digits[u[i] >> 4];
		out[2 * i + 1] = digits[u[i] & 0x0f];
	}
	out[32] = '\0';
}

bool util_is_uuid(const char *s)
{
	if (s == NULL)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = (i == 8 || i == 13 || i == 18 || i == 23);

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[36] == '\0';
}

int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t util_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static _Thread_local void (*util_progress_fn)(void);

void util_progress_hook(void (*fn)(void))
{
	util_progress_fn = fn;
}

void util_progress(void)
{
	if (util_progress_fn != NULL)
		util_progress_fn();
}

int util_iso_us(const char *text, int64_t *us)
{
	struct tm tm;
	char *rest;
	long frac = 0;
	int digits = 0;

	memset(&tm, 0, sizeof(tm));
	if (text == NULL)
		return -1;
	rest = strptime(text, "%Y-%m-%d", &tm);
	if (rest == NULL || (*rest != 'T' && *rest != ' '))
		return -1;
	rest = strptime(rest + 1, "%H:%M:%S", &tm);
	if (rest == NULL)
		return -1;
	if (*rest == '.') {
		for (rest++; isdigit((unsigned char)*rest) && digits < 6; rest++, digits++)
			frac = frac * 10 + (*rest - '0');
		for (; digits < 6; digits++)
			frac *= 10;
	}
	if (*rest != '\0')
		return -1;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return 0;
}

void util_now_iso(char out[32])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%06u", (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

/*
 * A per-thread xorshift generator seeded from the kernel: backoff jitter only needs to spread
 * retries apart, and a thread-local state keeps it lock-free and reentrant.
 */
static uint64_t util_random(void)
{
	static _Thread_local uint64_t state;

	if (state == 0) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != (ssize_t)sizeof(state))
			state = (uint64_t)util_now_ms() ^ ((uint64_t)getpid() << 32);
		state |= 1;
	}
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

int util_backoff_ms(int attempt, int base_ms, int cap_ms)
{
	long hi, lo;

	if (base_ms <= 0 || cap_ms <= 0)
		return 0;
	hi = base_ms;
	for (int i = 0; i < attempt && hi < cap_ms; i++)
		hi *= 2;
	if (hi > cap_ms)
		hi = cap_ms;
	lo = base_ms / 2;
	if (lo > hi)
		lo = hi;
	return (int)(lo + (long)(util_random() % (uint64_t)(hi - lo + 1)));
}

void util_sleep_ms(int ms, volatile sig_atomic_t *stop)
{
	int64_t deadline = util_now_ms() + (ms > 0 ? ms : 0);

	for (;;) {
		int64_t left = deadline - util_now_ms();
		struct timespec ts;

		if (left <= 0 || (stop != NULL && *stop))
			return;
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static volatile sig_atomic_t *util_signal_counter;

static void util_on_signal(int sig)
{
	(void)sig;
	if (util_signal_counter == NULL)
		return;
	/* A second signal means the operator does not want to wait for the drain. */
	if (++*util_signal_counter >= 2)
		_exit(1);
}

void util_handle_signal(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

void util_install_signals(volatile sig_atomic_t *counter)
{
	util_signal_counter = counter;
	/* No SA_RESTART: a blocking call that can see EINTR returns early and the loop notices the
	 * flag sooner; the loops wake at least once a second anyway. */
	util_handle_signal(SIGINT, util_on_signal, 0);
	util_handle_signal(SIGTERM, util_on_signal, 0);
	util_handle_signal(SIGPIPE, SIG_IGN, 0);
}

void util_block_stop_signals(void)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
}

size_t util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

int util_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	/* strtol would skip leading blanks; a whole-string parse must not. */
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int util_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	/* !(v >= min) also refuses a NaN. */
	if (errno != 0 || *end != '\0' || !(v >= min) || v > max)
		return -1;
	*out = v;
	return 0;
}

static const char util_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void util_base64_encode(const void *data, size_t len, char *out)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*out++ = util_b64[v >> 18];
		*out++ = util_b64[(v >> 12) & 63];
		*out++ = util_b64[(v >> 6) & 63];
		*out++ = util_b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

		*out++ = util_b64[v >> 18];
		*out++ = util_b64[(v >> 12) & 63];
		*out++ = i + 1 < len ? util_b64[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int util_b64_value(char c)
{
	const char *hit = c != '\0' ? strchr(util_b64, c) : NULL;

	return hit != NULL ? (int)(hit - util_b64) : -1;
}

int util_base64_decode(const char *text, void *out, size_t *outlen)
{
	size_t n = strlen(text);
	unsigned char *o = out;

	*outlen = 0;
	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			/* Padding only in the last group, and only at its end. */
			if (text[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = pad == 0 ? util_b64_value(text[i + k]) : -1;
			if (v[k] < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		o[(*outlen)++] = (unsigned char)(w >> 16);
		if (pad < 2)
			o[(*outlen)++] = (unsigned char)(w >> 8);
		if (pad < 1)
			o[(*outlen)++] = (unsigned char)w;
	}
	return 0;
}

int util_raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)want ?
			      (rlim_t)want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return -1;
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)want ? 0 : -1;
}

/* A bounded writer: bytes past the capacity are dropped, and one byte is kept for the NUL. */
struct util_sink {
	char *buf;
	size_t len, cap;
};

static void util_sink_put(struct util_sink *s, const char *p, size_t n)
{
	size_t room = s->cap - 1 - s->len;

	if (n > room)
		n = room;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static const char util_mask[] = "***";

/* The words that end a key whose value is a credential, and the bytes that may start a
 * secret: their first letters, and the ':' of "://". */
static const char *const util_secret_words[] = { "token", "password" };
static const char util_secret_starts[] = ":tTpP";

/*
 * p points just past "://". Returns the length of the URL's password and sets *start to its
 * offset from p, or returns 0 when the authority has no "user:password@". The last '@' of the
 * authority ends the user information, so that a password holding '@' is masked whole.
 */
static size_t util_url_password(const char *p, size_t *start)
{
	size_t end = strcspn(p, "/?# \t\r\n\"'<>"), at = end, colon;

	while (at > 0 && p[at - 1] != '@')
		at--;
	if (at == 0)
		return 0;
	at--;
	colon = strcspn(p, ":");
	if (colon >= at)
		return 0;
	*start = colon + 1;
	return at - *start;
}

/*
 * p points at a secret word that ends a key. Returns the offset of the key's value from p
 * (after the separator, spaces and an opening quote) and sets *len to the value's length, or
 * returns 0 when the word is not followed by a separator.
 */
static size_t util_key_value(const char *p, size_t wordlen, size_t *len)
{
	size_t i = wordlen;

	if (p[i] == '"' || p[i] == '\'')
		i++;
	while (p[i] == ' ')
		i++;
	if (p[i] != '=' && p[i] != ':')
		return 0;
	i++;
	while (p[i] == ' ')
		i++;
	if (p[i] == '"' || p[i] == '\'')
		i++;
	*len = strcspn(p + i, " \t\r\n\"'&,;}");
	return i;
}

void util_mask_secrets(const char *text, char *out, size_t outlen)
{
	struct util_sink s = { out, 0, outlen };
	const char *p = text;

	if (outlen == 0)
		return;
	while (*p != '\0') {
		size_t plain = strcspn(p, util_secret_starts), start = 0, len = 0, skip = 0;

		util_sink_put(&s, p, plain);
		p += plain;
		if (*p == '\0')
			break;
		if (strncmp(p, "://", 3) == 0 && (len = util_url_password(p + 3, &start)) > 0)
			start += 3;
		for (size_t w = 0; len == 0 && w < sizeof(util_secret_words) /
			sizeof(util_secret_words[0]); w++) {
			size_t wl = strlen(util_secret_words[w]);

			if (strncasecmp(p, util_secret_words[w], wl) == 0)
				start = util_key_value(p, wl, &len);
		}
		if (len > 0 && start > 0) {
			util_sink_put(&s, p, start);
			util_sink_put(&s, util_mask, sizeof(util_mask) - 1);
			skip = start + len;
		} else {
			util_sink_put(&s, p, 1);
			skip = 1;
		}
		p += skip;
	}
	s.buf[s.len] = '\0';
}

int util_sockaddr(const char *host, int port, struct sockaddr_storage *out)
{
	struct sockaddr_in *sa4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &sa4->sin_addr) == 1) {
		sa4->sin_family = AF_INET;
		sa4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sa6->sin6_addr) == 1) {
		sa6->sin6_family = AF_INET6;
		sa6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -1;
}

int util_host_port(const char *text, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(text, ':');
	const char *start = text, *end = colon;
	long p;

	if (colon == NULL || util_parse_long(colon + 1, 1, 65535, &p) != 0)
		return -1;
	if (text[0] == '[') {
		/* "[address]:port": the brackets only delimit an IPv6 address. */
		if (colon == text || colon[-1] != ']')
			return -1;
		start = text + 1;
		end = colon - 1;
	}
	if (end <= start || (size_t)(end - start) >= hostlen)
		return -1;
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	*port = (int)p;
	return 0;
}
