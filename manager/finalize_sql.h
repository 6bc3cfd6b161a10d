/*
 * finalize_sql.h - the statements of manager/finalize.sql, the group commit's SQL.
 *
 * The file is embedded into the binary at build time and split once at start-up at its
 * "-- statement: NAME" lines; make bench renders the same file for pgbench, so the manager
 * and its database ceiling cannot drift apart.
 */
#ifndef VOLMGR_MANAGER_FINALIZE_SQL_H
#define VOLMGR_MANAGER_FINALIZE_SQL_H

enum fin_stmt {
	FIN_CLAIM,
	FIN_LOCK_VOLUMES,
	FIN_UNCLAIM,
	FIN_LOCK_USAGES,
	FIN_FINALIZE,
	FIN_COUNT,
};

/* Splits the embedded file. Returns 0, or -1 (logged) when a statement is missing; call once
 * before fin_sql. */
__attribute__((warn_unused_result)) int fin_sql_load(void);

/* The text of statement s (valid for the life of the process). */
const char *fin_sql(enum fin_stmt s);

#endif
