/*
 * notification.c - the [oslo_messaging_notifications] keys and the outbox insert (see
 * notification.h).
 */
#include "core/notification.h"

#include <stdio.h>
#include <string.h>


struct notification_cfg notification_cfg;

/* Alphabetical, as deploy/volmgr.conf.sample documents them, the defaults written out as the
 * sample's test reads them. volmgr's default driver is messagingv2, where oslo's is none:
 * whoever runs volmgr beside Cinder expects Cinder's events on the bus. */
const struct cfg_key notification_keys[] = {
	{ "oslo_messaging_notifications", "driver", CFG_STR, &notification_cfg.driver,
	  "messagingv2", 0, 0, NULL },
	{ "oslo_messaging_notifications", "topics", CFG_STR, &notification_cfg.topics,
	  "notifications", 0, 0, NULL },
	{ NULL, NULL, CFG_STR, NULL, NULL, 0, 0, NULL },
};

bool notification_enabled(void)
{
	return notification_cfg.driver == NULL ||
	       strcmp(notification_cfg.driver, NOTIFICATION_DRIVER_NOOP) != 0;
}

int notification_topics(char out[NOTIFICATION_TOPICS_MAX][NOTIFICATION_TOPIC_MAX])
{
	const char *p = notification_cfg.topics != NULL ? notification_cfg.topics : "";
	int n = 0;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *s = p;

		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= NOTIFICATION_TOPIC_MAX || n == NOTIFICATION_TOPICS_MAX)
			return 0;
		memcpy(out[n], s, len);
		out[n++][len] = '\0';
		if (end == NULL)
			break;
		p = end + 1;
	}
	return n;
}

int notification_check(char *err, size_t errlen)
{
	char topics[NOTIFICATION_TOPICS_MAX][NOTIFICATION_TOPIC_MAX];
	const char *d = notification_cfg.driver != NULL ? notification_cfg.driver : "";

	if (strcmp(d, NOTIFICATION_DRIVER_V2) != 0 && strcmp(d, NOTIFICATION_DRIVER_NOOP) != 0) {
		snprintf(err, errlen, "[oslo_messaging_notifications] driver: '%s' is neither "
			 NOTIFICATION_DRIVER_V2 " nor " NOTIFICATION_DRIVER_NOOP, d);
		return -1;
	}
	if (notification_topics(topics) == 0) {
		snprintf(err, errlen, "[oslo_messaging_notifications] topics: '%s' is not 1 to %d "
			 "comma-separated names of at most %d bytes", notification_cfg.topics,
			 NOTIFICATION_TOPICS_MAX, NOTIFICATION_TOPIC_MAX - 1);
		return -1;
	}
	return 0;
}

int notification_queue(db_conn *db, const char *event_type, const char *publisher,
		       enum notification_subject subject, const char *id, const char *status,
		       int size, const char *request_id)
{
	char sz[16];

	if (!notification_enabled())
		return DB_OK;
	snprintf(sz, sizeof(sz), "%d", size);
	/* The payload comes from the row itself (sql/005, sql/012): the group commit builds
	 * its volume payloads with the same query, for a whole batch at once. */
	if (subject == NOTIFICATION_SNAPSHOT)
		return db_exec(db,
			       "INSERT INTO volmgr_notifications (event_type, publisher_id, "
			       "priority, payload, request_id, created_at) "
			       "SELECT $1, $2, 'INFO', volmgr_snapshot_usage_payload($3, $4), $5, "
			       "now() AT TIME ZONE 'utc'",
			       5, (const char *[]){ event_type, publisher, id, status, request_id },
			       NULL);
	return db_exec(db,
		       "INSERT INTO volmgr_notifications (event_type, publisher_id, priority, "
		       "payload, request_id, created_at) "
		       "SELECT $1, $2, 'INFO', volmgr_usage_payload($3, $4, $5::integer), $6, "
		       "now() AT TIME ZONE 'utc'",
		       6, (const char *[]){ event_type, publisher, id, status, sz, request_id },
		       NULL);
}
