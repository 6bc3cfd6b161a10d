/*
 * notification.h - Cinder's usage notifications: the [oslo_messaging_notifications] keys and
 * the one function that queues an event in the outbox volmgr_notifications (sql/002, 012),
 * in the transaction that made the change. The manager's relay (manager/relay.h) publishes
 * the outbox after the commit (docs/cinder.md §21).
 *
 * Both daemons queue events (the API deletes a volume that has no host itself, as Cinder's
 * API does), so the keys and the queueing live here, where both link them.
 */
#ifndef VOLMGR_CORE_NOTIFICATION_H
#define VOLMGR_CORE_NOTIFICATION_H

#include <stdbool.h>
#include <stddef.h>

#include "common/cfg.h"
#include "common/db.h"

/* oslo.messaging's driver names: messagingv2 publishes with the 2.0 envelope, noop nothing. */
#define NOTIFICATION_DRIVER_V2 "messagingv2"
#define NOTIFICATION_DRIVER_NOOP "noop"
/* The LISTEN/NOTIFY channel on which an insert into the outbox wakes the relay (sql/012). */
#define NOTIFICATION_CHANNEL "volmgr_notifications"
/* At most this many topics, each at most NOTIFICATION_TOPIC_MAX bytes with its NUL. */
#define NOTIFICATION_TOPICS_MAX 8
#define NOTIFICATION_TOPIC_MAX 128

struct notification_cfg {
	char *driver;   /* [oslo_messaging_notifications] driver */
	char *topics;   /* comma-separated, as oslo's ListOpt */
};

/* Strings are owned by cfg (cfg_free). */
extern struct notification_cfg notification_cfg;
/* Terminated by an entry whose name is NULL. */
extern const struct cfg_key notification_keys[];

/*
 * Checks what the table cannot, after cfg_load: driver is one of the two names above, topics
 * has 1..NOTIFICATION_TOPICS_MAX non-empty names that fit. Returns 0, or -1 with a readable
 * message in err.
 */
__attribute__((warn_unused_result))
int notification_check(char *err, size_t errlen);

/* True unless the driver is noop. */
bool notification_enabled(void);

/* Splits [oslo_messaging_notifications] topics into out (whitespace trimmed); returns how
 * many (0 when the value does not pass notification_check). */
int notification_topics(char out[NOTIFICATION_TOPICS_MAX][NOTIFICATION_TOPIC_MAX]);

/* What an event is about: Cinder's _usage_from_volume or _usage_from_snapshot payload. */
enum notification_subject { NOTIFICATION_VOLUME, NOTIFICATION_SNAPSHOT };

/*
 * Queues the event event_type ("volume.create.end", "snapshot.delete.start", ...) about the
 * volume or snapshot id, priority INFO (all of Cinder's usage events are), from publisher
 * ("volume.<host>"), in the caller's transaction. The payload is built by the database from
 * the row (volmgr_usage_payload, volmgr_snapshot_usage_payload), with status the value after
 * the change (NULL: a snapshot's own) and, for a volume, size the value after it. request_id
 * may be NULL. With the noop driver nothing is queued, so the outbox does not grow. The
 * caller holds the row's lock (so that a volume's events are queued in commit order, which
 * the relay relies on). Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int notification_queue(db_conn *db, const char *event_type, const char *publisher,
		       enum notification_subject subject, const char *id, const char *status,
		       int size, const char *request_id);

#endif
