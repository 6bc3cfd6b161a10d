/*
 * offload.h - blocking work of a request (an outbound HTTP call to the compute API) run on a
 * few threads of its own, while the request is suspended: the server's threads never wait for
 * it.
 *
 * Jobs wait in a bounded queue; a full queue refuses new ones. At stop, queued jobs are
 * cancelled (their work sees cancelled = true and records why) and every request is woken,
 * since the server cannot stop with a request suspended.
 *
 * Thread-safe after offload_start.
 */
#ifndef VOLMGR_SHIM_OFFLOAD_H
#define VOLMGR_SHIM_OFFLOAD_H

#include <stdbool.h>
#include "api-shim/request.h"

/* The blocking work; cancelled when the shim stops before it could run. */
typedef void (*offload_work_fn)(void *arg, bool cancelled);

/* Starts threads workers with room for queue_max jobs. Returns 0, or -1 after logging. */
__attribute__((warn_unused_result))
int offload_start(int threads, int queue_max);

/*
 * Suspends r and queues work(arg); once it ran, r is woken and next(r) runs on a server
 * thread. Returns 0, or -1 (the queue is full or the shim stops) with r not suspended.
 */
__attribute__((warn_unused_result))
int offload_run(struct shim_request *r, offload_work_fn work, void *arg, req_resume_fn next);

/* Cancels what waits, finishes what runs, stops the threads. Before the server stops. */
void offload_stop(void);

#endif
