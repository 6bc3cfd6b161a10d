/*
 * dbarray.h - PostgreSQL array literals ({"a","b",NULL}) built in a caller's buffer, for the
 * text[] parameters of set-based statements.
 *
 * Builders have a sticky failure flag: an element that does not fit marks the array failed
 * and every later add is ignored, so the caller checks once (db_array_text) at the end.
 */
#ifndef VOLMGR_COMMON_DBARRAY_H
#define VOLMGR_COMMON_DBARRAY_H

#include <stdbool.h>
#include <stddef.h>

struct db_array {
	char *buf;      /* the caller's buffer, cap bytes */
	size_t cap;
	size_t len;     /* bytes written so far, without the closing brace */
	int n;          /* elements */
	bool failed;
};

/* Starts an empty array in buf (cap bytes, at least 3 for "{}"). */
void db_array_init(struct db_array *a, char *buf, size_t cap);

/* Appends value (NULL: SQL NULL), quoted and escaped. */
void db_array_add(struct db_array *a, const char *value);

/* Appends an integer. */
void db_array_add_long(struct db_array *a, long value);

/* Closes the literal: returns buf, or NULL when something did not fit. The array may be
 * added to again afterwards (the brace is rewritten). */
const char *db_array_text(struct db_array *a);

#endif
