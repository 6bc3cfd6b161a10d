/*
 * metrics.c - the cells of the metrics table and their rendering (metrics.h).
 *
 * Layout: a slot is every metric's cells one after the other; a metric's cells are its
 * series one after the other; a series is one cell (counter, gauge) or, for a histogram,
 * one cell per bucket (+Inf last; not cumulative, so that an observation is one add), then
 * the sum. The count is the sum of the buckets, so _count always equals the +Inf bucket.
 */
#include "common/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "the cells are shared between processes: their atomics must be lock-free");

typedef _Atomic uint64_t metrics_cell;

static const struct metrics_def *m_defs;
static size_t m_ndefs;
static size_t *m_offset;        /* first cell of each metric in a slot */
static size_t *m_nseries;
static size_t m_slot_cells;     /* cells of one slot */
static int m_nslots;
static size_t m_map_len;
static metrics_cell *m_cells;   /* the mapping: m_nslots slots */
static metrics_cell *m_mine;    /* this process's slot */

static size_t metrics_series_cells(const struct metrics_def *d)
{
	return d->type == METRICS_HISTOGRAM ? d->nbuckets + 2 : 1;
}

/* Checks one row of the table. */
static int metrics_check_def(const struct metrics_def *d)
{
	if (d->name == NULL || d->help == NULL)
		return -1;
	for (int l = 0; l < METRICS_LABELS_MAX && d->labels[l].name != NULL; l++)
		if (d->labels[l].n == 0 || d->labels[l].values == NULL ||
		    (d->labels[l].name2 != NULL && d->labels[l].values2 == NULL))
			return -1;
	if (d->type != METRICS_HISTOGRAM)
		return 0;
	if (d->nbuckets == 0 || d->nbuckets > METRICS_BUCKETS_MAX || d->buckets == NULL)
		return -1;
	for (size_t b = 1; b < d->nbuckets; b++)
		if (!(d->buckets[b] > d->buckets[b - 1]))
			return -1;
	return 0;
}

int metrics_init(const struct metrics_def *defs, size_t n, int nslots)
{
	if (nslots < 1 || nslots > METRICS_SLOTS_MAX)
		return -1;
	m_offset = calloc(n, sizeof(*m_offset));
	m_nseries = calloc(n, sizeof(*m_nseries));
	if (m_offset == NULL || m_nseries == NULL)
		goto fail;
	m_slot_cells = 0;
	for (size_t i = 0; i < n; i++) {
		if (metrics_check_def(&defs[i]) != 0) {
			log_error("metrics: the row of %s is not valid",
				  defs[i].name != NULL ? defs[i].name : "(unnamed)");
			goto fail;
		}
		m_nseries[i] = 1;
		for (int l = 0; l < METRICS_LABELS_MAX && defs[i].labels[l].name != NULL; l++)
			m_nseries[i] *= defs[i].labels[l].n;
		m_offset[i] = m_slot_cells;
		m_slot_cells += m_nseries[i] * metrics_series_cells(&defs[i]);
	}
	m_map_len = m_slot_cells * (size_t)nslots * sizeof(metrics_cell);
	/* Shared and anonymous: worker processes forked after this write into the same pages
	 * (zero-filled by the kernel). */
	void *p = mmap(NULL, m_map_len > 0 ? m_map_len : 1, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_error("metrics: cannot map %zu bytes of counters", m_map_len);
		goto fail;
	}
	m_cells = p;
	m_mine = m_cells;
	m_defs = defs;
	m_ndefs = n;
	m_nslots = nslots;
	return 0;
fail:
	free(m_offset);
	free(m_nseries);
	m_offset = m_nseries = NULL;
	return -1;
}

void metrics_free(void)
{
	if (m_cells != NULL)
		munmap(m_cells, m_map_len > 0 ? m_map_len : 1);
	free(m_offset);
	free(m_nseries);
	m_cells = m_mine = NULL;
	m_offset = m_nseries = NULL;
	m_defs = NULL;
	m_ndefs = 0;
	m_nslots = 0;
}

void metrics_set_slot(int slot)
{
	if (m_cells != NULL && slot >= 0 && slot < m_nslots)
		m_mine = m_cells + (size_t)slot * m_slot_cells;
}

int metrics_slots(void)
{
	return m_nslots;
}

/* A value index within its dimension's list; out of range is the list's last value. */
static size_t metrics_clamp(const struct metrics_label *l, size_t i)
{
	return l->name == NULL ? 0 : i < l->n ? i : l->n - 1;
}

size_t metrics_series(int metric, size_t i0, size_t i1, size_t i2)
{
	if (m_defs == NULL || metric < 0 || (size_t)metric >= m_ndefs)
		return 0;
	const struct metrics_label *l = m_defs[metric].labels;

	return metrics_clamp(&l[0], i0) + (l[0].name != NULL ? l[0].n : 1) *
	       (metrics_clamp(&l[1], i1) + (l[1].name != NULL ? l[1].n : 1) *
		metrics_clamp(&l[2], i2));
}

/* The first cell of a series of this process's slot, or NULL when there is none. */
static metrics_cell *metrics_cell_of(metrics_cell *slot, int metric, size_t series)
{
	if (slot == NULL || metric < 0 || (size_t)metric >= m_ndefs ||
	    series >= m_nseries[metric])
		return NULL;
	return slot + m_offset[metric] + series * metrics_series_cells(&m_defs[metric]);
}

