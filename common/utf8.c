/*
 * utf8.c - UTF-8 checks and cuts (see utf8.h).
 */
#include "common/utf8.h"

#include <string.h>

/* The length of the well-formed UTF-8 sequence at s[0..n) (1-4), or 0 when it is not one or
 * is a NUL. The second byte's range excludes overlong forms, surrogates and code points past
 * U+10FFFF (RFC 3629 section 4). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0], lo = 0x80, hi = 0xbf;
	size_t k;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 2;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 3;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (k >= n)
		return 0;
	for (size_t j = 1; j <= k; j++, lo = 0x80, hi = 0xbf)
		if (s[j] < lo || s[j] > hi)
			return 0;
	return k + 1;
}

bool utf8_valid_n(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

bool utf8_valid(const char *s)
{
	return utf8_valid_n(s, strlen(s));
}

void utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		size_t k = utf8_seq(p, n);

		if (k == 0) {
			*p = '?';
			k = 1;
		}
		p += k;
		n -= k;
	}
}

size_t utf8_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src), n;

	if (size == 0)
		return len;
	n = len < size - 1 ? len : size - 1;
	/* Back off over continuation bytes to the start of the character that was cut. */
	if (n < len)
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return len;
}
