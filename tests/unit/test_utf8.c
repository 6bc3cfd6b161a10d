/*
 * test_utf8.c - UTF-8 validation and the character-boundary copy (common/utf8.h).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "common/utf8.h"

Test(utf8, valid_accepts_every_sequence_length)
{
	cr_expect(utf8_valid(""));
	cr_expect(utf8_valid("plain ascii"));
	cr_expect(utf8_valid("\xc3\xa9"));             /* é */
	cr_expect(utf8_valid("\xe2\x82\xac"));         /* € */
	cr_expect(utf8_valid("\xf0\x9f\x98\x80"));     /* U+1F600 */
	cr_expect(utf8_valid("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
}

Test(utf8, valid_rejects_malformed_input)
{
	cr_expect(not(utf8_valid("\xc3")));              /* cut sequence */
	cr_expect(not(utf8_valid("a\xa9")));             /* lone continuation byte */
	cr_expect(not(utf8_valid("\xc0\xaf")));          /* overlong '/' */
	cr_expect(not(utf8_valid("\xe0\x80\xaf")));      /* overlong, 3 bytes */
	cr_expect(not(utf8_valid("\xed\xa0\x80")));      /* surrogate U+D800 */
	cr_expect(not(utf8_valid("\xf4\x90\x80\x80")));  /* above U+10FFFF */
	cr_expect(not(utf8_valid("\xff")));
	cr_expect(not(utf8_valid_n("a\0b", 3)));         /* embedded NUL */
	cr_expect(not(utf8_valid_n("\xe2\x82\xac", 2))); /* the length ends inside it */
}

Test(utf8, fix_replaces_only_bad_bytes)
{
	char s[] = "a\xc3\xa9\xff" "b\xc3";

	utf8_fix(s);
	cr_expect(eq(str, s, "a\xc3\xa9?b?"));
}

Test(utf8, strlcpy_never_cuts_inside_a_character)
{
	char src[401], dst[256];

	/* 200 x "é" is 400 bytes: a 256-byte buffer takes 127 whole characters (254 bytes). */
	for (int i = 0; i < 200; i++)
		memcpy(src + 2 * i, "\xc3\xa9", 2);
	src[400] = '\0';
	cr_expect(eq(sz, utf8_strlcpy(dst, src, sizeof(dst)), 400));
	cr_expect(eq(sz, strlen(dst), 254));
	cr_expect(utf8_valid(dst));

	/* A 4-byte character that does not fit whole is left out. */
	cr_expect(eq(sz, utf8_strlcpy(dst, "ab\xf0\x9f\x98\x80", 5), 6));
	cr_expect(eq(str, dst, "ab"));
	cr_expect(eq(sz, utf8_strlcpy(dst, "ab\xf0\x9f\x98\x80", 7), 6));
	cr_expect(eq(str, dst, "ab\xf0\x9f\x98\x80"));

	/* ASCII behaves as util_strlcpy. */
	cr_expect(eq(sz, utf8_strlcpy(dst, "abcdef", 4), 6));
	cr_expect(eq(str, dst, "abc"));
	cr_expect(eq(sz, utf8_strlcpy(dst, "x", 0), 1));
}
