/*
 * test_db_classify.c - the SQLSTATE table that decides retry, reconnect, duplicate or reject.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "common/db.h"

/* Parameters are copied into a re-executed test process (with another address layout under
 * PIE), so they hold text inline rather than pointers. */
struct classify_case {
	char sqlstate[8];       /* "-": NULL, a client-side error */
	bool connection_bad;
	int expect;
};

ParameterizedTestParameters(db, classify)
{
	static struct classify_case cases[] = {
		/* The session is gone, whatever the server said last. */
		{ "-", true, DB_RECONNECT },
		{ "23505", true, DB_RECONNECT },
		{ "08000", false, DB_RECONNECT },   /* connection_exception */
		{ "08003", false, DB_RECONNECT },   /* connection_does_not_exist */
		{ "08006", false, DB_RECONNECT },   /* connection_failure */
		{ "08P01", false, DB_RECONNECT },   /* protocol_violation */
		{ "57P01", false, DB_RECONNECT },   /* admin_shutdown */
		{ "57P02", false, DB_RECONNECT },   /* crash_shutdown */
		{ "57P03", false, DB_RECONNECT },   /* cannot_connect_now */
		{ "25006", false, DB_RECONNECT },   /* read_only_sql_transaction: a standby */
		{ "40001", false, DB_RETRY },       /* serialization_failure */
		{ "40P01", false, DB_RETRY },       /* deadlock_detected */
		{ "23505", false, DB_DUPLICATE },   /* unique_violation */
		{ "23503", false, DB_REJECT },      /* foreign_key_violation */
		{ "23502", false, DB_REJECT },      /* not_null_violation */
		{ "23514", false, DB_REJECT },      /* check_violation */
		{ "22021", false, DB_REJECT },      /* bad UTF-8 */
		{ "22P02", false, DB_REJECT },      /* invalid_text_representation */
		{ "42601", false, DB_REJECT },      /* syntax_error */
		{ "42P01", false, DB_REJECT },      /* undefined_table */
		{ "40002", false, DB_REJECT },      /* integrity constraint at commit: not a retry */
		{ "57014", false, DB_RETRY },       /* query_canceled (statement/lock timeout) */
		{ "55P03", false, DB_RETRY },       /* lock_not_available */
		{ "53000", false, DB_RETRY },       /* insufficient_resources */
		{ "53100", false, DB_RETRY },       /* disk_full */
		{ "53200", false, DB_RETRY },       /* out_of_memory */
		{ "53300", false, DB_RETRY },       /* too_many_connections */
		{ "58000", false, DB_RECONNECT },   /* system_error */
		{ "58030", false, DB_RECONNECT },   /* io_error */
		{ "55000", false, DB_REJECT },      /* object_not_in_prerequisite_state */
		{ "57000", false, DB_REJECT },      /* operator_intervention (class 57 otherwise) */
		{ "25P02", false, DB_REJECT },      /* in_failed_sql_transaction */
		{ "XX000", false, DB_REJECT },      /* internal_error */
		/* No SQLSTATE on a live connection: a client-side error retrying cannot fix. */
		{ "-", false, DB_REJECT },
		{ "", false, DB_REJECT },
		{ "0800", false, DB_REJECT },
	};
	return cr_make_param_array(struct classify_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct classify_case *c, db, classify)
{
	const char *st = strcmp(c->sqlstate, "-") == 0 ? NULL : c->sqlstate;

	cr_assert_eq(db_classify(st, c->connection_bad), c->expect, "%s bad=%d",
		     c->sqlstate, c->connection_bad);
}

Test(db, strerror_names_every_status)
{
	const int all[] = { DB_OK, DB_DUPLICATE, DB_RETRY, DB_RECONNECT, DB_REJECT };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		cr_assert(db_strerror(all[i])[0] != '\0');
	cr_assert_str_eq(db_strerror(-99), "unknown database status");
	cr_assert_str_eq(db_strerror(3), "application outcome");
}
