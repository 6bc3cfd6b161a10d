/*
 * dbarray.c - PostgreSQL array literals.
 */
#include "common/dbarray.h"

#include <stdio.h>

void db_array_init(struct db_array *a, char *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->n = 0;
	a->failed = cap < 3;
	a->len = 0;
	if (!a->failed)
		buf[a->len++] = '{';
}

/* Appends one byte, keeping room for the closing brace and the NUL. */
static void db_array_put(struct db_array *a, char c)
{
	if (a->len + 2 >= a->cap)
		a->failed = true;
	else
		a->buf[a->len++] = c;
}

void db_array_add(struct db_array *a, const char *value)
{
	if (a->failed)
		return;
	if (a->n++ > 0)
		db_array_put(a, ',');
	if (value == NULL) {
		for (const char *c = "NULL"; *c != '\0'; c++)
			db_array_put(a, *c);
		return;
	}
	db_array_put(a, '"');
	for (const char *c = value; *c != '\0' && !a->failed; c++) {
		if (*c == '"' || *c == '\\')
			db_array_put(a, '\\');
		db_array_put(a, *c);
	}
	db_array_put(a, '"');
}

void db_array_add_long(struct db_array *a, long value)
{
	char text[24];

	snprintf(text, sizeof(text), "%ld", value);
	db_array_add(a, text);
}

const char *db_array_text(struct db_array *a)
{
	if (a->failed)
		return NULL;
	a->buf[a->len] = '}';
	a->buf[a->len + 1] = '\0';
	return a->buf;
}
