"""oslo.messaging's JSON wire format beside msgpack (issue 6): the manager decodes a body by
its content type, answers a call in the format the call came in, refuses a newer version than
it serves (3.20) as oslo's dispatcher does, and sends every call it dead-letters a failure
reply, so that the caller gets an error instead of a timeout.
"""

import json
import uuid

from harness import (DLQ, HDR_REASON, JSON, MSGPACK, StackTestCase, cast_message, context_dict,
                     oslo_body, volume_primitive)


class OsloJsonTest(StackTestCase):

    def setUp(self):
        super().setUp()
        self.purge(DLQ)
        self.reply_q = self.reply_queue()

    def call(self, method, args, version="3.0", content_type=JSON):
        """Publishes a call in content_type; returns (content type, decoded reply)."""
        msg = cast_message(method, args, version=version,
                           context=context_dict(self.USER, self.PROJECT))
        return self.call_manager(msg, self.reply_q, content_type)

    def test_json_cast_is_served(self):
        vid = self.insert_volume(status="creating")
        msg = cast_message("create_volume", {"volume": volume_primitive(vid),
                                             "request_spec": {}, "filter_properties": {},
                                             "allow_reschedule": True},
                           context=context_dict(self.USER, self.PROJECT))
        self.publish(oslo_body(msg), unique_id=msg["_unique_id"], content_type=JSON)
        self.wait_status(vid, "available")
        self.assertEqual(self.processed(msg["_unique_id"])[0][1], "created")
        self.assertIsNotNone(self.file_size(vid), "the backing file exists")

    def test_json_call_gets_a_json_reply(self):
        vid = self.insert_volume(file_gib=1)
        ctype, reply = self.call("initialize_connection",
                                 {"volume": volume_primitive(vid), "connector": {"host": "c1"}})
        self.assertEqual(ctype, JSON)
        self.assertIsNone(reply["failure"])
        self.assertEqual(reply["result"]["driver_volume_type"], "local")

    def test_json_call_failure_is_a_cinder_exception(self):
        vid = self.insert_volume(status="in-use", attach_status="attached")
        _, reply = self.call("attach_volume",
                             {"volume_id": vid, "volume": volume_primitive(vid),
                              "instance_uuid": str(uuid.uuid4()), "host_name": None,
                              "mountpoint": "/dev/vdb", "mode": "rw"}, version="3.3")
        failure = json.loads(reply["failure"])
        self.assertEqual(failure["module"], "cinder.exception")
        self.assertEqual(failure["class"], "InvalidVolume")
        self.assertEqual(failure["args"], [failure["message"]])

    def test_newer_version_is_refused_with_unsupported_version(self):
        vid = self.insert_volume()
        _, reply = self.call("initialize_connection",
                             {"volume": volume_primitive(vid), "connector": {"host": "c1"}},
                             version="3.99")
        failure = json.loads(reply["failure"])
        self.assertEqual((failure["module"], failure["class"]),
                         ("oslo_messaging.rpc.dispatcher", "UnsupportedVersion"))
        self.assertIn("3.99", failure["message"])
        props, _ = self.wait_dead_letter()
        self.assertIn("version", props.headers[HDR_REASON].lower())

    def test_newer_version_cast_is_dead_lettered(self):
        vid = self.insert_volume(status="creating")
        msg = cast_message("create_volume", {"volume": volume_primitive(vid)}, version="3.21")
        self.publish(oslo_body(msg), unique_id=msg["_unique_id"], content_type=JSON)
        props, _ = self.wait_dead_letter()
        self.assertIn("unsupported version", props.headers[HDR_REASON])
        self.assertEqual(self.status_of(vid), "creating")

    def test_dead_lettered_msgpack_call_gets_a_failure_reply(self):
        ctype, reply = self.call("initialize_connection", {"volume": "not a primitive"},
                                 content_type=MSGPACK)
        self.assertEqual(ctype, MSGPACK)
        failure = json.loads(reply["failure"])
        self.assertEqual(failure["class"], "InvalidInput")
        self.assertIn("args.volume", failure["message"])
        self.wait_dead_letter()

    def test_unknown_method_call_gets_no_such_method(self):
        _, reply = self.call("frobnicate", {})
        failure = json.loads(reply["failure"])
        self.assertEqual((failure["module"], failure["class"]),
                         ("oslo_messaging.rpc.dispatcher", "NoSuchMethod"))

    def test_unknown_content_type_is_dead_lettered(self):
        body = b'{"method": "create_volume"}'
        self.publish(body, content_type="text/plain")
        props, _ = self.wait_dead_letter(body=body)
        self.assertIn("text/plain", props.headers[HDR_REASON])

    def test_hostile_json_is_dead_lettered(self):
        deep = "[" * 100 + "]" * 100
        for body in (b"{not json", oslo_body({"method": "x", "args": json.loads(deep)}),
                     json.dumps({"oslo.version": "9.0", "oslo.message": "{}"}).encode()):
            self.publish(body, content_type=JSON)
            self.wait_dead_letter(body=body)
        self.assertTrue(self.manager_alive())

    def test_fanout_broadcast_is_acknowledged(self):
        """The scheduler's publish_service_capabilities arrives on the fanout exchanges of both
        topics the service listens on, is taken off the queue, and wakes the capability report.
        A broadcast is not recorded by its _unique_id (every service gets the same one)."""
        for exchange in ("cinder-volume_fanout", "cinder-volume.%s_fanout" % self.service_host):
            msg = cast_message("publish_service_capabilities", {},
                               context=context_dict(self.USER, self.PROJECT))
            self.publish(oslo_body(msg), exchange=exchange, routing_key="cinder-volume",
                         unique_id=msg["_unique_id"], content_type=JSON)
            handled = "publish_service_capabilities: reported (message %s)" % msg["_unique_id"]
            self.poll(lambda: handled in self.log_text("volume-manager"), timeout=10,
                      msg="broadcast via %s handled" % exchange)
            self.assertEqual(self.processed(msg["_unique_id"]), [])


class ShimJsonTest(StackTestCase):
    """[api] rpc_wire_format = json: the shim casts and calls in oslo's JSON, as a real
    cinder-volume would need them, and reads the JSON replies."""
    rpc_wire_format = "json"

    def test_casts_and_calls_in_json(self):
        capture = self.capture_queue()
        vid = self.create_volume()
        msg, _, props = self.captured(capture, method="create_volume")
        self.assertEqual(props.content_type, JSON)
        self.assertEqual(msg["args"]["volume"]["versioned_object.data"]["id"], vid)
        st, _, doc = self.action(vid, {"os-initialize_connection":
                                       {"connector": {"host": "compute1"}}})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["connection_info"]["driver_volume_type"], "local")
        msg, _, props = self.captured(capture, method="initialize_connection")
        self.assertEqual(props.content_type, JSON)
        self.assertTrue(msg["_reply_q"].startswith("reply_"))
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.wait_status(vid, "available")
        self.assertEqual(self.volume_row(vid)["size"], 2)
