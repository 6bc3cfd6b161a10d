/*
 * mqbench.c - the broker side of make bench (scripts/bench/bench.py), built on common/mq.
 *
 *   mqbench fill URL EXCHANGE KEY FILE
 *       publishes every body of FILE (each a 4-byte big-endian length, then the bytes),
 *       persistent, with publisher confirms read as they come (up to MQB_MAX_UNCONFIRMED
 *       outstanding) rather than waited for one at a time, which would bound the rate by
 *       the broker's fsync; fails unless every message is acked.
 *   mqbench drain URL QUEUE N PREFETCH ACK_EVERY
 *       the no-op consumer: takes N deliveries with manual acks (a multiple ack every
 *       ACK_EVERY, as the manager acks a batch) and prints the seconds from the first
 *       delivery to the last ack.
 *   mqbench steady URL EXCHANGE KEY FILE RATE
 *       publishes the bodies of FILE at RATE per second (persistent and confirmed, as
 *       fill) and prints "index epoch_microseconds" for each.
 *
 * Exit status 0, 1 on a broker failure, 2 on a usage error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/mq.h"
#include "common/util.h"

#define MQB_MAX_BODY (1 << 20)
#define MQB_DRAIN_TIMEOUT_MS 30000

static mq_conn *mqb_open(const char *url, bool confirms)
{
	struct mq_options opt = { .url = url, .heartbeat = 0, .confirms = confirms };
	char err[256];
	mq_conn *mq = mq_open(&opt, err, sizeof(err));

	if (mq == NULL)
		fprintf(stderr, "mqbench: %s\n", err);
	return mq;
}

/* Reads the next length-prefixed body of f into buf. Returns its length, 0 at the end, -1 on
 * a malformed file. */
static long mqb_read(FILE *f, unsigned char *buf)
{
	unsigned char hdr[4];
	size_t got = fread(hdr, 1, 4, f);

	if (got == 0)
		return 0;
	if (got != 4)
		return -1;
	size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (len > MQB_MAX_BODY || fread(buf, 1, len, f) != len)
		return -1;
	return (long)len;
}

static int64_t mqb_epoch_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Publishes not yet confirmed, at most; the final wait for the confirms, at most. */
#define MQB_MAX_UNCONFIRMED 4096
#define MQB_CONFIRM_WAIT_MS 60000

/*
 * Reads the confirms that arrived (waiting up to timeout_ms for the first) and raises
 * *confirmed to the highest sequence number acked so far. Returns 0, or -1 on a nack or a
 * broken connection: a message the broker refused would never reach the consumer.
 */
static int mqb_confirms(mq_conn *mq, int timeout_ms, uint64_t *confirmed)
{
	struct mq_confirm ev[64];
	size_t n = 0;
	int rc = mq_read_confirms(mq, timeout_ms, ev, sizeof(ev) / sizeof(ev[0]), &n);

	if (rc != MQ_OK && rc != MQ_TIMEOUT) {
		fprintf(stderr, "mqbench: reading confirms: %s\n", mq_strerror(rc));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (ev[i].kind == MQ_CONFIRM_NACK) {
			fprintf(stderr, "mqbench: the broker refused message %llu\n",
				(unsigned long long)ev[i].tag);
			return -1;
		}
		/* RabbitMQ confirms a channel's publishes in order, so the highest tag acked
		 * counts everything up to it. Were an ack ever to come early, the run would end
		 * before the last confirm and a missing message would still show: the bench
		 * counts finalized rows, not confirms. */
		if (ev[i].kind == MQ_CONFIRM_ACK && ev[i].tag > *confirmed)
			*confirmed = ev[i].tag;
	}
	return 0;
}

/*
 * fill (rate 0) and steady (rate > 0). Publishes are confirmed, as the shim's are: at most
 * MQB_MAX_UNCONFIRMED outstanding, and the run fails unless every message is acked.
 */
