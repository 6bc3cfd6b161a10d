/*
 * clients.c - connection records and the deadline sweeper (see clients.h).
 */
#include "api-shim/clients.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/util.h"

/* How often the sweeper looks: the resolution of the deadlines. */
#define CLIENTS_SWEEP_MS 250

struct client {
	bool used;
	bool shut;                /* shut down by the sweeper, waiting for the server to close */
	int fd;
	enum clients_phase phase;
	int64_t since_ms;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct client *table;
static int ntable;
static int64_t header_ms, body_ms;
static pthread_t sweeper;
static bool sweeper_started;
static atomic_int stopping;

static int64_t deadline_of(const struct client *c)
{
	switch (c->phase) {
	case CLIENTS_HEAD:
		return c->since_ms + header_ms;
	case CLIENTS_BODY:
		return c->since_ms + body_ms;
	case CLIENTS_WORKING:
		break;
	}
	return INT64_MAX;
}

static void *sweep_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		int64_t now = util_now_ms();
		int heads = 0, bodies = 0;

		pthread_mutex_lock(&lock);
		for (int i = 0; i < ntable; i++) {
			struct client *c = &table[i];

			if (!c->used || c->shut || now < deadline_of(c))
				continue;
			/* The fd stays the server's: it closes it after its CLOSED notification,
			 * which waits for this lock. */
			shutdown(c->fd, SHUT_RDWR);
			c->shut = true;
			heads += c->phase == CLIENTS_HEAD;
			bodies += c->phase == CLIENTS_BODY;
		}
		pthread_mutex_unlock(&lock);
		if (heads + bodies > 0)
			log_warning("closed %d connections whose request head and %d whose body did "
				    "not arrive in time", heads, bodies);
		util_sleep_ms(CLIENTS_SWEEP_MS, NULL);
	}
	return NULL;
}

int clients_start(int max_connections, int header_timeout_s, int body_timeout_s)
{
	table = calloc((size_t)max_connections, sizeof(*table));
	if (table == NULL) {
		log_error("cannot allocate the table of %d connections", max_connections);
		return -1;
	}
	ntable = max_connections;
	header_ms = (int64_t)header_timeout_s * 1000;
	body_ms = (int64_t)body_timeout_s * 1000;
	atomic_store(&stopping, 0);
	if (pthread_create(&sweeper, NULL, sweep_main, NULL) != 0) {
		log_error("cannot start the connection sweeper");
		clients_stop();
		return -1;
	}
	sweeper_started = true;
	return 0;
}

void clients_stop(void)
{
	atomic_store(&stopping, 1);
	if (sweeper_started)
		pthread_join(sweeper, NULL);
	sweeper_started = false;
	free(table);
	table = NULL;
	ntable = 0;
}

void clients_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct client *c = *socket_context;

	(void)cls;
	pthread_mutex_lock(&lock);
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c != NULL)
			c->used = false;
		*socket_context = NULL;
	} else {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		/* The server accepts no more connections than the table has records. */
		for (int i = 0; ci != NULL && i < ntable; i++) {
			if (!table[i].used) {
				table[i] = (struct client){ .used = true, .fd = ci->connect_fd,
							    .phase = CLIENTS_HEAD,
							    .since_ms = util_now_ms() };
				*socket_context = &table[i];
				break;
			}
		}
	}
	pthread_mutex_unlock(&lock);
}

void clients_phase(struct MHD_Connection *conn, enum clients_phase phase)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct client *c = ci != NULL ? ci->socket_context : NULL;

	if (c == NULL)
		return;
	pthread_mutex_lock(&lock);
	c->phase = phase;
	c->since_ms = util_now_ms();
	pthread_mutex_unlock(&lock);
}
