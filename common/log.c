/*
 * log.c - leveled, line-atomic logging with a per-thread request id.
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/* Longest line written, newline included; longer messages are cut and end with "...". */
#define LOG_LINE_MAX 4096

enum log_level log_current_level = LOGL_INFO;

static char log_progname[64] = "volmgr";
static int log_fd = STDERR_FILENO;
static _Thread_local char log_request_id[64];

static const char *const log_level_names[] = {
	[LOGL_ERROR] = "ERROR",
	[LOGL_WARNING] = "WARNING",
	[LOGL_INFO] = "INFO",
	[LOGL_DEBUG] = "DEBUG",
};

int log_init(const char *progname, enum log_level level, const char *path)
{
	int fd;

	if (progname != NULL) {
		const char *slash = strrchr(progname, '/');

		util_strlcpy(log_progname, slash != NULL ? slash + 1 : progname,
			     sizeof(log_progname));
	}
	log_current_level = level;
	if (path == NULL)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_error("cannot open log file %s: %s", path, strerror(errno));
		return -1;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int log_level_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcasecmp(name, log_level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

void log_set_request_id(const char *request_id)
{
	if (request_id == NULL)
		log_request_id[0] = '\0';
	else
		util_strlcpy(log_request_id, request_id, sizeof(log_request_id));
}

void log_write(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], message[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t len, start;
	int n;

	if (level > log_current_level || (unsigned)level > LOGL_DEBUG)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s[%ld] %s [%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000L, log_progname, (long)getpid(),
		     log_level_names[level], log_request_id[0] != '\0' ? log_request_id : "-");
	start = n > 0 ? (size_t)n : 0;
	if (start >= sizeof(line) - 1)
		start = sizeof(line) - 2;

	va_start(ap, fmt);
	n = vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	/* Every line is masked, whatever its caller: a URL with a password or a token can reach
	 * a message from many places (a peer's error text, a connection string, a header). */
	util_mask_secrets(n > 0 ? message : "", line + start, sizeof(line) - start - 1);
	len = start + strlen(line + start);
	if (len >= sizeof(line) - 2 || (n > 0 && (size_t)n >= sizeof(message))) {
		len = sizeof(line) - 2;
		memcpy(line + len - 3, "...", 3);
	}

	/* One record is one line: drop trailing newlines (PQerrorMessage has one) and flatten
	 * embedded ones, which server and peer messages may carry. */
	while (len > start && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	for (size_t i = start; i < len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[len++] = '\n';

	while (write(log_fd, line, len) < 0 && errno == EINTR)
		;
}
