/*
 * topology.h - exchange, queue and routing-key names as oslo.messaging and Cinder form them.
 */
#ifndef VOLMGR_PROTO_TOPOLOGY_H
#define VOLMGR_PROTO_TOPOLOGY_H

#include <stddef.h>

#define PROTO_TOPIC_VOLUME "cinder-volume"
#define PROTO_DEFAULT_EXCHANGE "openstack"
#define PROTO_DLX "volmgr.dlx"
#define PROTO_DLQ "volmgr.dead-letter"
#define PROTO_HDR_REASON "x-volmgr-reason"
#define PROTO_HDR_ORIG_EXCHANGE "x-volmgr-original-exchange"
#define PROTO_HDR_ORIG_ROUTING_KEY "x-volmgr-original-routing-key"

/* Routing keys under this prefix name no service queue: volctl replay --from-journal writes a
 * message with one into the journal to find the journal's end. */
#define PROTO_JOURNAL_MARKER_PREFIX "volmgr.journal-marker."

/* Maximum length of any name these functions build, NUL included. */
#define PROTO_NAME_MAX 512

/*
 * The three queues a volume service for "<host>@<backend>" listens on, each bound to the
 * topic exchange with its own name as routing key:
 *   [0] "cinder-volume"
 *   [1] "cinder-volume.<host>@<backend>"
 *   [2] "cinder-volume.<host>@<backend>.<host>"
 * Returns 0, or -1 when a name would not fit PROTO_NAME_MAX.
 */
__attribute__((warn_unused_result))
int proto_service_queues(const char *host, const char *backend, char out[3][PROTO_NAME_MAX]);

/*
 * The routing key of a directed cast to the service that owns a volume whose host column is
 * volume_host ("<host>@<backend>#<pool>" or "<host>@<backend>"): the pool is dropped and the
 * key is "cinder-volume.<host>@<backend>.<host>". Returns 0, or -1 when volume_host has no
 * "@" or the key would not fit.
 */
__attribute__((warn_unused_result))
int proto_routing_key_for_volume_host(const char *volume_host, char *out, size_t outlen);

/*
 * oslo's fanout for topic: the exchange "<topic>_fanout" (type fanout) and a server's own
 * queue "<topic>_fanout_<hex>" bound to it, hex being 32 hex digits unique to the server.
 * Returns 0, or -1 when a name would not fit outlen.
 */
__attribute__((warn_unused_result))
int proto_fanout_exchange(const char *topic, char *out, size_t outlen);
__attribute__((warn_unused_result))
int proto_fanout_queue(const char *topic, const char *hex, char *out, size_t outlen);

/*
 * The journal of an exchange: the stream "<exchange>.journal", bound to it with "#", so that
 * every message crossing the exchange is kept for [journal] max_age / max_bytes.
 * Returns 0, or -1 when the name would not fit outlen.
 */
__attribute__((warn_unused_result))
int proto_journal_queue(const char *exchange, char *out, size_t outlen);

#endif
