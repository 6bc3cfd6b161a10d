/*
 * clients.h - the shim's client connections and their deadlines, so that clients that trickle
 * a request (slowloris) cannot hold connections for ever.
 *
 * libmicrohttpd's own timeout is an idle timeout: a client that sends a byte a second is never
 * idle. This module keeps one record per connection (libmicrohttpd's connection notifications)
 * with the phase of its current request, and a sweeper thread shuts down (shutdown(2), so the
 * server sees the end of the stream and closes the connection itself) every connection past
 * its phase's deadline: the head of a request must arrive within [api] client_header_timeout
 * seconds of the connection or of the previous request's end, its body within
 * client_body_timeout seconds of the head. A request being handled, or waiting for a reply,
 * has no deadline here: its own waits are bounded.
 *
 * Thread-safe after clients_start.
 */
#ifndef VOLMGR_SHIM_CLIENTS_H
#define VOLMGR_SHIM_CLIENTS_H

#include <microhttpd.h>

enum clients_phase {
	CLIENTS_HEAD,      /* reading a request's head */
	CLIENTS_BODY,      /* reading its body */
	CLIENTS_WORKING,   /* handling it: no deadline */
};

/* Room for max_connections records, and the sweeper. Returns 0, or -1 after logging. */
__attribute__((warn_unused_result))
int clients_start(int max_connections, int header_timeout_s, int body_timeout_s);

/* Stops the sweeper and frees the table; only after the server stopped. */
void clients_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION's callback: a record per connection, in phase CLIENTS_HEAD. */
void clients_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		    enum MHD_ConnectionNotificationCode code);

/* Moves conn's current request to phase (its deadline restarts). */
void clients_phase(struct MHD_Connection *conn, enum clients_phase phase);

#endif
