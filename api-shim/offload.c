/*
 * offload.c - the offload threads and their queue (see offload.h).
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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct job *queue;      /* a ring of cap jobs */
static int cap, head, count;
static bool stopping;
static pthread_t *threads;
static int nthreads;

static void *offload_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct job j;
		bool cancelled;

		pthread_mutex_lock(&lock);
		while (count == 0 && !stopping)
			pthread_cond_wait(&cond, &lock);
		if (count == 0) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		j = queue[head];
		head = (head + 1) % cap;
		count--;
		cancelled = stopping;
		pthread_mutex_unlock(&lock);
		j.work(j.arg, cancelled);
		req_wake(j.r);
	}
}

int offload_start(int nthreads_want, int queue_max)
{
	queue = calloc((size_t)queue_max, sizeof(*queue));
	threads = calloc((size_t)nthreads_want, sizeof(*threads));
	if (queue == NULL || threads == NULL) {
		log_error("cannot allocate the offload queue");
		offload_stop();
		return -1;
	}
	cap = queue_max;
	for (nthreads = 0; nthreads < nthreads_want; nthreads++) {
		if (pthread_create(&threads[nthreads], NULL, offload_main, NULL) != 0) {
			log_error("cannot start the offload threads");
			offload_stop();
			return -1;
		}
	}
	return 0;
}

int offload_run(struct shim_request *r, offload_work_fn work, void *arg, req_resume_fn next)
{
	int rc = -1;

	pthread_mutex_lock(&lock);
	if (!stopping && count < cap) {
		/* Suspended before a thread can take the job and wake it. */
		req_suspend(r, next);
		queue[(head + count) % cap] = (struct job){ r, work, arg };
		count++;
		pthread_cond_signal(&cond);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void offload_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	/* The threads take every queued job (cancelled) before they end. */
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	nthreads = 0;
	free(threads);
	threads = NULL;
	free(queue);
	queue = NULL;
	cap = head = count = 0;
}
