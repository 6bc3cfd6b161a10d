/*
 * status.h - the one registry of the positive status codes of the service.
 *
 * common/db.h leaves positive values to its callers: a db_transaction body returns DB_OK to
 * commit, a negative enum db_status, or a positive code that rolls back and reaches the
 * caller unchanged. Codes travel up through several layers (a quota code through a shim
 * handler, a volume code through a manager job), so every positive code of every layer above
 * common/ is declared here, once, in one enum: two of them can never share a value, and a new
 * one is a new line rather than a range agreed by comment. The values mean nothing outside
 * the running program (no code is stored or sent), so the order is free.
 */
#ifndef VOLMGR_CORE_STATUS_H
#define VOLMGR_CORE_STATUS_H

enum status_code {
	/* core/quota.h */
	QUOTA_OVER = 1,        /* a limit would be exceeded; *over says which */
	QUOTA_OVERFLOW,        /* in_use + reserved + delta would pass INT32_MAX */

	/* core/volume.h */
	VOL_NOT_FOUND,         /* no live row */
	VOL_CONFLICT,          /* a compare-and-swap matched no row */

	/* api-shim/txn.h */
	TXN_FAULT,             /* a fault is set on the request */

	/* manager/handlers.h */
	JOB_PERMANENT,         /* roll back and dead-letter: the message can never succeed
				* (job->reason says why) */
	JOB_SKIP,              /* internal to txn functions: the volume cannot be handled;
				* job->outcome says why */
};

#endif
