/*
 * utf8.h - UTF-8 checks for text that reaches JSON, PostgreSQL or msgpack from the network
 * (path segments, query arguments, headers). All three reject malformed UTF-8, so the shim
 * checks at the edge instead of failing deep inside.
 */
#ifndef VOLMGR_SHIM_UTF8_H
#define VOLMGR_SHIM_UTF8_H

#include <stdbool.h>

/* True if s is well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF, as jansson and PostgreSQL check). */
bool utf8_valid(const char *s);

/* Replaces every byte that does not start a well-formed sequence with '?'. */
void utf8_fix(char *s);

#endif
