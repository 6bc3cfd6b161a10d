/*
 * compute.h - the manager's client of the compute API (Nova): the volume-extended external
 * event, as cinder/compute/nova.py sends it (cinder-behaviour.md §2.6).
 *
 * Blocking, bounded by [nova] timeout. Called outside any database transaction, so that no
 * row lock is held while the compute service answers.
 */
#ifndef VOLMGR_MANAGER_COMPUTE_H
#define VOLMGR_MANAGER_COMPUTE_H

#include <stddef.h>

#define COMPUTE_MAX_SERVERS 16

enum compute_status {
	COMPUTE_OK = 0,
	/* The request was accepted but at least one event came back with a code other than 200.
	 * Cinder only warns about this; a caller waiting for feedback treats it as a failure. */
	COMPUTE_EVENT_REJECTED = 1,
	/* No compute endpoint configured, transport error, non-2xx answer, or an answer that is
	 * not {"events": [...]} with a code on every event. */
	COMPUTE_FAILED = -1,
};

/*
 * POSTs {"events": [{"name": "volume-extended", "server_uuid": s, "tag": volume_id}, ...]},
 * one event per entry of servers (n <= COMPUTE_MAX_SERVERS), to
 * "<[nova] endpoint>/os-server-external-events" with X-OpenStack-Nova-API-Version 2.51 and,
 * when [nova] token is set, X-Auth-Token. err receives the reason of anything but COMPUTE_OK.
 */
__attribute__((warn_unused_result))
int compute_volume_extended(const char *const *servers, int n, const char *volume_id,
			    char *err, size_t errlen);

#endif
