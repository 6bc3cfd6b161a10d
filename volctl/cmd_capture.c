/*
 * cmd_capture.c - capture what crosses the exchange into a file, and replay such a file or
 * the journal (the stream the manager relays what it receives to) back onto the exchange.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "proto/journal.h"
#include "proto/topology.h"
#include "volctl/msgio.h"
#include "volctl/volctl.h"

#define CAPTURE_PREFETCH 100
#define CAPTURE_TICK_MS 500
#define CAPTURE_QUEUE_EXPIRES_MS 60000
#define REPLAY_LINE_MAX (MSGIO_MAX_BODY / 3 * 4 + 65536)
/* The journal is read until the marker this run appended; a quiet stream that does not show
 * it within this long is an error (no journal, or a broker in trouble). */
#define REPLAY_JOURNAL_IDLE_MS 15000

/*
 * The output for appending: stdout for NULL or "-", else path, created with mode 0600. A
 * capture holds what users sent (names, metadata, connectors), so only its owner may read
 * it; an existing regular file is narrowed to 0600 too, since appending to a file others can
 * read would hand them the new records. Returns NULL with errno set on failure.
 */
static FILE *capture_open_output(const char *path)
{
	struct stat st;
	FILE *f;
	int fd;

	if (path == NULL || strcmp(path, "-") == 0)
		return stdout;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return NULL;
	/* A FIFO or a device (/dev/null) keeps its mode: it is not the owner's to change. */
	if (fstat(fd, &st) != 0 ||
	    (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0))
		goto fail;
	f = fdopen(fd, "a");
	if (f == NULL)
		goto fail;
	return f;
fail:
	close(fd);
	return NULL;
}

/* A uniquely named temporary queue bound to exchange with pattern (deleted when volctl's
 * connection closes, or a minute after it died). */
static int capture_queue(mq_conn *mq, const char *exchange, const char *pattern, char *name,
			 size_t len)
{
	struct mq_queue_options opt = { .exclusive = true, .auto_delete = true,
					.expires_ms = CAPTURE_QUEUE_EXPIRES_MS };
	char hex[33];

	util_hex_id(hex);
	snprintf(name, len, "volctl.capture.%s", hex);
	int rc = mq_declare_queue(mq, name, &opt, NULL);
	if (rc == MQ_OK)
		rc = mq_bind(mq, name, exchange, pattern);
	return rc;
}

static int run_capture(struct volctl_args *a)
{
	const char *ex = a->exchange != NULL ? a->exchange : volctl_exchange();
	const char *pattern = a->pattern != NULL ? a->pattern : "#";
	int64_t deadline = a->timeout > 0 ? util_now_ms() + a->timeout * 1000 : 0;
	mq_conn *mq = volctl_mq(false);
	char queue[PROTO_NAME_MAX];
	long n = 0;
	int rc;

	if (mq == NULL)
		return VOLCTL_FAIL;
	rc = capture_queue(mq, ex, pattern, queue, sizeof(queue));
	if (rc == MQ_OK)
		rc = mq_consume(mq, queue, CAPTURE_PREFETCH);
	if (rc != MQ_OK)
		return volctl_fail("cannot capture %s with pattern %s: %s", ex, pattern,
				   mq_strerror(rc));
	FILE *out = capture_open_output(a->output);
	if (out == NULL)
		return volctl_fail("cannot open %s: %s", a->output, strerror(errno));
	fprintf(stderr, "volctl: capturing %s (pattern %s) until %s\n", ex, pattern,
		a->count > 0 || a->timeout > 0 ? "the limit or SIGINT" : "SIGINT");
	while (!volctl_stop && (a->count == 0 || n < a->count) &&
	       (deadline == 0 || util_now_ms() < deadline)) {
		struct mq_delivery d;

		rc = mq_next(mq, &d, CAPTURE_TICK_MS);
		if (rc == MQ_TIMEOUT)
			continue;
		if (rc != MQ_OK)
			break;
		json_t *rec = msgio_record(&d);
		bool written = rec != NULL && json_dumpf(rec, out, JSON_COMPACT) == 0 &&
			       fputc('\n', out) != EOF && fflush(out) == 0;
		json_decref(rec);
		/* Acked only once it is on disk; a failure leaves it to the broker. */
		rc = written ? mq_ack(mq, d.tag, false) : MQ_INVALID;
		mq_delivery_free(&d);
		if (rc != MQ_OK)
			break;
		n++;
	}
	if (out != stdout)
		fclose(out);
	fprintf(stderr, "volctl: captured %ld message%s\n", n, n == 1 ? "" : "s");
	return rc == MQ_OK || rc == MQ_TIMEOUT ? VOLCTL_OK
		: volctl_fail("capture stopped: %s", rc == MQ_INVALID ? "cannot write the output"
			      : mq_strerror(rc));
}

