"""The broker side of a test deployment: the wire contract of proto/ as Python builds it
(msgpack casts, oslo's JSON envelope), publishing with confirms, queue depths and consumers,
taking messages back (dead letters, what the shim cast to a capture queue, the notifications
the manager's relay published), and deleting the class's exchange and queues.

BrokerMixin expects of the class that composes it: transport_url, exchange, routing_key, rand,
service_queues and _queues (the queues to delete at tear-down), notification_topic and
_published (the notifications taken so far), and poll() and sql_value() methods.
"""

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import uuid

import msgpack   # Debian python3-msgpack
import pika      # Debian python3-pika

from harness_env import DLQ, HDR_ORIG_RK, REPO, stack_env_path

JSON = "application/json"
MSGPACK = "application/msgpack"

# ---------------------------------------------------------------------------------------
# msgpack casts (the wire contract of proto/)
# ---------------------------------------------------------------------------------------


def volume_primitive(volume_id, **data):
    """A Cinder Volume 1.9 versioned-object primitive; the manager reads the row by data.id."""
    d = {"id": volume_id}
    d.update(data)
    return {
        "versioned_object.name": "Volume",
        "versioned_object.namespace": "cinder",
        "versioned_object.version": "1.9",
        "versioned_object.data": d,
    }


def context_dict(user_id="user1", project_id="proj1", is_admin=False, roles=None,
                 request_id=None):
    """Every key of cinder.context.RequestContext.to_dict() (docs/cinder.md §6.2)."""
    roles = list(roles or (["admin"] if is_admin else ["member"]))
    return {
        "user": user_id, "user_id": user_id,
        "project_id": project_id, "project": project_id,
        "system_scope": None, "domain": None, "domain_id": None,
        "user_domain": None, "project_domain": None,
        "is_admin": is_admin, "read_only": False, "show_deleted": False,
        "auth_token": None,
        "request_id": request_id or "req-" + str(uuid.uuid4()),
        "global_request_id": None, "resource_uuid": None,
        "roles": roles,
        "user_identity": "%s %s - - -" % (user_id, project_id),
        "is_admin_project": True, "project_name": None, "read_deleted": "no",
        "remote_address": "127.0.0.1",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime()),
        "quota_class": None, "service_catalog": [],
        "message_resource_id": None, "message_resource_type": None, "message_action": None,
    }


def cast_message(method, args, version="3.0", unique_id=None, context=None):
    """The oslo.messaging inner message of a cast, as a dict (encode with pack())."""
    msg = {
        "method": method,
        "args": args,
        "version": version,
        "_unique_id": unique_id or uuid.uuid4().hex,
    }
    for key, value in (context or context_dict()).items():
        msg["_context_" + key] = value
    return msg


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def oslo_unwrap(body):
    """The inner message of oslo.messaging's JSON envelope."""
    outer = json.loads(body)
    if outer.get("oslo.version") != "2.0":
        raise ValueError("not an oslo 2.0 envelope: %r" % (outer,))
    return json.loads(outer["oslo.message"])


def oslo_body(msg):
    """oslo's serialize_msg: the envelope with the inner message as a JSON string."""
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(msg)}).encode()


def extend_cast(volume_id, new_size, reservations, unique_id=None, context=None):
    return cast_message("extend_volume",
                        {"volume": volume_primitive(volume_id), "new_size": new_size,
                         "reservations": list(reservations)},
                        version="3.0", unique_id=unique_id, context=context)


def completion_cast(volume_id, new_size, reservations, error, unique_id=None, context=None):
    return cast_message("extend_volume_completion",
                        {"volume": volume_primitive(volume_id), "new_size": new_size,
                         "reservations": list(reservations), "error": error},
                        version="3.19", unique_id=unique_id, context=context)


def pika_parameters(url):
    """pika's connection parameters for a transport URL, one per host of oslo.messaging's
    multi-host form ("amqp://u:p@h1:P1,u:p@h2:P2/vhost"; rabbit:// as well), in the order
    written: pika.BlockingConnection tries them in turn and keeps the first that answers, as
    the daemons do. A single-host URL gives a list of one."""
    _, rest = url.split("://", 1)
    hosts, _, vhost = rest.partition("/")
    params = []
    for host in hosts.split(","):
        p = pika.URLParameters("amqp://%s/%s" % (host, vhost))
        p.heartbeat = 0
        p.blocked_connection_timeout = 10
        p.socket_timeout = 10
        params.append(p)
    return params


def _text(value):
    """A header value as str (pika gives AMQP long strings as bytes)."""
    return value.decode() if isinstance(value, bytes) else value


# ---------------------------------------------------------------------------------------
# the class's exchange and queues
# ---------------------------------------------------------------------------------------

