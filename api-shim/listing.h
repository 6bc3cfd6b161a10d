/*
 * listing.h - the volume list: Cinder's query parameters (filters status, name and
 * availability_zone, all_tenants and project_id for admins, sort / sort_key / sort_dir,
 * limit capped at SHIM_MAX_LIMIT, offset, marker, with_count from 3.45) and pagination (a
 * "next" link when the page is full). Pages are stable: id is always the last sort key.
 */
#ifndef VOLMGR_SHIM_LISTING_H
#define VOLMGR_SHIM_LISTING_H

#include <stdbool.h>

#include "api-shim/request.h"

/* Answers the list on r: summaries ({id, name, links}), or full volumes when detail. A bad
 * parameter is answered 400, an unknown marker 404. */
void listing_volumes(struct shim_request *r, bool detail);

#endif
