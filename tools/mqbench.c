/*
 * mqbench.c - the broker side of make bench (scripts/bench/bench.py), built on common/mq.
 *
 *   mqbench fill URL EXCHANGE KEY FILE
 *       publishes every body of FILE (each a 4-byte big-endian length, then the bytes),
 *       persistent, without waiting for confirms (common/mq waits for each one, which
 *       would bound the rate by the broker's fsync); the driver checks the queue depth.
 *   mqbench drain URL QUEUE N PREFETCH ACK_EVERY
 *       the no-op consumer: takes N deliveries with manual acks (a multiple ack every
 *       ACK_EVERY, as the manager acks a batch) and prints the seconds from the first
 *       delivery to the last ack.
 *   mqbench steady URL EXCHANGE KEY FILE RATE
 *       publishes the bodies of FILE at RATE per second (persistent, as fill) and prints
 *       "index epoch_microseconds" for each.
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

/* fill (rate 0) and steady (rate > 0). */
static int mqb_publish(char **argv, double rate)
{
	const struct mq_props props = { .content_type = "application/msgpack", .persistent = true };
	unsigned char *buf = malloc(MQB_MAX_BODY);
	FILE *f = fopen(argv[4], "rb");
	mq_conn *mq = mqb_open(argv[1], false);
	int64_t start = util_now_ms();
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
		int rc = mq_publish(mq, argv[2], argv[3], buf, (size_t)len, &props, false, 0);
		if (rc != MQ_OK) {
			fprintf(stderr, "mqbench: publish %ld: %s\n", count, mq_strerror(rc));
			goto out;
		}
		count++;
	}
	if (len < 0) {
		fprintf(stderr, "mqbench: %s: malformed body file\n", argv[4]);
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
