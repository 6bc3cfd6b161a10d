/*
 * util.h - small helpers every program needs: ids, time, backoff, signals, strings.
 */
#ifndef VOLMGR_COMMON_UTIL_H
#define VOLMGR_COMMON_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Random uuid4 in canonical form: out gets 36 characters and a NUL. */
void util_uuid4(char out[37]);
/* Random 32-hex-digit id (a uuid4 without dashes), as oslo's _unique_id and _msg_id. */
void util_hex_id(char out[33]);
/* True if s is a canonical uuid (36 chars, hex and dashes at 8-4-4-4-12). */
bool util_is_uuid(const char *s);

/* Milliseconds on the monotonic clock. */
int64_t util_now_ms(void);
/* Microseconds on the monotonic clock, for durations shorter than a millisecond. */
int64_t util_now_us(void);
/* UTC wall time as "YYYY-MM-DDTHH:MM:SS.ffffff" (naive, as Python's isoformat()). */
void util_now_iso(char out[32]);
/* Microseconds since the epoch of the wall clock. */
int64_t util_wall_us(void);

/*
 * A thread's progress hook. Loops that may run long on behalf of one request (a volume copy,
 * an image transfer) call util_progress() once per buffer, so that a watchdog which judges a
 * thread by when it last did something sees a long but moving operation as alive and only a
 * stuck one as stale. The hook is per thread: a thread that set none (another thread running
 * the same copy code) reports nothing. fn must be cheap and async-signal-safe in spirit (no
 * lock, no log line); NULL removes the hook.
 */
void util_progress_hook(void (*fn)(void));
void util_progress(void);
/* Parses a naive UTC isoformat time ("YYYY-MM-DDTHH:MM:SS[.ffffff]", a space allowed for the
 * T) into microseconds since the epoch. Returns 0, or -1 when text is not one. */
__attribute__((warn_unused_result))
int util_iso_us(const char *text, int64_t *us);

/* Capped exponential backoff with full jitter: a delay in [base/2, min(cap, base*2^attempt)]. */
int util_backoff_ms(int attempt, int base_ms, int cap_ms);
/* Sleeps ms milliseconds, waking early when *stop becomes non-zero (checks every 100 ms). */
void util_sleep_ms(int ms, volatile sig_atomic_t *stop);

/*
 * Installs SIGINT/SIGTERM handlers that only increment *counter (a second signal means "exit
 * now": the handler calls _exit(1) when the count reaches 2), and ignores SIGPIPE.
 */
void util_install_signals(volatile sig_atomic_t *counter);

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, so that they reach the main
 * thread, which owns the stop sequence; a helper thread calls it first. */
void util_block_stop_signals(void);

/* Installs fn (or SIG_DFL / SIG_IGN) for sig with sigaction's flags and an empty mask. */
void util_handle_signal(int sig, void (*fn)(int), int flags);

/* Raises the soft limit of open files to at least want (up to the hard limit). Returns 0 when
 * the limit is at least want afterwards, -1 otherwise. */
int util_raise_nofile(long want);

/* Copies at most size-1 bytes and terminates; returns strlen(src) (truncated if >= size). */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/*
 * Copies text into out (outlen bytes, always NUL-terminated, cut when too long) with the
 * credentials it may carry replaced by "***", so that a line can be logged or shown:
 *   - the password of a URL's user information: "scheme://user:password@host" becomes
 *     "scheme://user:***@host" (the user name stays, to tell which account it was);
 *   - the value after a key whose name ends in "token" or "password" (case-insensitive),
 *     possibly quoted, followed by '=' or ':' ("X-Auth-Token: v", "password=v",
 *     "\"auth_token\": \"v\"", "?token=v"). The value ends at white space, a quote, '&',
 *     ',', ';' or '}'.
 * Anything else is copied as it is. out must not overlap text.
 */
void util_mask_secrets(const char *text, char *out, size_t outlen);

/* Parses a whole base-10 integer in [min, max]. Returns 0 or -1. */
__attribute__((warn_unused_result))
int util_parse_long(const char *s, long min, long max, long *out);

/* Parses a whole decimal number (as strtod reads it, finite) in [min, max]. Returns 0 or -1. */
__attribute__((warn_unused_result))
int util_parse_double(const char *s, double min, double max, double *out);

/*
 * Base64 (RFC 4648, with padding). util_base64_encode writes 4 * ((len + 2) / 3) characters
 * and a NUL into out, which must hold UTIL_BASE64_LEN(len) bytes. util_base64_decode decodes
 * text (whitespace is not allowed) into out, which must hold 3 * (strlen(text) / 4) bytes, and
 * sets *outlen. Returns 0, or -1 for text that is not base64.
 */
#define UTIL_BASE64_LEN(n) (4 * (((n) + 2) / 3) + 1)
void util_base64_encode(const void *data, size_t len, char *out);
__attribute__((warn_unused_result))
int util_base64_decode(const char *text, void *out, size_t *outlen);

/*
 * Fills *out with the socket address of a numeric IPv4 or IPv6 address and a port (no name
 * lookups: a listen address is an address). Returns 0, or -1 when host is neither.
 */
__attribute__((warn_unused_result))
int util_sockaddr(const char *host, int port, struct sockaddr_storage *out);

/*
 * Splits "host:port" ("[v6 address]:port" for IPv6) into host (hostlen bytes) and a port in
 * 1..65535. Returns 0, or -1 when text has not that form.
 */
__attribute__((warn_unused_result))
int util_host_port(const char *text, char *host, size_t hostlen, int *port);

#endif
