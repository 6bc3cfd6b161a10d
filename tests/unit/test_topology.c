/*
 * test_topology.c - queue names and directed-cast routing keys (docs/cinder.md §5.1).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "proto/topology.h"

Test(topology, service_queues)
{
	char q[3][PROTO_NAME_MAX];

	cr_assert(eq(int, proto_service_queues("node1", "filestore", q), 0));
	cr_expect(eq(str, q[0], "cinder-volume"));
	cr_expect(eq(str, q[1], "cinder-volume.node1@filestore"));
	cr_expect(eq(str, q[2], "cinder-volume.node1@filestore.node1"));
}

Test(topology, service_queues_too_long)
{
	char q[3][PROTO_NAME_MAX], host[PROTO_NAME_MAX];

	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	cr_expect(eq(int, proto_service_queues(host, "be", q), -1));
	host[300] = '\0'; /* [1] fits, [2] (host twice) does not */
	cr_expect(eq(int, proto_service_queues(host, "be", q), -1));
	host[100] = '\0';
	cr_expect(eq(int, proto_service_queues(host, "be", q), 0));
}

/* Criterion copies parameters into a freshly exec'd worker, so they hold no pointers. */
struct key_case {
	char host[48];
	char key[64]; /* "": -1 expected */
};

ParameterizedTestParameters(topology, routing_key)
{
	static struct key_case cases[] = {
		{ "node1@filestore#filestore", "cinder-volume.node1@filestore.node1" },
		{ "node1@filestore", "cinder-volume.node1@filestore.node1" },
		{ "node1@lvm#pool1", "cinder-volume.node1@lvm.node1" },
		{ "mycluster@lvm#pool#x", "cinder-volume.mycluster@lvm.mycluster" },
		{ "node1", "" },
		{ "node1#pool@x", "" },
		{ "", "" },
	};
	return cr_make_param_array(struct key_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct key_case *c, topology, routing_key)
{
	char key[PROTO_NAME_MAX];
	int rc = proto_routing_key_for_volume_host(c->host, key, sizeof(key));

	if (c->key[0]) {
		cr_assert(eq(int, rc, 0), "%s", c->host);
		cr_expect(eq(str, key, c->key));
	} else {
		cr_expect(eq(int, rc, -1), "%s", c->host);
	}
}

Test(topology, routing_key_buffer_too_small)
{
	char key[36]; /* "cinder-volume.node1@filestore.node1" is 35 characters */

	cr_expect(eq(int, proto_routing_key_for_volume_host("node1@filestore#p", key, 35), -1));
	cr_expect(eq(int, proto_routing_key_for_volume_host("node1@filestore#p", key, 36), 0));
	cr_expect(eq(int, proto_routing_key_for_volume_host("node1@filestore", key, 0), -1));
}

Test(topology, journal_queue_is_named_after_the_exchange)
{
	char out[PROTO_NAME_MAX];

	cr_assert_eq(proto_journal_queue("openstack", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "openstack.journal");
	cr_assert_eq(proto_journal_queue("openstack", out, 10), -1);
}

/* oslo.messaging's declare_fanout_consumer: '%s_fanout' and '%s_fanout_%s' % (topic, hex). */
Test(topology, fanout_names_are_oslos)
{
	char out[PROTO_NAME_MAX];

	cr_assert_eq(proto_fanout_exchange("cinder-volume", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "cinder-volume_fanout");
	cr_assert_eq(proto_fanout_queue("cinder-volume.n1@fs", "0123456789abcdef0123456789abcdef",
					out, sizeof(out)), 0);
	cr_assert_str_eq(out, "cinder-volume.n1@fs_fanout_0123456789abcdef0123456789abcdef");
	cr_assert_eq(proto_fanout_exchange("cinder-volume", out, 20), -1);
}
