/*
 * utf8.c - UTF-8 checks (see utf8.h).
 */
#include "api-shim/utf8.h"

/* The length of the well-formed UTF-8 sequence at p (1-4), or 0 when it is not one. */
static int utf8_seq(const unsigned char *p)
{
	unsigned cp;
	int n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1fu;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int n = utf8_seq(p);

		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

void utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		int n = utf8_seq(p);

		if (n == 0)
			*p++ = '?';
		else
			p += n;
	}
}
