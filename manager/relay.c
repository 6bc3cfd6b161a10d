/*
 * relay.c - the notification relay thread (see relay.h and docs/cinder.md §21).
 *
 * Order. The relay publishes the outbox in id order, one row after the other, and only while
 * it holds the advisory lock that makes it the one relay of the database. Id order is commit
 * order for the events of one volume (or one snapshot): every transaction that queues an
 * event about a volume first locks the volume's row (the manager's handlers, the group
 * commit and the API's delete all do, notification.h), so a second transaction about the
 * same volume takes its ids from the sequence only after the first committed, and a relay
 * that sees the second's rows sees the first's too. Events of different volumes may commit
 * out of id order; the relay then publishes whatever is visible, and a row that commits later
 * with a smaller id is published in a later batch, which changes no volume's order.
 */
#include "manager/relay.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/db.h"
#include "common/dbarray.h"
#include "common/log.h"
#include "common/mq.h"
#include "common/util.h"
#include "core/notification.h"
#include "manager/mconf.h"
#include "manager/mmetrics.h"
#include "proto/wire.h"

#define RELAY_STATEMENT_TIMEOUT_MS 5000
/* How long the broker has to confirm one message. */
#define RELAY_PUBLISH_TIMEOUT_MS 5000
/* Rows per batch: one SELECT, then one DELETE of those confirmed. */
#define RELAY_BATCH 64
/* Room for the DELETE's array of RELAY_BATCH ids. */
#define RELAY_IDS_BYTES (RELAY_BATCH * 24 + 8)
#define RELAY_BACKOFF_BASE_MS 500
/* Short enough that the outbox drains soon after the broker or the database is back. */
#define RELAY_BACKOFF_CAP_MS 5000
/* The advisory lock that makes one relay per database publish ("vnot", 0). */
#define RELAY_LOCK "1986948980, 0"
/* Refusals of one row in a row after which the relay says so as an error (the warning of each
 * failed batch says it too), and at most how often it says it again. */
#define RELAY_NACKS_LOGGED 3
#define RELAY_NACK_LOG_MS 60000
/* The routing keys declared on one connection: topics times oslo's five priorities. */
#define RELAY_KEYS_MAX (NOTIFICATION_TOPICS_MAX * 5)

enum relay_cols { RC_ID, RC_MESSAGE_ID, RC_EVENT, RC_PUBLISHER, RC_PRIORITY, RC_PAYLOAD,
		  RC_REQUEST_ID, RC_TIMESTAMP };

struct relay {
	db_conn *db;
	mq_conn *mq;          /* confirms */
	bool listening;       /* LISTEN on this session */
	bool locked;          /* the advisory lock, held by this session */
	char topics[NOTIFICATION_TOPICS_MAX][NOTIFICATION_TOPIC_MAX];
	int ntopics;
	/* Queues declared and bound on this connection, as oslo declares each once per
	 * connection; forgotten with it. */
	char declared[RELAY_KEYS_MAX][NOTIFICATION_TOPIC_MAX + 16];
	int ndeclared;
	/* The row whose publish failed last (its id; "" when the last one went), the topics
	 * the broker already confirmed it on (bit t for topic t), so that its retry publishes
	 * it on the others only, and how many times in a row the broker refused it. */
	char retry_id[24];
	unsigned retry_done;
	int retry_nacks;
	int64_t nack_logged_ms;
	int64_t depth_counted_ms; /* when the outbox was last counted whole */
	volatile sig_atomic_t *stop;
};

static struct relay relay;
static pthread_t relay_thread;
static bool relay_started;

/* ---- the broker ---- */

static void relay_mq_drop(struct relay *r)
{
	mq_close(r->mq);
	r->mq = NULL;
	r->ndeclared = 0;
}

/* Opens the confirming connection and declares the control exchange as oslo's notify_send
 * does: a topic exchange, durable when amqp_durable_queues or rabbit_quorum_queue, never
 * auto-deleted. The connection asks for no heartbeat: it idles between events, and every
 * wait on it is bounded. Returns MQ_OK or a status, with err. */
static int relay_mq_ready(struct relay *r, char *err, size_t errlen)
{
	struct mq_options o = { .url = cfg_common.transport_url, .heartbeat = 0,
				.confirms = true, .connect_timeout_ms = 5000 };
	bool durable = cfg_common.amqp_durable_queues || cfg_common.rabbit_quorum_queue;

	if (r->mq != NULL)
		return MQ_OK;
	r->mq = mq_open(&o, err, errlen);
	if (r->mq == NULL)
		return MQ_CONN_LOST;
	int rc = mq_declare_exchange(r->mq, cfg_common.control_exchange, "topic", durable);
	if (rc != MQ_OK) {
		snprintf(err, errlen, "declaring exchange %s: %s", cfg_common.control_exchange,
			 mq_strerror(rc));
		relay_mq_drop(r);
	}
	return rc;
}

