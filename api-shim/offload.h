/*
 * offload.h - blocking work of a request run on a few threads of its own, while the request
 * is suspended: the server's threads never wait for it.
 *
 * Three pools, each with its threads and its bounded queue, so that a slow remote service
 * delays only the requests that need it:
 *   OFFLOAD_COMPUTE  outbound HTTP calls to the compute API (the 409 guard of the detaches);
 *   OFFLOAD_AUTH     Keystone's validation of a token the shim's cache does not know;
 *   OFFLOAD_IMAGE    outbound HTTP calls to the image service (an image's lookup or
 *                    creation by the image actions and create from an image);
 *   OFFLOAD_CASTS    the transactions of requests that publish a cast: the transaction stays
 *                    open until the broker confirmed the cast (txn.h), and the row and quota
 *                    locks it holds make the requests of the same volume or project wait for
 *                    it; they wait here, on these threads, and never on a server thread.
 *
 * A full queue refuses new jobs. At stop, queued jobs are cancelled (their work sees
 * cancelled = true and records why) and every request is woken, since the server cannot stop
 * with a request suspended.
 *
 * Thread-safe after offload_start.
 */
#ifndef VOLMGR_SHIM_OFFLOAD_H
#define VOLMGR_SHIM_OFFLOAD_H

#include <stdbool.h>
#include "api-shim/request.h"

enum offload_pool_id {
	OFFLOAD_COMPUTE,
	OFFLOAD_AUTH,
	OFFLOAD_IMAGE,
	OFFLOAD_CASTS,
	OFFLOAD_NPOOLS
};

/* The blocking work; cancelled when the shim stops before it could run. */
typedef void (*offload_work_fn)(void *arg, bool cancelled);

/* Starts pool's threads workers with room for queue_max jobs. Returns 0, or -1 after
 * logging. */
__attribute__((warn_unused_result))
int offload_start(enum offload_pool_id pool, int threads, int queue_max);

/*
 * Suspends r and queues work(arg) on pool; once it ran, r is woken and next(r) runs on a
 * server thread. Returns 0, or -1 (the queue is full or the shim stops) with r not suspended.
 */
__attribute__((warn_unused_result))
int offload_run(enum offload_pool_id pool, struct shim_request *r, offload_work_fn work,
		void *arg, req_resume_fn next);

/* Cancels what waits, finishes what runs, stops the threads, of every pool. Before the server
 * stops. */
void offload_stop(void);

#endif
