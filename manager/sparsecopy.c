/*
 * sparsecopy.c - the sparse-aware copy of one file into another (see sparsecopy.h).
 */
#include "manager/sparsecopy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

static int sc_fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

/* Makes [off, off + len) of out a hole. */
static int sc_punch(int out, off_t off, off_t len, char *err, size_t errlen)
{
	if (len <= 0)
		return 0;
	if (fallocate(out, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) != 0)
		return sc_fail(err, errlen, "cannot punch a hole in the destination");
	return 0;
}

/* Copies [off, end) of in to out through buf. */
static int sc_data(int in, int out, off_t off, off_t end, char *buf, int delay_ms,
		   volatile sig_atomic_t *stop, char *err, size_t errlen)
{
	while (off < end) {
		size_t want = end - off < SPARSECOPY_BUF ? (size_t)(end - off) : SPARSECOPY_BUF;
		ssize_t n = pread(in, buf, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sc_fail(err, errlen, "cannot read the source");
		if (n == 0) {
			snprintf(err, errlen, "the source shrank during the copy");
			return -1;
		}
		for (ssize_t done = 0; done < n; ) {
			ssize_t w = pwrite(out, buf + done, (size_t)(n - done), off + done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return sc_fail(err, errlen, "cannot write the destination");
			done += w;
		}
		off += n;
		util_progress();
		if (delay_ms > 0)
			util_sleep_ms(delay_ms, stop);
		if (stop != NULL && *stop) {
			snprintf(err, errlen, "the copy was stopped");
			return -1;
		}
	}
	return 0;
}

int sparsecopy_fd(int in, int out, int delay_ms, volatile sig_atomic_t *stop, char *err,
		  size_t errlen)
{
	struct stat si, so;
	char *buf = NULL;
	int rc = -1;

	if (fstat(in, &si) != 0 || fstat(out, &so) != 0)
		return sc_fail(err, errlen, "cannot stat");
	if (so.st_size < si.st_size && ftruncate(out, si.st_size) != 0)
		return sc_fail(err, errlen, "cannot grow the destination");
	buf = malloc(SPARSECOPY_BUF);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (off_t off = 0; off < si.st_size; ) {
		off_t data = lseek(in, off, SEEK_DATA);
		/* ENXIO: no data after off, the rest of the file is a hole. */
		if (data < 0 && errno != ENXIO) {
			(void)sc_fail(err, errlen, "cannot seek the source's data");
			goto out;
		}
		if (data < 0 || data > si.st_size)
			data = si.st_size;
		if (sc_punch(out, off, data - off, err, errlen) != 0)
			goto out;
		if (data >= si.st_size)
			break;
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0) {
			(void)sc_fail(err, errlen, "cannot seek the source's holes");
			goto out;
		}
		if (hole > si.st_size)
			hole = si.st_size;
		if (sc_data(in, out, data, hole, buf, delay_ms, stop, err, errlen) != 0)
			goto out;
		off = hole;
	}
	if (fsync(out) != 0) {
		(void)sc_fail(err, errlen, "cannot sync the destination");
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}