/* ---- replay ---- */

struct replay {
	const struct volctl_args *a;
	mq_conn *pub;
	long read, matched, published, failed, skipped;
	int64_t next_ms;
};

/* Applies the filters, then publishes (or prints, with --dry-run) one record. */
static void replay_one(struct replay *r, const json_t *rec)
{
	const struct volctl_args *a = r->a;
	const char *ts = json_string_value(json_object_get(rec, "ts"));
	const char *method = json_string_value(json_object_get(rec, "method"));
	struct msgio_msg m;
	char err[128], uid[33];

	r->read++;
	if ((a->method != NULL && (method == NULL || strcmp(method, a->method) != 0)) ||
	    (a->since != NULL && !a->from_journal && (ts == NULL || strcmp(ts, a->since) < 0)) ||
	    (a->until != NULL && (ts == NULL || strcmp(ts, a->until) > 0)))
		return;
	r->matched++;
	if (msgio_parse(rec, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "volctl: replay: record %ld: %s\n", r->read, err);
		r->skipped++;
		return;
	}
	if (a->new_ids && msgio_new_id(&m, uid) != 0) {
		fprintf(stderr, "volctl: replay: record %ld has no msgpack _unique_id; skipped\n",
			r->read);
		r->skipped++;
	} else if (a->dry_run) {
		printf("%s %s %s %s\n", ts != NULL ? ts : "-", method != NULL ? method : "-",
		       m.props.message_id != NULL ? m.props.message_id : "-", m.routing_key);
	} else {
		if (a->rate > 0) {
			int64_t now = util_now_ms();

			if (r->next_ms > now)
				util_sleep_ms((int)(r->next_ms - now), &volctl_stop);
			r->next_ms = (r->next_ms > now ? r->next_ms : now) + 1000 / a->rate;
		}
		int rc = msgio_publish(r->pub, &m, a->exchange);
		if (rc == MQ_OK) {
			r->published++;
		} else {
			fprintf(stderr, "volctl: replay: record %ld to %s: %s\n", r->read,
				m.routing_key, mq_strerror(rc));
			r->failed++;
		}
	}
	msgio_msg_free(&m);
}

static bool replay_done(const struct replay *r)
{
	return volctl_stop || (r->a->count > 0 && r->matched >= r->a->count);
}