/*
 * Declares the queue named rk and binds it to the control exchange with rk, once per
 * connection, as oslo's _publish_and_creates_default_queue does, so that the events
 * published before any consumer exists wait in it: durable and auto-delete as the exchange,
 * with the arguments of oslo's _get_queue_arguments (quorum, or x-ha-policy).
 */
static int relay_declare(struct relay *r, const char *rk, char *err, size_t errlen)
{
	bool durable = cfg_common.amqp_durable_queues || cfg_common.rabbit_quorum_queue;
	struct mq_queue_options q = { .durable = durable, .quorum = cfg_common.rabbit_quorum_queue,
				      .ha_all = mconf.rabbit_ha_queues };

	for (int i = 0; i < r->ndeclared; i++)
		if (strcmp(r->declared[i], rk) == 0)
			return MQ_OK;
	int rc = mq_declare_queue(r->mq, rk, &q, NULL);
	if (rc == MQ_OK)
		rc = mq_bind(r->mq, rk, cfg_common.control_exchange, rk);
	if (rc != MQ_OK) {
		snprintf(err, errlen, "declaring queue %s: %s", rk, mq_strerror(rc));
		return rc;
	}
	if (r->ndeclared < RELAY_KEYS_MAX)
		util_strlcpy(r->declared[r->ndeclared++], rk, sizeof(r->declared[0]));
	return MQ_OK;
}

/* Publishes body to "<topic>.<priority, lower-case>" of every topic not in *done, each
 * confirmed, and adds each confirmed topic to *done. Returns MQ_OK, or the first failure
 * with err. */
static int relay_publish(struct relay *r, const char *priority, const char *body, size_t len,
			 const char *message_id, unsigned *done, char *err, size_t errlen)
{
	/* kombu publishes persistent messages, in JSON, unless told otherwise. */
	struct mq_props props = { .content_type = PROTO_CONTENT_TYPE_JSON,
				  .message_id = message_id, .persistent = true };
	char rk[sizeof(r->declared[0])], low[16];
	size_t i;

	for (i = 0; priority[i] != '\0' && i < sizeof(low) - 1; i++)
		low[i] = (char)(priority[i] >= 'A' && priority[i] <= 'Z' ? priority[i] + 32 :
				priority[i]);
	low[i] = '\0';
	for (int t = 0; t < r->ntopics; t++) {
		if (*done & (1u << t))
			continue;
		snprintf(rk, sizeof(rk), "%s.%s", r->topics[t], low);
		int rc = relay_declare(r, rk, err, errlen);
		if (rc == MQ_OK)
			rc = mq_publish(r->mq, cfg_common.control_exchange, rk, body, len, &props,
					false, RELAY_PUBLISH_TIMEOUT_MS);
		if (rc != MQ_OK) {
			if (err[0] == '\0')
				snprintf(err, errlen, "publishing to %s: %s", rk, mq_strerror(rc));
			return rc;
		}
		*done |= 1u << t;
	}
	return MQ_OK;
}

/* ---- the outbox ---- */

/*
 * Records a failed publish of row id, after the topics in done were confirmed. The relay keeps the order: the row is tried again
 * before any later one, so a row the broker refuses every time (a policy, a full queue that
 * rejects) holds every later event back. That must not go unseen: each refusal counts in
 * volmgr_notifications_nacked_total, and RELAY_NACKS_LOGGED refusals in a row log an error
 * naming the row, its event and the routing key (at most every RELAY_NACK_LOG_MS).
 */
static void relay_failed(struct relay *r, const char *id, const char *event, unsigned done,
			 bool nacked, const char *err)
{
	int64_t now = util_now_ms();

	if (strcmp(id, r->retry_id) != 0) {
		util_strlcpy(r->retry_id, id, sizeof(r->retry_id));
		r->retry_nacks = 0;
	}
	r->retry_done = done;
	if (!nacked) {
		r->retry_nacks = 0;
		return;
	}
	mmetrics_notification_nacked();
	if (++r->retry_nacks < RELAY_NACKS_LOGGED || now - r->nack_logged_ms < RELAY_NACK_LOG_MS)
		return;
	r->nack_logged_ms = now;
	log_error("notification relay: the broker refused notification %s (%s) %d times in a "
		  "row (%s); the notifications after it wait until it goes", id, event,
		  r->retry_nacks, err);
}

