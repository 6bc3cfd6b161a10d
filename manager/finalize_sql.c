/*
 * finalize_sql.c - manager/finalize.sql embedded (.incbin) and split into its statements; the
 * admission and the parameters of a finalization (see finalize_sql.h).
 */
#include "manager/finalize_sql.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/quota.h"
#include "manager/handlers.h"
#include "proto/names.h"

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
	[FIN_NOTIFY_START] = "notify_start",
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

	if (text != NULL)
		return 0;
	if ((text = strdup(fin_sql_file)) == NULL)
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

enum fin_verdict fin_admit(const struct vol_row *v, int new_size, bool verify_store, char *err,
			   size_t errlen)
{
	if (strcmp(v->status, VOL_S_EXTENDING) != 0)
		return FIN_WRONG_STATUS;
	if (new_size <= v->size)
		return FIN_BAD_SIZE;
	if (verify_store && job_driver->verify_size(v, new_size, err, errlen) != DRV_OK)
		return FIN_SIZE_MISMATCH;
	return FIN_ADMIT;
}

int fin_set_init(struct fin_set *s, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->bufs = malloc(FIN_P_COUNT * cap);
	if (s->bufs == NULL)
		return -1;
	s->cap = cap;
	rec_publisher(s->publisher);
	fin_set_clear(s);
	return 0;
}

void fin_set_free(struct fin_set *s)
{
	free(s->bufs);
	s->bufs = NULL;
}

void fin_set_clear(struct fin_set *s)
{
	for (int p = 0; p < FIN_P_COUNT; p++)
		db_array_init(&s->p[p], s->bufs + (size_t)p * s->cap, s->cap);
}

int fin_set_count(const struct fin_set *s)
{
	return s->p[FIN_P_VOLUMES].n;
}

void fin_set_add(struct fin_set *s, const struct vol_row *v, int new_size,
		 const char *const *reservations, int nreservations, const char *request_id)
{
	char host[VOL_TEXT], pool[VOL_TEXT];

	db_array_add(&s->p[FIN_P_VOLUMES], v->id);
	db_array_add_long(&s->p[FIN_P_SIZES], new_size);
	db_array_add(&s->p[FIN_P_STATUSES], v->nattachments > 0 ? VOL_S_IN_USE : VOL_S_AVAILABLE);
	db_array_add(&s->p[FIN_P_REQUESTS], request_id);
	for (int i = 0; i < nreservations; i++) {
		db_array_add(&s->p[FIN_P_RESERVATIONS], reservations[i]);
		db_array_add(&s->p[FIN_P_RES_PROJECTS], v->project_id);
	}
	rec_pool_of(v, host, pool);
	db_array_add(&s->p[FIN_P_POOL_HOSTS], host);
	db_array_add(&s->p[FIN_P_POOLS], pool);
	db_array_add_long(&s->p[FIN_P_DELTAS], (long)new_size - v->size);
}

int fin_set_run(db_conn *db, struct fin_set *s)
{
	const char *values[FIN_P_COUNT];

	if (fin_set_count(s) == 0)
		return DB_OK;
	for (int p = 0; p < FIN_P_COUNT; p++) {
		values[p] = db_array_text(&s->p[p]);
		if (values[p] == NULL) {
			log_warning("%d finalizations do not fit the parameters of one set",
				    fin_set_count(s));
			return DB_REJECT;
		}
	}
	/* The finalize statement takes the parameters before the reservations, then the
	 * publisher. */
	const char *fin[FIN_P_RESERVATIONS + 1];
	memcpy(fin, values, sizeof(fin) - sizeof(fin[0]));
	fin[FIN_P_RESERVATIONS] = s->publisher;
	int rc = quota_commit_set(db, values[FIN_P_RESERVATIONS], values[FIN_P_RES_PROJECTS]);
	if (rc == DB_OK)
		rc = db_exec(db, fin_sql(FIN_FINALIZE), FIN_P_RESERVATIONS + 1, fin, NULL);
	return rc;
}

/* Room for any one parameter of a single finalization: a volume's pool host (escaped, at
 * most twice its length, quoted), or PROTO_MAX_RESERVATIONS copies of its project id (the
 * same), the larger of the two covered by their sum. */
#define FIN_ONE_BYTES (2 * VOL_TEXT + PROTO_MAX_RESERVATIONS * (2 * VOL_STR + 3) + 8)

int fin_one(db_conn *db, const struct vol_row *v, int new_size, const char *const *reservations,
	    int nreservations, const char *request_id)
{
	struct fin_set s;

	if (fin_sql_load() != 0)
		return DB_REJECT;
	if (fin_set_init(&s, FIN_ONE_BYTES) != 0)
		return DB_RETRY;
	fin_set_add(&s, v, new_size, reservations, nreservations, request_id);
	int rc = fin_set_run(db, &s);
	fin_set_free(&s);
	return rc;
}
