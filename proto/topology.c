/*
 * topology.c - queue and routing-key names (docs/cinder.md §5.1).
 */
#include "proto/topology.h"

#include <stdio.h>
#include <string.h>

/* Formats into out; -1 when the result would not fit. */
#define FIT(out, size, ...) ((unsigned)snprintf(out, size, __VA_ARGS__) < (size) ? 0 : -1)

int proto_service_queues(const char *host, const char *backend, char out[3][PROTO_NAME_MAX])
{
	return FIT(out[0], PROTO_NAME_MAX, "%s", PROTO_TOPIC_VOLUME) |
	       FIT(out[1], PROTO_NAME_MAX, "%s.%s@%s", PROTO_TOPIC_VOLUME, host, backend) |
	       FIT(out[2], PROTO_NAME_MAX, "%s.%s@%s.%s", PROTO_TOPIC_VOLUME, host, backend, host);
}

/*
 * Cinder's client targets topic "cinder-volume.<host>@<backend>" and server "<host>"; the
 * RabbitMQ driver publishes a directed cast with routing key "<topic>.<server>".
 */
int proto_routing_key_for_volume_host(const char *volume_host, char *out, size_t outlen)
{
	size_t backend_len = strcspn(volume_host, "#");
	const char *at = memchr(volume_host, '@', backend_len);

	if (!at || outlen == 0 || backend_len > PROTO_NAME_MAX)
		return -1;
	return FIT(out, outlen, "%s.%.*s.%.*s", PROTO_TOPIC_VOLUME, (int)backend_len,
		   volume_host, (int)(at - volume_host), volume_host);
}

int proto_fanout_exchange(const char *topic, char *out, size_t outlen)
{
	return outlen == 0 ? -1 : FIT(out, outlen, "%s_fanout", topic);
}

int proto_fanout_queue(const char *topic, const char *hex, char *out, size_t outlen)
{
	return outlen == 0 ? -1 : FIT(out, outlen, "%s_fanout_%s", topic, hex);
}

int proto_journal_queue(const char *exchange, char *out, size_t outlen)
{
	return outlen == 0 ? -1 : FIT(out, outlen, "%s.journal", exchange);
}
