/*
 * log.h - leveled logging with a per-thread request context.
 *
 * Lines go to stderr (or the file given to log_init) as
 *   "2026-11-27 13:00:00.123 <prog>[pid] LEVEL [req-...] message"
 * The level check happens before any formatting, so disabled levels cost one comparison.
 * Every message is passed through util_mask_secrets before it is written, so that a password
 * in a URL or a token that reaches a message (a peer's error text quoting a URL, a connection
 * string) never reaches the log.
 * Thread-safe: each line is written with one write(2).
 */
#ifndef VOLMGR_COMMON_LOG_H
#define VOLMGR_COMMON_LOG_H

#include <stdarg.h>

enum log_level { LOGL_ERROR = 0, LOGL_WARNING = 1, LOGL_INFO = 2, LOGL_DEBUG = 3 };

extern enum log_level log_current_level;

/* Sets the program name and level. path NULL means stderr. Returns 0, or -1 if the file
 * cannot be opened (logging then stays on stderr). */
__attribute__((warn_unused_result))
int log_init(const char *progname, enum log_level level, const char *path);

/* Parses "error", "warning", "info", "debug" (case-insensitive). Returns -1 if unknown. */
int log_level_parse(const char *name);

/* Sets the request id printed on this thread's lines; NULL clears it. The string is copied
 * (at most 63 bytes). */
void log_set_request_id(const char *request_id);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOGL_ERROR, __VA_ARGS__)
#define log_warning(...) do { if (log_current_level >= LOGL_WARNING) log_write(LOGL_WARNING, __VA_ARGS__); } while (0)
#define log_info(...) do { if (log_current_level >= LOGL_INFO) log_write(LOGL_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_current_level >= LOGL_DEBUG) log_write(LOGL_DEBUG, __VA_ARGS__); } while (0)

#endif
