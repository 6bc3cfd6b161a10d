/*
 * cmd_dlq.c - the dead-letter queue: list, show, requeue, purge.
 *
 * Messages are taken with basic.get and no auto-ack. Those a command does not consume stay
 * unacknowledged until volctl's connection closes, when the broker puts them back, so a listing
 * or a filtered requeue never reorders or loses the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "proto/topology.h"
#include "volctl/msgio.h"
#include "volctl/volctl.h"

#define DLQ_DEFAULT_LIMIT 1000

struct dlq_filter {
	const struct volctl_args *a;
	long index;   /* 1-based position in the queue */
};

/* Does the message match the command's filter (all when --all)? */
static bool dlq_match(const struct dlq_filter *f, const json_t *rec)
{
	const struct volctl_args *a = f->a;
	const json_t *hdrs = json_object_get(rec, "headers");
	const char *reason = json_string_value(json_object_get(hdrs, PROTO_HDR_REASON));
	const char *method = json_string_value(json_object_get(rec, "method"));
	const char *mid = json_string_value(json_object_get(json_object_get(rec, "properties"),
							    "message_id"));

	if (a->npos > 0 && f->index != strtol(a->pos[0], NULL, 10))
		return false;
	if (a->message_id != NULL && (mid == NULL || strcmp(mid, a->message_id) != 0))
		return false;
	if (a->method != NULL && (method == NULL || strcmp(method, a->method) != 0))
		return false;
	if (a->reason != NULL && (reason == NULL || strstr(reason, a->reason) == NULL))
		return false;
	return true;
}

enum dlq_action { DLQ_LIST, DLQ_SHOW, DLQ_REQUEUE, DLQ_PURGE };

/* What a requeue publishes: the body and properties, to the original exchange and routing
 * key, without volmgr's dead-letter headers. */
static int dlq_requeue_one(mq_conn *pub, const json_t *rec)
{
	json_t *copy = json_deep_copy(rec);
	json_t *hdrs = json_object_get(copy, "headers");
	const char *ex = json_string_value(json_object_get(hdrs, PROTO_HDR_ORIG_EXCHANGE));
	const char *rk = json_string_value(json_object_get(hdrs, PROTO_HDR_ORIG_ROUTING_KEY));
	struct msgio_msg m;
	char err[128];
	int rc = MQ_INVALID;

	if (ex == NULL || rk == NULL) {
		fprintf(stderr, "volctl: dlq requeue: a message without %s / %s is skipped\n",
			PROTO_HDR_ORIG_EXCHANGE, PROTO_HDR_ORIG_ROUTING_KEY);
		json_decref(copy);
		return MQ_INVALID;
	}
	json_object_set_new(copy, "exchange", json_string(ex));
	json_object_set_new(copy, "routing_key", json_string(rk));
	json_object_del(hdrs, PROTO_HDR_REASON);
	json_object_del(hdrs, PROTO_HDR_ORIG_EXCHANGE);
	json_object_del(hdrs, PROTO_HDR_ORIG_ROUTING_KEY);
	if (msgio_parse(copy, &m, err, sizeof(err)) == 0) {
		rc = msgio_publish(pub, &m, NULL);
		msgio_msg_free(&m);
	}
	json_decref(copy);
	return rc;
}

static int dlq_run(struct volctl_args *a, enum dlq_action action)
{
	static const struct volctl_col cols[] = {
		{ "index", "#" }, { "message_id", "MESSAGE_ID" }, { "method", "METHOD" },
		{ "original_routing_key", "ORIGINAL_ROUTING_KEY" }, { "reason", "REASON" },
		{ NULL, NULL },
	};
	const char *queue = a->queue != NULL ? a->queue : PROTO_DLQ;
	long limit = a->limit > 0 ? a->limit : DLQ_DEFAULT_LIMIT;
	struct dlq_filter f = { a, 0 };
	mq_conn *mq = volctl_mq(false);
	mq_conn *pub = action == DLQ_REQUEUE ? volctl_mq(true) : NULL;
	json_t *rows = json_array();
	long done = 0, failed = 0;
	int rc = MQ_OK;

	uint32_t depth = 0;

	if (mq == NULL || (action == DLQ_REQUEUE && pub == NULL) || rows == NULL) {
		json_decref(rows);
		return VOLCTL_FAIL;
	}
	/* Only what is in the queue now: a requeued message that fails again comes straight
	 * back behind the others and must not be taken a second time. */
	rc = mq_declare_queue(mq, queue, NULL, &depth);
	if (rc != MQ_OK) {
		json_decref(rows);
		return volctl_fail("%s: %s", queue, mq_strerror(rc));
	}
	if ((long)depth < limit)
		limit = (long)depth;
	while (f.index < limit && !volctl_stop) {
		struct mq_delivery d;

		rc = mq_get(mq, queue, false, &d);
		if (rc != MQ_OK)
			break;
		f.index++;
		json_t *rec = msgio_record(&d);
		if (rec != NULL && dlq_match(&f, rec)) {
			const json_t *hdrs = json_object_get(rec, "headers");

			json_object_set_new(rec, "index", json_integer(f.index));
			json_object_set(rec, "reason", json_object_get(hdrs, PROTO_HDR_REASON));
			json_object_set(rec, "original_routing_key",
					json_object_get(hdrs, PROTO_HDR_ORIG_ROUTING_KEY));
			json_object_set(rec, "message_id",
					json_object_get(json_object_get(rec, "properties"),
							"message_id"));
			json_object_set_new(rec, "delivery_count",
					    json_integer(d.delivery_count));
			/* Acked only after the republish is confirmed, so a crash in between
			 * leaves a duplicate (suppressed by the manager), never a loss. */
			if (action == DLQ_REQUEUE) {
				int prc = dlq_requeue_one(pub, rec);

				rc = prc == MQ_OK ? mq_ack(mq, d.tag, false) : MQ_OK;
				prc == MQ_OK ? done++ : failed++;
			} else if (action == DLQ_PURGE) {
				rc = mq_ack(mq, d.tag, false);
				done += rc == MQ_OK;
			}
			json_array_append(rows, rec);
		}
		json_decref(rec);
		mq_delivery_free(&d);
		if (rc != MQ_OK)
			break;
	}
	if (rc != MQ_OK && rc != MQ_EMPTY) {
		json_decref(rows);
		return volctl_fail("%s: %s", queue, mq_strerror(rc));
	}
	switch (action) {
	case DLQ_LIST:
		volctl_emit(rows, cols, a->json);
		return VOLCTL_OK;
	case DLQ_SHOW:
		if (json_array_size(rows) == 0) {
			json_decref(rows);
			return volctl_fail("no such message in %s", queue);
		}
		volctl_emit_one(json_incref(json_array_get(rows, 0)), a->json);
		json_decref(rows);
		return VOLCTL_OK;
	case DLQ_REQUEUE:
	case DLQ_PURGE:
		json_decref(rows);
		volctl_emit_one(json_pack("{s:s, s:I, s:I}", action == DLQ_REQUEUE ? "requeued"
					  : "purged", queue, "count", (json_int_t)done,
					  "failed", (json_int_t)failed), a->json);
		return failed > 0 ? VOLCTL_FAIL : VOLCTL_OK;
	}
	json_decref(rows);
	return VOLCTL_FAIL;
}

