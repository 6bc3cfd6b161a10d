/*
 * helpers.c - what every harness links: libFuzzer's initialisation, the checks, and the
 * scratch file for the readers that take a path (see fuzz.h).
 */
#include "tests/fuzz/fuzz.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The code under test logs warnings and information (an unknown key, a token file
	 * loaded): a line per input would drown libFuzzer's own and slow every run. */
	return log_init("fuzz", LOGL_ERROR, NULL);
}

static char dir[PATH_MAX];
static char path[PATH_MAX];

void fuzz_check(int cond, const char *what, const char *file, int line)
{
	if (cond)
		return;
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

static void remove_file(void)
{
	unlink(path);
	rmdir(dir);
}

const char *fuzz_file_write(const uint8_t *data, size_t size)
{
	size_t done = 0;
	int fd;

	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/volmgr-fuzz-XXXXXX",
			 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
		FUZZ_CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/input", dir);
		FUZZ_CHECK(atexit(remove_file) == 0);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		FUZZ_CHECK(n > 0);
		done += (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
	return path;
}