static int replay_file(struct replay *r, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL)
		return volctl_fail("cannot open %s", path);
	while (!replay_done(r) && (n = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		json_t *rec;

		if (n > REPLAY_LINE_MAX || (rec = json_loads(line, 0, &je)) == NULL) {
			fprintf(stderr, "volctl: replay: line %ld is not a JSON record\n", r->read + 1);
			r->read++;
			r->skipped++;
			continue;
		}
		replay_one(r, rec);
		json_decref(rec);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return VOLCTL_OK;
}

/* Parses "YYYY-MM-DDTHH:MM:SS" (UTC, more digits ignored) or seconds since the epoch. */
static int replay_parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	long secs;

	if (util_parse_long(s, 0, INT32_MAX, &secs) == 0) {
		*out = secs;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* A header of d, or fallback when it is absent. */
static const char *journal_header(const struct mq_delivery *d, const char *key,
				  const char *fallback)
{
	for (size_t i = 0; i < d->nheaders; i++)
		if (strcmp(d->headers[i].key, key) == 0)
			return d->headers[i].value;
	return fallback;
}

/* One record of a journal batch: replayed where it was first sent. */
static int journal_replay_rec(const struct proto_journal_rec *rec, void *arg)
{
	struct replay *r = arg;
	struct mq_delivery d = {
		.exchange = (char *)rec->exchange,
		.routing_key = (char *)rec->routing_key,
		.content_type = (char *)rec->content_type,
		.message_id = (char *)rec->message_id,
		.body = (void *)rec->body,
		.len = rec->len,
	};
	json_t *j = msgio_record(&d);

	if (j != NULL)
		replay_one(r, j);
	json_decref(j);
	return replay_done(r) ? 1 : 0;
}

/*
 * Reads the journal from --since up to a marker published now, so that the replay ends at the
 * journal's present end and never reads its own republished messages.
 */
static int replay_journal(struct replay *r)
{
	const char *ex = r->a->exchange != NULL ? r->a->exchange : volctl_exchange();
	mq_conn *mq = volctl_mq(false);
	char journal[PROTO_NAME_MAX], marker[PROTO_NAME_MAX], hex[33];
	struct mq_arg offset = { "x-stream-offset", MQ_ARG_TIMESTAMP, NULL, 0 };
	int64_t idle_since = util_now_ms();
	int rc;

	if (mq == NULL || replay_parse_time(r->a->since, &offset.num) != 0)
		return mq == NULL ? VOLCTL_FAIL : volctl_fail("bad --since %s", r->a->since);
	if (proto_journal_queue(ex, journal, sizeof(journal)) != 0)
		return volctl_fail("exchange name too long");
	util_hex_id(hex);
	snprintf(marker, sizeof(marker), "%s%s", PROTO_JOURNAL_MARKER_PREFIX, hex);
	/* The marker goes straight into the stream, dressed as the manager's relays are. */
	const struct mq_header marker_hdr[] = {
		{ PROTO_HDR_ORIG_EXCHANGE, ex },
		{ PROTO_HDR_ORIG_ROUTING_KEY, marker },
	};
	const struct mq_props marker_props = { .headers = marker_hdr, .nheaders = 2 };
	/* Attached first, marker second: a --since past the journal's end attaches at its end,
	 * and the marker must still come after that point. */
	rc = mq_consume_args(mq, journal, CAPTURE_PREFETCH, &offset, 1);
	if (rc != MQ_OK)
		return volctl_fail("cannot read journal %s: %s (is [journal] enabled?)", journal,
				   mq_strerror(rc));
	rc = mq_publish(r->pub, "", journal, "", 0, &marker_props, true, MSGIO_PUBLISH_TIMEOUT_MS);
	if (rc != MQ_OK)
		return volctl_fail("cannot mark the end of journal %s: %s", journal,
				   mq_strerror(rc));
	while (!replay_done(r)) {
		struct mq_delivery d;

		rc = mq_next(mq, &d, CAPTURE_TICK_MS);
		if (rc == MQ_TIMEOUT) {
			if (util_now_ms() - idle_since > REPLAY_JOURNAL_IDLE_MS)
				return volctl_fail("journal %s: the end marker did not arrive", journal);
			continue;
		}
		if (rc != MQ_OK)
			return volctl_fail("journal %s: %s", journal, mq_strerror(rc));
		idle_since = util_now_ms();
		/* Batches of the manager's relay; the markers of replays, written straight into the
		 * stream; and, in a stream that an earlier version bound to the exchange, messages
		 * as they crossed it. */
		const char *rk = journal_header(&d, PROTO_HDR_ORIG_ROUTING_KEY, d.routing_key);
		bool end = strcmp(rk, marker) == 0;
		if (d.content_type != NULL && strcmp(d.content_type, PROTO_JOURNAL_CONTENT_TYPE) == 0) {
			if (proto_journal_read(d.body, d.len, journal_replay_rec, r) < 0) {
				fprintf(stderr, "volctl: replay: a journal message is not a batch of "
					"records; the rest of it is skipped\n");
				r->skipped++;
			}
		} else if (!end && strncmp(rk, PROTO_JOURNAL_MARKER_PREFIX,
					   strlen(PROTO_JOURNAL_MARKER_PREFIX)) != 0) {
			json_t *rec = msgio_record(&d);

			if (rec != NULL)
				replay_one(r, rec);
			json_decref(rec);
		}
		rc = mq_ack(mq, d.tag, false);
		mq_delivery_free(&d);
		if (end || rc != MQ_OK)
			break;
	}
	return rc == MQ_OK ? VOLCTL_OK : volctl_fail("journal %s: %s", journal, mq_strerror(rc));
}

static int check_replay(struct volctl_args *a)
{
	int64_t t;

	if (a->from_journal && a->npos > 0)
		return volctl_usage_error("give a FILE or --from-journal, not both");
	if (!a->from_journal && a->npos == 0)
		return volctl_usage_error("missing the capture FILE (or --from-journal)");
	if (a->from_journal && (a->since == NULL || replay_parse_time(a->since, &t) != 0))
		return volctl_usage_error("--from-journal needs --since YYYY-MM-DDTHH:MM:SS (UTC)"
					  " or seconds since the epoch");
	if (a->from_journal && a->until != NULL)
		return volctl_usage_error("--until applies to capture files; the journal is read"
					  " up to now");
	return VOLCTL_OK;
}

static int run_replay(struct volctl_args *a)
{
	struct replay r = { .a = a };
	int rc;

	r.pub = a->dry_run && !a->from_journal ? NULL : volctl_mq(true);
	if (!a->dry_run && r.pub == NULL)
		return VOLCTL_FAIL;
	rc = a->from_journal ? replay_journal(&r) : replay_file(&r, a->pos[0]);
	volctl_emit_one(json_pack("{s:I, s:I, s:I, s:I, s:I, s:b}", "read", (json_int_t)r.read,
				  "matched", (json_int_t)r.matched,
				  "published", (json_int_t)r.published,
				  "failed", (json_int_t)r.failed, "skipped", (json_int_t)r.skipped,
				  "dry_run", a->dry_run), a->json);
	return rc != VOLCTL_OK || r.failed > 0 ? VOLCTL_FAIL : VOLCTL_OK;
}

static const struct volctl_opt opts_capture[] = {
	VOLCTL_OPT_STR("--exchange", exchange),
	VOLCTL_OPT_STR("--pattern", pattern),
	VOLCTL_OPT_LONG("--count", count, 1, 1000000000),
	VOLCTL_OPT_LONG("--timeout", timeout, 1, 31 * 86400),
	VOLCTL_OPT_STR("--output", output),
	VOLCTL_OPT_END,
};
static const struct volctl_opt opts_replay[] = {
	VOLCTL_OPT_LONG("--rate", rate, 1, 1000),
	VOLCTL_OPT_STR("--method", method),
	VOLCTL_OPT_STR("--since", since),
	VOLCTL_OPT_STR("--until", until),
	VOLCTL_OPT_FLAG("--dry-run", dry_run),
	VOLCTL_OPT_FLAG("--new-ids", new_ids),
	VOLCTL_OPT_FLAG("--from-journal", from_journal),
	VOLCTL_OPT_STR("--exchange", exchange),
	VOLCTL_OPT_LONG("--count", count, 1, 1000000000),
	VOLCTL_OPT_JSON,
	VOLCTL_OPT_END,
};

const struct volctl_cmd volctl_cmds_capture[] = {
	{ "capture", "[--exchange E] [--pattern KEY] [--count N] [--timeout S] [--output FILE]",
	  "Binds a temporary queue to the control exchange (or --exchange) with --pattern\n"
	  "(default '#': everything) and writes every message that crosses it as one JSON\n"
	  "line: ts, exchange, routing_key, properties, headers, method and unique_id when\n"
	  "the body has them, and the body in base64, its _context_auth_token (the caller's\n"
	  "token) set to null. Appends to FILE (default stdout), which is created or made\n"
	  "mode 0600; each message is acknowledged only once written. Runs until SIGINT,\n"
	  "--count messages or --timeout seconds.",
	  opts_capture, 0, 0, NULL, run_capture },
	{ "replay", "(FILE|- | --from-journal --since T) [--method M] [--since T] [--until T]"
	  " [--rate N] [--count N] [--new-ids] [--dry-run] [--exchange E] [--json]",
	  "Publishes the records of a capture FILE again, each to its exchange (or\n"
	  "--exchange) and routing key, with publisher confirms. By default the ids are kept,\n"
	  "so a message the manager already applied is a recorded no-op; --new-ids gives\n"
	  "each a fresh _unique_id so that it runs again (the volume's state machine still\n"
	  "decides whether it does anything). --since/--until compare with the capture time\n"
	  "(UTC, YYYY-MM-DDTHH:MM:SS); --method keeps one method; --rate limits messages a\n"
	  "second; --dry-run lists what would be sent.\n"
	  "--from-journal reads the exchange's journal stream from --since (a UTC time or\n"
	  "seconds since the epoch) up to now, without a capture taken beforehand.\n"
	  "Prints counts: read, matched, published, failed, skipped. Exit 1 when a publish\n"
	  "failed.",
	  opts_replay, 0, 1, check_replay, run_replay },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
