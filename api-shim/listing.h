/*
 * listing.h - the volume list: Cinder's query parameters (filters status, name and
 * availability_zone, all_tenants and project_id for admins, sort / sort_key / sort_dir,
 * limit capped at SHIM_MAX_LIMIT, offset, marker, with_count from 3.45) and pagination (a
 * "next" link when the page is full). Pages are stable: id is always the last sort key.
 */
#ifndef VOLMGR_SHIM_LISTING_H
#define VOLMGR_SHIM_LISTING_H

#include <stdbool.h>

#include "common/db.h"
#include "api-shim/request.h"

#include <stddef.h>
#include <jansson.h>

/* Answers the list on r: summaries ({id, name, links}), or full volumes when detail. A bad
 * parameter is answered 400, an unknown marker 404. */
void listing_volumes(struct shim_request *r, bool detail);

/* The pieces every list shares (the attachments' too). */

/* A sort key as the API names it, and the SQL expression it orders by. */
struct listing_sort_key {
	const char *api;
	const char *column;
};

/* A page's ordering and bounds, as read from the query. */
struct listing_page {
	char order[256];            /* the ORDER BY clause, ending with the id column */
	bool order_has_id;
	const char *last_dir;
	int limit;                  /* at most SHIM_MAX_LIMIT */
	char limit_text[24], offset_text[24];
};

/*
 * Reads Cinder's sort parameters ("sort=k1:d1,k2" or sort_key/sort_dir; default created_at
 * desc) against keys[0..nkeys), limit (capped at SHIM_MAX_LIMIT) and offset, and appends
 * id_column as the last key so that pages are stable. Returns 0, or -1 with a 400 set.
 */
__attribute__((warn_unused_result))
int listing_page_parse(struct shim_request *r, const struct listing_sort_key *keys,
		       size_t nkeys, const char *id_column, struct listing_page *p);

/* A list's answer: {"<collection>": items} (items stolen) with "<collection>_links", the
 * next page after last_id, when the page of returned rows is full. NULL on allocation
 * failure. */
json_t *listing_result(struct shim_request *r, const char *collection, json_t *items,
		       bool detail, const struct listing_page *p, int returned,
		       const char *last_id);

/*
 * Checks a list's marker inside its transaction: runs marker_sql (nparams of params, whose
 * row exists when the marker names a row the caller may see) and, when it returns no row,
 * answers 404 "Marker <marker> could not be found." on r. Returns DB_OK when the marker is
 * there, TXN_FAULT with the 404 set, or db_exec's failure. params and marker stay the
 * caller's.
 */
__attribute__((warn_unused_result))
int listing_marker_check(db_conn *db, struct shim_request *r, const char *marker_sql,
			 int nparams, const char *const *params, const char *marker);

/* Writes the query keys in neither allowed nor ignored (NULL-ended) to bad, comma-separated.
 * Returns how many there are. */
int listing_unknown_keys(const struct shim_request *r, const char *const *allowed,
			 const char *const *ignored, char *bad, size_t badlen);

#endif