class BrokerMixin:
    """Publishing to, reading from and inspecting the class's exchange and queues."""

    @classmethod
    @contextlib.contextmanager
    def amqp(cls):
        """A fresh channel on a fresh connection (a failed passive declare closes a channel,
        so helpers never share one)."""
        conn = pika.BlockingConnection(pika_parameters(cls.transport_url))
        try:
            yield conn.channel()
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def broker_fault(self, start, end):
        """scripts/stack.sh's fault start for the block, its end after it. Only the test
        stack's own broker takes faults: with an external one the test is skipped."""
        def stack(command):
            return subprocess.run(
                [os.path.join(REPO, "scripts", "stack.sh"), command,
                 os.path.dirname(stack_env_path())], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)

        p = stack(start)
        if b"not this stack's" in p.stdout:
            self.skipTest("the broker is not the test stack's own")
        self.assertEqual(p.returncode, 0, p.stdout)
        try:
            yield
        finally:
            p = stack(end)
            self.assertEqual(p.returncode, 0, p.stdout)

    def broker_blocked(self):
        """RabbitMQ's memory alarm raised for the block: the broker stops reading from every
        connection that publishes (scripts/stack.sh broker-block), until the block ends."""
        return self.broker_fault("broker-block", "broker-unblock")

    def broker_rejecting_notifications(self):
        """For the block, the notification queues refuse every publish: a publisher with
        confirms gets a basic.nack (scripts/stack.sh broker-reject)."""
        return self.broker_fault("broker-reject", "broker-accept")

    @classmethod
    def _queue_state(cls, queue):
        """The broker's answer to a passive declare of queue, or None when it does not exist."""
        try:
            with cls.amqp() as ch:
                return ch.queue_declare(queue=queue, passive=True).method
        except pika.exceptions.ChannelClosedByBroker:
            return None

    @classmethod
    def queue_count(cls, queue):
        """Messages ready in queue, or None when the queue does not exist."""
        state = cls._queue_state(queue)
        return None if state is None else state.message_count

    @classmethod
    def consumer_count(cls, queue):
        """Consumers of queue, or None when the queue does not exist."""
        state = cls._queue_state(queue)
        return None if state is None else state.consumer_count

    @classmethod
    def _queues_exist(cls, queues=None):
        return all(cls.queue_count(q) is not None for q in (queues or cls.service_queues))

    # ---- publishing ----

    def publish(self, body, routing_key=None, exchange=None, unique_id=None,
                content_type=MSGPACK, headers=None):
        """Publishes raw bytes (or a dict, msgpack-encoded) with publisher confirms."""
        with self.amqp() as ch:
            ch.confirm_delivery()
            self._publish_on(ch, body, routing_key, exchange, unique_id, content_type, headers)

    def publish_many(self, bodies, routing_key=None):
        """Publishes each of bodies as publish() does, on one connection (a burst)."""
        with self.amqp() as ch:
            ch.confirm_delivery()
            for body in bodies:
                self._publish_on(ch, body, routing_key)

    def _publish_on(self, ch, body, routing_key=None, exchange=None, unique_id=None,
                    content_type=MSGPACK, headers=None):
        if isinstance(body, dict):
            if unique_id is None:
                unique_id = body.get("_unique_id")
            body = pack(body)
        props = pika.BasicProperties(content_type=content_type, delivery_mode=2,
                                     message_id=unique_id, headers=headers)
        ch.basic_publish(exchange=self.exchange if exchange is None else exchange,
                         routing_key=routing_key or self.routing_key, body=body,
                         properties=props, mandatory=True)

    # ---- calls ----

    def reply_queue(self):
        """A new queue named as oslo.messaging names reply queues, deleted at tear-down."""
        name = "reply_" + secrets.token_hex(16)
        with self.amqp() as ch:
            ch.queue_declare(queue=name, durable=False, auto_delete=False)
        type(self)._queues.append(name)
        return name

    def call_manager(self, msg, reply_q, content_type=MSGPACK, timeout=10):
        """Publishes msg (cast_message's dict) as a call answered to reply_q, in content_type
        (oslo's JSON envelope or msgpack), and waits for the reply, which must be the last one
        of this call. Returns (the reply's content type, the decoded reply)."""
        msg.setdefault("_msg_id", uuid.uuid4().hex)
        msg.update({"_reply_q": reply_q, "_timeout": None})
        body = oslo_body(msg) if content_type == JSON else pack(msg)
        self.publish(body, unique_id=msg["_unique_id"], content_type=content_type)
        props, got = self.poll(lambda: self.get_message(reply_q), timeout=timeout,
                               msg="a reply on %s" % reply_q)
        reply = oslo_unwrap(got) if props.content_type == JSON else unpack(got)
        self.assertEqual(reply["_msg_id"], msg["_msg_id"])
        self.assertTrue(reply["ending"])
        return props.content_type, reply

    # ---- taking messages ----

    def delete_queue(self, name):
        with self.amqp() as ch:
            ch.queue_delete(queue=name)

    def purge(self, queue):
        with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
            with self.amqp() as ch:
                ch.queue_purge(queue=queue)

    def get_message(self, queue):
        """(properties, body) of one message taken (acked) from queue, or None."""
        with self.amqp() as ch:
            method, props, body = ch.basic_get(queue=queue, auto_ack=True)
            if method is None:
                return None
            return props, body

    def published_notifications(self, timeout=15):
        """Every notification the relay published on the class's topic so far, in the order
        published: oslo's inner message of each (message_id, publisher_id, event_type,
        priority, payload, timestamp, ...), the AMQP properties under "_props" and the
        routing key under "_routing_key". Waits first until the outbox is empty, so that
        whatever committed before the call is among them."""
        self.poll(lambda: self.sql_value("SELECT count(*) FROM volmgr_notifications") == 0,
                  timeout=timeout, msg="the relay empties the outbox")
        published = type(self)._published
        if self.queue_count(self.notification_queue()) is None:
            return list(published)   # nothing was ever published: no queue yet
        with self.amqp() as ch:
            while True:
                method, props, body = ch.basic_get(queue=self.notification_queue(),
                                                   auto_ack=True)
                if method is None:
                    break
                envelope = json.loads(body)
                self.assertEqual(envelope["oslo.version"], "2.0")
                msg = json.loads(envelope["oslo.message"])
                msg["_props"] = props
                msg["_routing_key"] = method.routing_key
                published.append(msg)
        return list(published)

    @classmethod
    def notification_queue(cls, priority="info"):
        """The queue oslo's messagingv2 driver declares for the class's topic and priority
        (the relay declares it too, bound to the class's exchange)."""
        return "%s.%s" % (cls.notification_topic, priority)

    def take_matching(self, queue, match):
        """Takes messages from queue until match(properties, body) returns a truthy value,
        which is returned; the messages taken before it are discarded. None when the queue
        ran empty first."""
        while True:
            m = self.get_message(queue)
            if m is None:
                return None
            found = match(*m)
            if found:
                return found

    def take_dead_letter(self, body=None, contains=None):
        """(properties, body) of a dead letter that the manager of this class republished or
        that the broker dead-lettered from our queues (original routing key ours) and, when
        body is given, whose body equals it, when contains is given, whose body contains
        those bytes; None when there is none now. Other dead letters are discarded."""
        def ours(props, got):
            hdrs = props.headers or {}
            if _text(hdrs.get(HDR_ORIG_RK)) != self.routing_key and not self._x_death_ours(hdrs):
                return None
            if body is not None and got != body:
                return None
            if contains is not None and contains not in got:
                return None
            return props, got
        return self.take_matching(DLQ, ours)

    def wait_dead_letter(self, body=None, timeout=10):
        """Waits for a dead letter as take_dead_letter() finds it. Returns (properties, body)."""
        return self.poll(lambda: self.take_dead_letter(body), timeout=timeout,
                         msg="a dead letter from our manager in %s" % DLQ)

    def _x_death_ours(self, hdrs):
        for d in hdrs.get("x-death") or []:
            if self.routing_key in [_text(k) for k in d.get("routing-keys") or []]:
                return True
        return False

    def capture_queue(self, routing_key=None):
        """Declares a queue bound to our exchange with routing_key (default: the manager's
        directed key) so that a test can read back what the shim cast. Returns its name."""
        name = "it-capture-%s-%s" % (self.rand, secrets.token_hex(3))
        with self.amqp() as ch:
            ch.queue_declare(queue=name, durable=False, auto_delete=False)
            ch.queue_bind(queue=name, exchange=self.exchange,
                          routing_key=routing_key or self.routing_key)
        type(self)._queues.append(name)
        return name

    def captured(self, queue, method=None, timeout=10):
        """The first message in a capture queue (whose method is method, when given), decoded:
        (dict, raw body, properties)."""
        def decoded(props, body):
            msg = oslo_unwrap(body) if props.content_type == JSON else unpack(body)
            if method is None or msg.get("method") == method:
                return msg, body, props
            return None

        return self.poll(lambda: self.take_matching(queue, decoded), timeout=timeout,
                         msg="a %s cast in capture queue %s" % (method or "", queue))

    # ---- tear-down ----

    @classmethod
    def _delete_broker_objects(cls):
        """Deletes the class's queues and its exchange; a failure is reported, not raised."""
        if not getattr(cls, "exchange", None):
            return
        try:
            with cls.amqp() as ch:
                for q in cls._queues:
                    ch.queue_delete(queue=q)
                ch.exchange_delete(exchange=cls.exchange)
        except Exception as e:
            sys.stderr.write("harness: deleting exchange/queues failed: %s\n" % e)
