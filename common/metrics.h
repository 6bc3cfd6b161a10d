/*
 * metrics.h - Prometheus metrics: declared in a table, updated lock-free from any thread (and
 * any worker process), rendered in the text exposition format 0.0.4 at scrape time.
 *
 * A daemon declares its metrics once, as rows of struct metrics_def (name, help, type, label
 * dimensions, buckets), and refers to a metric by its row's index. Every label takes one of
 * a fixed list of values given with the row (a method of proto's table, an outcome of an
 * enum, a route of the shim's table), so the number of series is known at start-up: all the
 * cells are allocated once by metrics_init, and an update is an index computation and one
 * relaxed atomic add or store. Nothing is allocated, locked or formatted until a scrape.
 * A value index out of its list's range counts under the list's last value, which a daemon
 * makes its catch-all ("other", "unmatched").
 *
 * Why one shared mapping with a slot per process: with [manager] workers > 1 the manager is
 * a supervisor of forked workers, and the service must still show one set of figures on one
 * port. The cells live in a MAP_SHARED anonymous mapping made before the fork, with one slot
 * (a full copy of the cells) per process; each process writes only its own slot
 * (metrics_set_slot), so no two processes ever add to the same word, and a scrape, served by
 * whichever process listens, sums the slots. A worker restarted in the slot of one that died
 * goes on from its counters, so counters stay monotonic across restarts. C11 atomics on
 * lock-free 64-bit words work across processes sharing the memory.
 *
 * Histograms record integers in a unit of the caller's choice (scale converts it to the base
 * unit: 1e-6 for microseconds rendered as seconds) so that the sum is an atomic integer add.
 * Status convention: 0 / -1 for the fallible set-up calls; the updates cannot fail.
 */
#ifndef VOLMGR_COMMON_METRICS_H
#define VOLMGR_COMMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

#define METRICS_LABELS_MAX 3
#define METRICS_BUCKETS_MAX 20
/* The most slots (processes) one mapping holds. */
#define METRICS_SLOTS_MAX 64

/*
 * One label dimension: the label's name and the n values it can take. A dimension may carry
 * a second label (name2, values2[i] going with values[i]) for two labels that are one fact,
 * such as the method and the pattern of one route of a routing table.
 */
struct metrics_label {
	const char *name;
	const char *const *values;
	size_t n;
	const char *name2;              /* NULL: none */
	const char *const *values2;
};

/* One metric. labels[] ends at the first entry without a name. */
struct metrics_def {
	const char *name;
	const char *help;
	enum metrics_type type;
	struct metrics_label labels[METRICS_LABELS_MAX];
	const double *buckets;          /* a histogram's upper bounds in the base unit, ascending,
					 * without +Inf */
	size_t nbuckets;
	double scale;                   /* a histogram's recorded unit in the base unit; 0 = 1 */
};

/* The rows of the connection metrics both daemons serve under the same names, so that one
 * dashboard reads either: broker connections and database sessions made again after one was
 * lost or refused. */
#define METRICS_ROW_BROKER_RECONNECTS { "volmgr_broker_reconnects_total", \
	"Broker connections made again after one was lost or refused.", METRICS_COUNTER, \
	{ { 0 } }, NULL, 0, 0 }
#define METRICS_ROW_DATABASE_RECONNECTS { "volmgr_database_reconnects_total", \
	"Database sessions made again after one was lost or refused.", METRICS_COUNTER, \
	{ { 0 } }, NULL, 0, 0 }

/*
 * Makes the cells of the n metrics of defs (which must outlive every other call) for nslots
 * processes, zeroed, and makes slot 0 this process's. Call once, before any thread or
 * worker process is started. Returns 0, or -1 (a bad table, logged, or no memory).
 */
__attribute__((warn_unused_result))
int metrics_init(const struct metrics_def *defs, size_t n, int nslots);

/* Frees the cells (after every thread that updates them has stopped). */
void metrics_free(void);

/* Makes slot (in [0, nslots)) the one this process writes: a worker's first call. */
void metrics_set_slot(int slot);

/* The series of metric for the value indexes of its dimensions (unused ones 0). */
size_t metrics_series(int metric, size_t i0, size_t i1, size_t i2);

/* Adds n to a counter's (or gauge's) series. A no-op before metrics_init. */
void metrics_add(int metric, size_t series, uint64_t n);

/* Sets a gauge's series in this process's slot. */
void metrics_set(int metric, size_t series, int64_t value);

/* Records value (in the histogram's recorded unit) in a histogram's series. */
void metrics_observe(int metric, size_t series, uint64_t value);

/* A gauge's value in one slot (what a process set there), for a health check. */
int64_t metrics_slot_value(int metric, size_t series, int slot);

/* The number of slots metrics_init made (0 before it). */
int metrics_slots(void);

/*
 * Renders every metric, summed over the slots, in the text exposition format 0.0.4 into a
 * new NUL-terminated buffer (the caller frees it) and its length in *len. Returns NULL when
 * memory ran out.
 */
__attribute__((warn_unused_result))
char *metrics_render(size_t *len);

/* The content type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