static int check_index(struct volctl_args *a)
{
	long index;

	if (a->npos > 0 && util_parse_long(a->pos[0], 1, 1000000000, &index) != 0)
		return volctl_usage_error("INDEX %s is not a positive integer", a->pos[0]);
	return VOLCTL_OK;
}

static int check_show(struct volctl_args *a)
{
	if ((a->npos > 0) == (a->message_id != NULL))
		return volctl_usage_error("give an INDEX or --message-id");
	return check_index(a);
}

/* Requeue and purge act on a selection; "everything" has to be said out loud. */
static int check_select(struct volctl_args *a)
{
	bool filtered = a->npos > 0 || a->message_id != NULL || a->method != NULL ||
			a->reason != NULL;

	if (filtered == a->all)
		return volctl_usage_error("give a filter (INDEX, --message-id, --method, --reason)"
					  " or --all");
	return check_index(a);
}

static int run_dlq_list(struct volctl_args *a)
{
	return dlq_run(a, DLQ_LIST);
}

static int run_dlq_show(struct volctl_args *a)
{
	return dlq_run(a, DLQ_SHOW);
}

static int run_dlq_requeue(struct volctl_args *a)
{
	return dlq_run(a, DLQ_REQUEUE);
}

static int run_dlq_purge(struct volctl_args *a)
{
	return dlq_run(a, DLQ_PURGE);
}

static const struct volctl_opt opts_dlq[] = {
	VOLCTL_OPT_STR("--message-id", message_id),
	VOLCTL_OPT_STR("--method", method),
	VOLCTL_OPT_STR("--reason", reason),
	VOLCTL_OPT_FLAG("--all", all),
	VOLCTL_OPT_STR("--queue", queue),
	VOLCTL_OPT_LONG("--limit", limit, 1, 10000000),
	VOLCTL_OPT_JSON,
	VOLCTL_OPT_END,
};

#define DLQ_FILTER_HELP \
	"Filters: INDEX (position in the queue, from dlq list), --message-id ID, --method M,\n" \
	"--reason TEXT (a substring of x-volmgr-reason). --limit N looks at the first N\n" \
	"messages (default 1000); --queue names another dead-letter queue.\n"

const struct volctl_cmd volctl_cmds_dlq[] = {
	{ "dlq list", "[filters] [--limit N] [--json]",
	  "Lists the dead-letter queue without removing anything: index, message id, method,\n"
	  "original routing key and the reason the manager gave (x-volmgr-reason).\n"
	  DLQ_FILTER_HELP,
	  opts_dlq, 0, 1, check_index, run_dlq_list },
	{ "dlq show", "(INDEX | --message-id ID) [--json]",
	  "Shows one dead letter in full: properties, headers and the body (base64); pipe\n"
	  "the body to `base64 -d | volctl decode` to read it.",
	  opts_dlq, 0, 1, check_show, run_dlq_show },
	{ "dlq requeue", "(filters | --all) [--limit N] [--json]",
	  "Publishes the selected dead letters again to their original exchange and routing\n"
	  "key (x-volmgr-original-*), with publisher confirms, and removes each from the\n"
	  "dead-letter queue only after its republish was confirmed. Ids are kept, so a\n"
	  "message that was in fact applied is a no-op. Exit 1 when a republish failed.\n"
	  DLQ_FILTER_HELP,
	  opts_dlq, 0, 1, check_select, run_dlq_requeue },
	{ "dlq purge", "(filters | --all) [--limit N] [--json]",
	  "Deletes the selected dead letters.\n" DLQ_FILTER_HELP,
	  opts_dlq, 0, 1, check_select, run_dlq_purge },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
