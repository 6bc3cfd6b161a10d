/*
 * finalize_sql.c - manager/finalize.sql embedded (.incbin) and split into its statements.
 */
#include "manager/finalize_sql.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* The file's bytes and a NUL; the Makefile makes this object depend on the file. */
__asm__(".section .rodata\n"
	".global fin_sql_file\n"
	"fin_sql_file:\n"
	".incbin \"manager/finalize.sql\"\n"
	".byte 0\n"
	".previous\n");
extern const char fin_sql_file[];

#define FIN_MARKER "\n-- statement: "

static const char *const fin_names[FIN_COUNT] = {
	[FIN_CLAIM] = "claim",
	[FIN_LOCK_VOLUMES] = "lock_volumes",
	[FIN_UNCLAIM] = "unclaim",
	[FIN_LOCK_USAGES] = "lock_usages",
	[FIN_FINALIZE] = "finalize",
};

static const char *fin_texts[FIN_COUNT];

/* The statement named name in the text, which is split (NUL-terminated) in place. */
static int fin_find(char *text, const char *name, const char **out)
{
	size_t nlen = strlen(name);

	for (char *m = strstr(text, FIN_MARKER); m != NULL; m = strstr(m + 1, FIN_MARKER)) {
		char *n = m + strlen(FIN_MARKER);
		if (strncmp(n, name, nlen) != 0 || n[nlen] != '\n')
			continue;
		*out = n + nlen + 1;
		return 0;
	}
	return -1;
}

int fin_sql_load(void)
{
	/* Kept for the life of the process: the statements point into it. */
	static char *text;

	if (text == NULL && (text = strdup(fin_sql_file)) == NULL)
		return -1;
	for (int i = 0; i < FIN_COUNT; i++)
		if (fin_find(text, fin_names[i], &fin_texts[i]) != 0) {
			log_error("manager/finalize.sql has no statement '%s'", fin_names[i]);
			return -1;
		}
	/* Each statement ends where the next marker starts. */
	for (char *m = strstr(text, FIN_MARKER); m != NULL; m = strstr(m + 1, FIN_MARKER))
		m[0] = '\0';
	return 0;
}

const char *fin_sql(enum fin_stmt s)
{
	return fin_texts[s];
}
