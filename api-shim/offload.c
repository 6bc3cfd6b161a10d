/*
 * offload.c - the offload pools: threads and their queues (see offload.h).
 */
#include "api-shim/offload.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/log.h"

struct job {
	struct shim_request *r;
	offload_work_fn work;
	void *arg;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue;      /* a ring of cap jobs */
	int cap, head, count;
	bool stopping;
	pthread_t *threads;
	int nthreads;
};

static struct pool pools[OFFLOAD_NPOOLS] = {
	[OFFLOAD_COMPUTE] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER },
	[OFFLOAD_AUTH] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER },
	[OFFLOAD_IMAGE] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER },
	[OFFLOAD_CASTS] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER },
};

static void *offload_main(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		struct job j;
		bool cancelled;

		pthread_mutex_lock(&p->lock);
		while (p->count == 0 && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->count == 0) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		j = p->queue[p->head];
		p->head = (p->head + 1) % p->cap;
		p->count--;
		cancelled = p->stopping;
		pthread_mutex_unlock(&p->lock);
		j.work(j.arg, cancelled);
		req_wake(j.r);
	}
}

/* Stops p's threads (they take every queued job, cancelled, before they end). */
static void pool_stop(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
	free(p->threads);
	p->threads = NULL;
	free(p->queue);
	p->queue = NULL;
	p->cap = p->head = p->count = 0;
}

int offload_start(enum offload_pool_id pool, int nthreads_want, int queue_max)
{
	struct pool *p = &pools[pool];

	p->queue = calloc((size_t)queue_max, sizeof(*p->queue));
	p->threads = calloc((size_t)nthreads_want, sizeof(*p->threads));
	if (p->queue == NULL || p->threads == NULL) {
		log_error("cannot allocate an offload queue");
		pool_stop(p);
		return -1;
	}
	p->cap = queue_max;
	p->stopping = false;
	for (p->nthreads = 0; p->nthreads < nthreads_want; p->nthreads++) {
		if (pthread_create(&p->threads[p->nthreads], NULL, offload_main, p) != 0) {
			log_error("cannot start the offload threads");
			pool_stop(p);
			return -1;
		}
	}
	return 0;
}

int offload_run(enum offload_pool_id pool, struct shim_request *r, offload_work_fn work,
		void *arg, req_resume_fn next)
{
	struct pool *p = &pools[pool];
	int rc = -1;

	pthread_mutex_lock(&p->lock);
	if (!p->stopping && p->count < p->cap) {
		/* Suspended before a thread can take the job and wake it. */
		req_suspend(r, next);
		p->queue[(p->head + p->count) % p->cap] = (struct job){ r, work, arg };
		p->count++;
		pthread_cond_signal(&p->cond);
		rc = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void offload_stop(void)
{
	for (int i = 0; i < OFFLOAD_NPOOLS; i++)
		pool_stop(&pools[i]);
}