void metrics_add(int metric, size_t series, uint64_t n)
{
	metrics_cell *c = metrics_cell_of(m_mine, metric, series);

	if (c != NULL)
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void metrics_set(int metric, size_t series, int64_t value)
{
	metrics_cell *c = metrics_cell_of(m_mine, metric, series);

	if (c != NULL)
		atomic_store_explicit(c, (uint64_t)value, memory_order_relaxed);
}

void metrics_observe(int metric, size_t series, uint64_t value)
{
	metrics_cell *c = metrics_cell_of(m_mine, metric, series);

	if (c == NULL || m_defs[metric].type != METRICS_HISTOGRAM)
		return;
	const struct metrics_def *d = &m_defs[metric];
	double v = (double)value * (d->scale > 0 ? d->scale : 1.0);
	size_t b = 0;

	while (b < d->nbuckets && v > d->buckets[b])
		b++;
	atomic_fetch_add_explicit(&c[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c[d->nbuckets + 1], value, memory_order_relaxed);
}

int64_t metrics_slot_value(int metric, size_t series, int slot)
{
	if (slot < 0 || slot >= m_nslots)
		return 0;
	metrics_cell *c = metrics_cell_of(m_cells + (size_t)slot * m_slot_cells, metric, series);

	return c != NULL ? (int64_t)atomic_load_explicit(c, memory_order_relaxed) : 0;
}

/* The sum over the slots of one cell (at a metric's cell index). */
static uint64_t metrics_sum(size_t cell)
{
	uint64_t sum = 0;

	for (int s = 0; s < m_nslots; s++)
		sum += atomic_load_explicit(&m_cells[(size_t)s * m_slot_cells + cell],
					    memory_order_relaxed);
	return sum;
}

/* Writes text with the escapes of a HELP line (backslash, newline), or of a label value as
 * well (double quote). */
static void metrics_escape(FILE *f, const char *text, bool label)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '"' && label)
			fputs("\\\"", f);
		else
			fputc(*p, f);
	}
}

static void metrics_label_pair(FILE *f, bool *first, const char *name, const char *value)
{
	fprintf(f, "%s%s=\"", *first ? "" : ",", name);
	metrics_escape(f, value, true);
	fputc('"', f);
	*first = false;
}

/* Writes "name{labels}" of a series, with an extra le label for a bucket when le is set. */
static void metrics_series_name(FILE *f, const struct metrics_def *d, const char *suffix,
				size_t series, const char *le)
{
	bool first = true;
	size_t rest = series;

	fprintf(f, "%s%s", d->name, suffix);
	if (d->labels[0].name == NULL && le == NULL)
		return;
	fputc('{', f);
	for (int l = 0; l < METRICS_LABELS_MAX && d->labels[l].name != NULL; l++) {
		const struct metrics_label *lab = &d->labels[l];
		size_t i = rest % lab->n;

		rest /= lab->n;
		metrics_label_pair(f, &first, lab->name, lab->values[i]);
		if (lab->name2 != NULL)
			metrics_label_pair(f, &first, lab->name2, lab->values2[i]);
	}
	if (le != NULL)
		metrics_label_pair(f, &first, "le", le);
	fputc('}', f);
}

static void metrics_render_histogram(FILE *f, const struct metrics_def *d, size_t base,
				     size_t series)
{
	size_t cell = base + series * metrics_series_cells(d);
	uint64_t cumulative = 0;
	char le[32];

	for (size_t b = 0; b <= d->nbuckets; b++) {
		cumulative += metrics_sum(cell + b);
		if (b < d->nbuckets)
			snprintf(le, sizeof(le), "%.15g", d->buckets[b]);
		else
			snprintf(le, sizeof(le), "+Inf");
		metrics_series_name(f, d, "_bucket", series, le);
		fprintf(f, " %" PRIu64 "\n", cumulative);
	}
	metrics_series_name(f, d, "_sum", series, NULL);
	fprintf(f, " %.15g\n", (double)metrics_sum(cell + d->nbuckets + 1) *
		(d->scale > 0 ? d->scale : 1.0));
	metrics_series_name(f, d, "_count", series, NULL);
	fprintf(f, " %" PRIu64 "\n", cumulative);
}

char *metrics_render(size_t *len)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < m_ndefs; i++) {
		const struct metrics_def *d = &m_defs[i];

		fprintf(f, "# HELP %s ", d->name);
		metrics_escape(f, d->help, false);
		fprintf(f, "\n# TYPE %s %s\n", d->name, types[d->type]);
		for (size_t s = 0; s < m_nseries[i]; s++) {
			if (d->type == METRICS_HISTOGRAM) {
				metrics_render_histogram(f, d, m_offset[i], s);
				continue;
			}
			metrics_series_name(f, d, "", s, NULL);
			uint64_t v = metrics_sum(m_offset[i] + s);
			if (d->type == METRICS_GAUGE)
				fprintf(f, " %" PRId64 "\n", (int64_t)v);
			else
				fprintf(f, " %" PRIu64 "\n", v);
		}
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