/* Publishes row i of res; true when it may be deleted (confirmed, or never publishable). */
static bool relay_row(struct relay *r, const PGresult *res, int i, char *err, size_t errlen)
{
	const struct proto_notification n = {
		.message_id = PQgetvalue(res, i, RC_MESSAGE_ID),
		.publisher_id = PQgetvalue(res, i, RC_PUBLISHER),
		.event_type = PQgetvalue(res, i, RC_EVENT),
		.priority = PQgetvalue(res, i, RC_PRIORITY),
		.payload = PQgetvalue(res, i, RC_PAYLOAD),
		.timestamp = PQgetvalue(res, i, RC_TIMESTAMP),
		.request_id = PQgetisnull(res, i, RC_REQUEST_ID) ? NULL :
			      PQgetvalue(res, i, RC_REQUEST_ID),
	};
	/* A row tried before skips the topics that confirmed it then. */
	unsigned done = strcmp(PQgetvalue(res, i, RC_ID), r->retry_id) == 0 ? r->retry_done : 0;
	char *body = NULL;
	size_t len = 0;

	int rc = proto_encode_notification(&n, &body, &len);
	if (rc == PROTO_EPARSE) {
		/* Only a bug writes such a row, and it would stop every event behind it. */
		log_error("notification %s (%s): the payload is not JSON; dropped",
			  PQgetvalue(res, i, RC_ID), n.event_type);
		return true;
	}
	if (rc != PROTO_OK) {
		snprintf(err, errlen, "encoding notification %s: out of memory",
			 PQgetvalue(res, i, RC_ID));
		return false;
	}
	rc = relay_publish(r, n.priority, body, len, n.message_id, &done, err, errlen);
	free(body);
	if (rc == MQ_OK) {
		r->retry_id[0] = '\0';
		r->retry_done = 0;
		r->retry_nacks = 0;
		return true;
	}
	relay_failed(r, PQgetvalue(res, i, RC_ID), n.event_type, done, rc == MQ_NACKED, err);
	if (rc != MQ_NACKED)
		relay_mq_drop(r);
	return false;
}

/*
 * Sets the outbox depth gauge after a batch that read n rows and deleted published of them.
 * A batch shorter than RELAY_BATCH saw the whole outbox, so what it left is the depth; a full
 * one means a backlog, counted whole (a scan of the table, on this thread only) at most every
 * RELAY_RECHECK_MS.
 */
static void relay_depth(struct relay *r, int n, int published)
{
	int64_t now = util_now_ms();
	PGresult *res = NULL;

	if (n < RELAY_BATCH) {
		mmetrics_outbox_depth(n - published);
		return;
	}
	if (now - r->depth_counted_ms < RELAY_RECHECK_MS)
		return;
	r->depth_counted_ms = now;
	if (db_exec(r->db, "SELECT count(*) FROM volmgr_notifications", 0, NULL, &res) == DB_OK)
		mmetrics_outbox_depth(atoll(PQgetvalue(res, 0, 0)));
	PQclear(res);
}

/*
 * One batch: the oldest RELAY_BATCH rows published in id order until one fails, then those
 * confirmed deleted. *full is set when the batch was full and all went (more may wait).
 * Returns 0, -1 for a database failure (rows kept) or 1 for a broker failure (what was
 * confirmed before it is deleted).
 */
static int relay_batch(struct relay *r, bool *full)
{
	char idbuf[RELAY_IDS_BYTES], limit[16], err[512] = "";
	struct db_array ids;
	PGresult *res = NULL;
	int rc, n, failed = 0;

	*full = false;
	snprintf(limit, sizeof(limit), "%d", RELAY_BATCH);
	/* The timestamp in the format of str(utcnow()), as oslo's Notifier writes it: no
	 * fraction when the microseconds are zero (sql/012). */
	rc = db_exec(r->db,
		     "SELECT id, message_id, event_type, publisher_id, priority, payload, request_id, "
		     "volmgr_isoformat(created_at, ' ') "
		     "FROM volmgr_notifications ORDER BY id LIMIT $1::integer",
		     1, (const char *[]){ limit }, &res);
	if (rc != DB_OK) {
		log_warning("notification relay: reading the outbox: %s", db_last_error(r->db));
		return -1;
	}
	n = PQntuples(res);
	if (n > 0 && relay_mq_ready(r, err, sizeof(err)) != MQ_OK)
		failed = 1;
	db_array_init(&ids, idbuf, sizeof(idbuf));
	for (int i = 0; i < n && !failed && !*r->stop; i++) {
		if (!relay_row(r, res, i, err, sizeof(err))) {
			failed = 1;
			break;
		}
		db_array_add(&ids, PQgetvalue(res, i, RC_ID));
	}
	if (failed)
		log_warning("notification relay: %s; %d notifications wait for the broker", err,
			    n - ids.n);
	*full = n == RELAY_BATCH && ids.n == n;
	PQclear(res);
	if (ids.n == 0) {
		relay_depth(r, n, 0);
		return failed;
	}
	rc = db_exec(r->db, "DELETE FROM volmgr_notifications WHERE id = ANY($1::bigint[])", 1,
		     (const char *[]){ db_array_text(&ids) }, NULL);
	if (rc != DB_OK) {
		/* Published and kept: they go again after the reconnect, with the same ids. */
		log_warning("notification relay: deleting %d published notifications: %s", ids.n,
			    db_last_error(r->db));
		return -1;
	}
	log_debug("notification relay: %d notifications published", ids.n);
	relay_depth(r, n, ids.n);
	return failed;
}

