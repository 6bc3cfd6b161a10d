/*
 * utf8.h - UTF-8 checks and cuts for text that reaches JSON, PostgreSQL or msgpack. All three
 * reject malformed UTF-8, so text is checked where it enters (network input, the RPC codec)
 * and never cut inside a character where it is copied into a bounded buffer.
 */
#ifndef VOLMGR_COMMON_UTF8_H
#define VOLMGR_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF, as jansson and PostgreSQL check) without NUL bytes. */
bool utf8_valid_n(const char *s, size_t n);

/* utf8_valid_n over the whole NUL-terminated s. */
bool utf8_valid(const char *s);

/* Replaces every byte that does not start a well-formed sequence with '?'. */
void utf8_fix(char *s);

/*
 * Copies src into dst[size] as util_strlcpy does, except that a cut never falls inside a
 * multi-byte character: the copy ends before the character that does not fit whole, so valid
 * UTF-8 stays valid. Returns strlen(src) (the copy was cut if it is >= size).
 */
size_t utf8_strlcpy(char *dst, const char *src, size_t size);

#endif
