/*
 * dispatch.h - one delivery from decoding to acknowledgement.
 *
 * Outcomes of a delivery:
 *   - poison (too large, not msgpack, bad envelope, unknown method, unsupported version, bad
 *     arguments): dead-lettered with the reason, never retried;
 *   - a duplicate (_unique_id already in volmgr_processed_messages): acked, nothing done
 *     (a broadcast, which comes through a fanout exchange, is never recorded: dispatch.c);
 *   - handled (including "volume gone" or "wrong state", which are recorded and logged):
 *     committed together with its _unique_id, then acked, then the after-commit work;
 *   - permanent failure (the database refuses the data, a handler says so): dead-lettered;
 *   - transient failure (serialization failures, deadlocks, a lost connection): retried a
 *     bounded number of times within a budget well under the AMQP heartbeat, then
 *     dead-lettered -- unless the database is unreachable, in which case the delivery is not
 *     acked and the caller must drop the consumer connection (so that the broker keeps the
 *     message) and wait for the database.
 */
#ifndef VOLMGR_MANAGER_DISPATCH_H
#define VOLMGR_MANAGER_DISPATCH_H

#include <signal.h>
#include <stddef.h>

#include "common/db.h"
#include "common/mq.h"
#include "manager/consumer.h"
#include "proto/wire.h"

enum dispatch_result {
	DISPATCH_DONE = 0,       /* acked or dead-lettered */
	DISPATCH_MQ_LOST = -1,   /* the consumer connection failed: reconnect */
	DISPATCH_DB_DOWN = -2,   /* not acked: the database is unreachable */
	DISPATCH_STOPPED = -3,   /* not acked: shutdown reached the drain deadline first */
};

/*
 * Handles d completely. stop is the daemon's signal counter: once it is set, transient
 * retries end at the [manager] drain_timeout deadline and the delivery is left unacked.
 */
__attribute__((warn_unused_result))
int dispatch_delivery(db_conn *db, struct consumer *c, const struct mq_delivery *d,
		      volatile sig_atomic_t *stop);

/*
 * Decodes and validates d into msg (initialised by the caller; destroyed by the caller on
 * every path) and job (method, args). Returns PROTO_OK, or a proto status with the
 * dead-letter reason in reason. Used by the group commit (batch.c) to sort its deliveries.
 */
struct job;
struct proto_msg;
__attribute__((warn_unused_result))
int dispatch_decode(const struct mq_delivery *d, struct proto_msg *msg, struct job *job,
		    char *reason, size_t rlen);

/*
 * Dead-letters d (consumer_dead_letter) for status (a proto status, or JOB_PERMANENT) with
 * reason. When msg got as far as a call's _msg_id and _reply_q, the caller first gets a
 * failure reply in fmt, so that it sees an error instead of waiting for its timeout:
 * UnsupportedVersion / NoSuchMethod of oslo's dispatcher, or Cinder's InvalidInput /
 * CinderException. Returns the status of the dead letter's ack / reject.
 */
__attribute__((warn_unused_result))
int dispatch_dead_letter(struct consumer *c, const struct mq_delivery *d,
			 const struct proto_msg *msg, enum proto_format fmt, int status,
			 const char *reason);

#endif
