/*
 * retention.c - forgets processed message ids older than [manager] processed_message_retention,
 * so that volmgr_processed_messages does not grow without bound.
 *
 * Forgetting an id means a copy of that message arriving later runs again; the retention must
 * therefore be longer than any message can wait in a queue, a dead-letter queue or a capture
 * file an operator may replay. Handlers check the volume's status before acting, so even then a
 * stale message is a recorded no-op in all but the rarest interleavings.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "manager/mconf.h"
#include "manager/periodic.h"

/* Rows deleted per statement, and statements per sweep: one sweep stays a few short
 * statements long, so the loop goes back to the broker (and its heartbeats) quickly; a
 * backlog is worked off over the following periods. */
#define RETENTION_BATCH 1000
#define RETENTION_BATCHES_PER_SWEEP 10

/* Deletes one batch of expired ids; *n gets the number deleted. */
static int retention_batch(db_conn *db, int *n)
{
	char age[16], limit[16];
	const char *params[] = { age, limit };
	PGresult *res = NULL;

	snprintf(age, sizeof(age), "%d", mconf.processed_message_retention);
	snprintf(limit, sizeof(limit), "%d", RETENTION_BATCH);
	/* The index on processed_at finds the oldest rows; the primary key deletes them. */
	int rc = db_exec(db, "DELETE FROM volmgr_processed_messages WHERE unique_id IN "
			 "(SELECT unique_id FROM volmgr_processed_messages WHERE processed_at < "
			 "(now() AT TIME ZONE 'utc') - make_interval(secs => $1::integer) "
			 "ORDER BY processed_at LIMIT $2::integer)", 2, params, &res);
	*n = rc == DB_OK ? atoi(PQcmdTuples(res)) : 0;
	PQclear(res);
	return rc;
}

void retention_sweep(db_conn *db)
{
	int total = 0, n = RETENTION_BATCH;

	for (int i = 0; i < RETENTION_BATCHES_PER_SWEEP && n == RETENTION_BATCH; i++) {
		int rc = retention_batch(db, &n);
		if (rc != DB_OK) {
			log_warning("processed message retention: %s: %s", db_strerror(rc),
				    db_last_error(db));
			break;
		}
		total += n;
	}
	if (total > 0)
		log_info("forgot %d processed message ids older than %d s", total,
			 mconf.processed_message_retention);
}
