/*
 * cast.h - building and publishing a volume RPC cast from inside a handler's transaction.
 *
 * The message is oslo's inner message (proto/msg.h) encoded as msgpack: method and version
 * from the method table (proto_method_get), the request context, and args with "volume" =
 * the Volume primitive of the row as it stands in the transaction (read after the handler's
 * updates), plus the method's other arguments. It is published to control_exchange with the
 * routing key of the volume's backend (proto_routing_key_for_volume_host), content type
 * application/msgpack, message_id = _unique_id, persistent, mandatory.
 */
#ifndef VOLMGR_SHIM_CAST_H
#define VOLMGR_SHIM_CAST_H

#include <stdbool.h>
#include "common/db.h"
#include "proto/schema.h"
#include "api-shim/txn.h"

/* The arguments besides "volume", per method; unused fields are ignored. */
struct cast_args {
	int new_size;                      /* extend_volume, extend_volume_completion */
	const char *const *reservations;   /* ditto */
	int nreservations;
	bool error;                        /* extend_volume_completion */
};

/*
 * Inside t's transaction: reads volume_id, builds the cast of method with args and publishes
 * it. Returns DB_OK once the broker confirmed (t->published is then set), TXN_FAULT with a 503
 * fault set when the message could not be built, routed or confirmed, or a negative db
 * status.
 */
__attribute__((warn_unused_result))
int cast_volume(struct txn_ctx *t, db_conn *db, enum proto_method_id method,
		const char *volume_id, const struct cast_args *args);

#endif