/* True when this session holds the relay's lock (taken now, or before). */
static bool relay_lock(struct relay *r)
{
	PGresult *res = NULL;

	if (r->locked)
		return true;
	if (db_exec(r->db, "SELECT pg_try_advisory_lock(" RELAY_LOCK ")", 0, NULL, &res) == DB_OK)
		r->locked = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return r->locked;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int attempt = 0;

	util_block_stop_signals();
	while (r->db == NULL && !*r->stop) {
		r->db = db_open(cfg_common.db_connection, "volume-manager-notifications",
				RELAY_STATEMENT_TIMEOUT_MS);
		if (r->db == NULL)
			util_sleep_ms(util_backoff_ms(attempt++, RELAY_BACKOFF_BASE_MS,
						      RELAY_BACKOFF_CAP_MS), r->stop);
	}
	attempt = 0;
	while (!*r->stop) {
		bool full = false;
		int rc = 0;

		if (!r->listening)
			r->listening = db_listen(r->db, NOTIFICATION_CHANNEL) == DB_OK;
		/* A relay that is not the database's one only listens, so that it takes over
		 * within RELAY_RECHECK_MS when the one that is goes. */
		if (r->listening && relay_lock(r))
			rc = relay_batch(r, &full);
		else if (r->listening)
			mmetrics_outbox_depth(0); /* the relay that holds the lock counts it */
		if (!db_is_ok(r->db)) {
			/* The session is gone, and its LISTEN and its lock with it. */
			r->listening = false;
			r->locked = false;
			if (db_reconnect(r->db) != DB_OK)
				util_sleep_ms(util_backoff_ms(attempt++, RELAY_BACKOFF_BASE_MS,
							      RELAY_BACKOFF_CAP_MS), r->stop);
			continue;
		}
		if (rc != 0) {
			util_sleep_ms(util_backoff_ms(attempt++, RELAY_BACKOFF_BASE_MS,
						      RELAY_BACKOFF_CAP_MS), r->stop);
			continue;
		}
		attempt = 0;
		if (!full)
			(void)db_wait_notify(r->db, RELAY_RECHECK_MS, r->stop);
	}
	relay_mq_drop(r);
	db_close(r->db);
	r->db = NULL;
	return NULL;
}

int relay_start(db_conn *db, volatile sig_atomic_t *stop)
{
	PGresult *res = NULL;

	if (!notification_enabled()) {
		log_info("notifications: driver %s, none are queued or published",
			 NOTIFICATION_DRIVER_NOOP);
		if (db_exec(db, "SELECT EXISTS (SELECT 1 FROM volmgr_notifications)", 0, NULL,
			    &res) == DB_OK && *PQgetvalue(res, 0, 0) == 't')
			log_warning("notifications: the outbox volmgr_notifications holds events "
				    "that no manager with driver %s publishes; give the api-shim and "
				    "the volume-manager the same [oslo_messaging_notifications] driver",
				    NOTIFICATION_DRIVER_NOOP);
		PQclear(res);
		return 0;
	}
	memset(&relay, 0, sizeof(relay));
	relay.stop = stop;
	relay.ntopics = notification_topics(relay.topics);
	if (pthread_create(&relay_thread, NULL, relay_main, &relay) != 0) {
		log_error("cannot start the notification relay thread");
		return -1;
	}
	relay_started = true;
	return 0;
}

void relay_join(void)
{
	if (relay_started)
		pthread_join(relay_thread, NULL);
	relay_started = false;
}
