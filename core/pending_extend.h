/*
 * pending_extend.h - the state of an extend that waits for compute's feedback, which the shim
 * (os-reset_status) and the manager (completion, deadline sweep) both read and clear: the
 * admin-metadata keys extend_new_size and extend_reservations, and volmgr's
 * volmgr_pending_extends row.
 */
#ifndef VOLMGR_CORE_PENDING_EXTEND_H
#define VOLMGR_CORE_PENDING_EXTEND_H

#include "common/db.h"

/* What pending_extend_parse_reservations found wrong, if anything. */
enum pending_extend_parse {
	PENDING_EXTEND_OK = 0,
	PENDING_EXTEND_NOT_JSON = -1,     /* not JSON at all */
	PENDING_EXTEND_NOT_LIST = -2,     /* JSON, but not a list */
	PENDING_EXTEND_BAD_ELEMENT = -3,  /* an element is not a string of at most 36 characters,
					   * or there are more than max */
};

/*
 * Parses an extend_reservations value (a JSON list of reservation uuids, as json.dumps
 * writes it) into out[0..max): every element that is a string of at most 36 characters is
 * copied, in order, up to max, and *n gets how many. Returns PENDING_EXTEND_OK or the first
 * problem; after PENDING_EXTEND_BAD_ELEMENT the good elements are still in out (a caller that
 * only wants to give quota back can use them), after the others *n is 0.
 */
int pending_extend_parse_reservations(const char *text, char out[][37], int max, int *n);

/*
 * Writes uuids[0..n) as a JSON list (json.dumps style, as extend_reservations holds it) into
 * out. Returns 0, or -1 when it does not fit or memory ran out.
 */
int pending_extend_format_reservations(const char *const *uuids, int n, char *out,
				       size_t outlen);

/*
 * Records (or replaces) volume_id's pending extend: new_size, the reservations as a JSON list,
 * the instance asked to grow it (NULL while nobody was asked yet), started now, due in
 * timeout_s seconds. The API records it when it reserves the quota, so that os-reset_status
 * can give that quota back even before the manager has seen the extend; the manager renews
 * it when it asks compute. Runs in the caller's transaction.
 */
__attribute__((warn_unused_result))
int pending_extend_record(db_conn *db, const char *volume_id, const char *project_id,
			  int new_size, const char *reservations, const char *instance_uuid,
			  int timeout_s);

/*
 * Soft-deletes both admin-metadata keys of volume_id's pending extend, as the API's
 * completion does (the row stays until the manager completes the extend). Runs in the
 * caller's transaction. Returns DB_OK (also when they were absent) or a negative db status.
 */
__attribute__((warn_unused_result))
int pending_extend_clear_keys(db_conn *db, const char *volume_id);

/*
 * Clears the pending extend of volume_id: deletes its volmgr_pending_extends row and
 * soft-deletes both admin-metadata keys. Runs in the caller's transaction. Returns DB_OK
 * (also when nothing was pending) or a negative db status.
 */
__attribute__((warn_unused_result))
int pending_extend_clear(db_conn *db, const char *volume_id);

#endif