static int mqb_publish(char **argv, double rate)
{
	const struct mq_props props = { .content_type = "application/msgpack", .persistent = true };
	unsigned char *buf = malloc(MQB_MAX_BODY);
	FILE *f = fopen(argv[4], "rb");
	mq_conn *mq = mqb_open(argv[1], true);
	int64_t start = util_now_ms(), deadline;
	uint64_t seq = 0, confirmed = 0;
	long count = 0, len;
	int status = 1;

	if (buf == NULL || f == NULL || mq == NULL)
		goto out;
	while ((len = mqb_read(f, buf)) > 0) {
		if (rate > 0) {
			int64_t due = start + (int64_t)((double)count * 1000.0 / rate);
			int64_t now = util_now_ms();
			if (due > now)
				util_sleep_ms((int)(due - now), NULL);
			printf("%ld %lld\n", count, (long long)mqb_epoch_us());
		}
		int rc = mq_publish_nowait(mq, argv[2], argv[3], buf, (size_t)len, &props, false,
					   &seq);
		if (rc != MQ_OK) {
			fprintf(stderr, "mqbench: publish %ld: %s\n", count, mq_strerror(rc));
			goto out;
		}
		count++;
		if (mqb_confirms(mq, seq - confirmed >= MQB_MAX_UNCONFIRMED ? 100 : 0,
				 &confirmed) != 0)
			goto out;
	}
	if (len < 0) {
		fprintf(stderr, "mqbench: %s: malformed body file\n", argv[4]);
		goto out;
	}
	deadline = util_now_ms() + MQB_CONFIRM_WAIT_MS;
	while (confirmed < seq && util_now_ms() < deadline)
		if (mqb_confirms(mq, 100, &confirmed) != 0)
			goto out;
	if (confirmed < seq) {
		fprintf(stderr, "mqbench: %llu of %llu publishes unconfirmed after %d ms\n",
			(unsigned long long)(seq - confirmed), (unsigned long long)seq,
			MQB_CONFIRM_WAIT_MS);
		goto out;
	}
	if (rate <= 0)
		printf("%ld\n", count);
	status = 0;
out:
	mq_close(mq);
	if (f != NULL)
		fclose(f);
	free(buf);
	return status;
}

static int mqb_drain(char **argv)
{
	long n = atol(argv[3]), every = atol(argv[5]), got = 0;
	mq_conn *mq = mqb_open(argv[1], false);
	struct mq_delivery d;
	int64_t first = 0;
	int status = 1;

	if (mq == NULL || n < 1 || every < 1)
		goto out;
	if (mq_consume(mq, argv[2], atoi(argv[4])) != MQ_OK) {
		fprintf(stderr, "mqbench: cannot consume %s\n", argv[2]);
		goto out;
	}
	while (got < n) {
		int rc = mq_next(mq, &d, MQB_DRAIN_TIMEOUT_MS);
		if (rc != MQ_OK) {
			fprintf(stderr, "mqbench: after %ld deliveries: %s\n", got, mq_strerror(rc));
			goto out;
		}
		if (got++ == 0)
			first = util_now_ms();
		uint64_t tag = d.tag;
		mq_delivery_free(&d);
		if ((got % every == 0 || got == n) && mq_ack(mq, tag, true) != MQ_OK)
			goto out;
	}
	printf("%.3f\n", (double)(util_now_ms() - first) / 1000.0);
	status = 0;
out:
	mq_close(mq);
	return status;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "fill") == 0)
		return mqb_publish(argv + 1, 0);
	if (argc == 7 && strcmp(argv[1], "steady") == 0)
		return mqb_publish(argv + 1, atof(argv[6]));
	if (argc == 7 && strcmp(argv[1], "drain") == 0)
		return mqb_drain(argv + 1);
	fprintf(stderr, "usage: mqbench fill URL EXCHANGE KEY FILE\n"
		"       mqbench drain URL QUEUE N PREFETCH ACK_EVERY\n"
		"       mqbench steady URL EXCHANGE KEY FILE RATE\n");
	return 2;
}
