"""The exact requests Nova's Cinder client (its volume API module) makes through the attachments
API, at the microversion it pins (3.44): attach of a multiattach volume to two servers, a
swap-like re-attach of one server to another host (as live migration does: a new attachment,
then the old one deleted), and the detaches, with the compute stand-in answering the 409 guard
of bug 2004555. Rows and statuses are asserted after every step. Also both front doors on one
volume: legacy attach then DELETE /attachments, attachments API then legacy detach. And an
online extend of a volume attached this way, through the compute feedback loop.
"""

import json
import uuid

from harness import GIB
from test_attachments import AttachmentsCase, SERVICE

NOVA = "3.44"


def connector(host):
    """The host connector os-brick gives Nova, with the mountpoint Nova adds to it."""
    return {"platform": "x86_64", "os_type": "linux", "ip": "127.0.0.1", "host": host,
            "multipath": False, "initiator": "iqn.1993-08.org.debian:01:" + host,
            "do_local_attach": False, "mountpoint": "/dev/vdb"}


class NovaSequenceTest(AttachmentsCase):

    def live(self, vid):
        """{attachment id: (instance, attach_status, host, mode)} of the live rows."""
        rows = self.sql("SELECT id, instance_uuid, attach_status, attached_host, attach_mode "
                        "FROM volume_attachment WHERE volume_id = %s AND NOT deleted", (vid,))
        return {r[0]: tuple(r[1:]) for r in rows}

    def nova_attach(self, vid, server, host, service=True):
        """nova-api: attachment_create (no connector); compute: attachment_update with the
        host connector and mountpoint, then attachment_complete. Returns the attachment."""
        headers = SERVICE if service else None
        a = self.create(vid, server, version=NOVA, headers=headers)
        self.assertEqual(self.live(vid)[a["id"]][:2], (server, "reserved"))
        self.assertEqual(self.volume_row(vid)["status"], "reserved")
        u = self.update(a["id"], connector(host), version=NOVA, headers=headers)
        info = u["connection_info"]
        self.assertEqual((info["driver_volume_type"], info["attachment_id"]),
                         ("local", a["id"]))
        self.assertEqual(info["device_path"], self.backing_file(vid))
        self.assertEqual(self.live(vid)[a["id"]], (server, "attaching", host, "rw"))
        self.assertEqual(self.volume_row(vid)["status"], "attaching")
        stored = self.sql_value("SELECT connection_info FROM volume_attachment WHERE id = %s",
                                (a["id"],))
        self.assertEqual(json.loads(stored)["attachment_id"], a["id"])
        self.complete_att(a["id"], version=NOVA, headers=headers)
        self.assertEqual(self.live(vid)[a["id"]][1], "attached")
        self.assertEqual(self.statuses(vid), ("in-use", "attached"))
        return a["id"]

    def test_multiattach_two_servers_reattach_detach(self):
        vid = self.create_volume(volume_type=self.multiattach_type())
        st, _, doc = self.http("GET", self.vpath(vid), version="3.48")
        self.assertEqual((st, doc["volume"]["multiattach"]), (200, True))
        server_a, server_b = str(uuid.uuid4()), str(uuid.uuid4())

        a1 = self.nova_attach(vid, server_a, "compute1")
        b1 = self.nova_attach(vid, server_b, "compute2")
        self.assertEqual(set(self.live(vid)), {a1, b1})
        shown = {x["attachment_id"]: x["server_id"] for x in self.get_volume(vid)["attachments"]}
        self.assertEqual(shown, {a1: server_a, b1: server_b})
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_connections WHERE "
                                        "volume_id = %s", (vid,)), 2)

        # server A moves to compute3: a new attachment for the same server, then the old one
        # deleted by the compute service (service token)
        a2 = self.nova_attach(vid, server_a, "compute3")
        self.assertEqual(set(self.live(vid)), {a1, b1, a2})
        doc = self.delete(a1, version=NOVA, headers=SERVICE)
        self.assertEqual({x["id"] for x in doc["attachments"]}, {b1, a2})
        self.assertEqual(set(self.live(vid)), {b1, a2})
        self.assertEqual(self.statuses(vid), ("in-use", "attached"))
        hosts = {r[0] for r in self.sql("SELECT host FROM volmgr_connections WHERE "
                                        "volume_id = %s", (vid,))}
        self.assertEqual(hosts, {"compute2", "compute3"})

        # a user's delete of B's attachment, which the compute service still uses: 409 and
        # nothing changes
        self.register(vid, server_b, b1)
        before = self.snapshot(vid)
        st, _, doc = self.att("DELETE", "/" + b1, version=NOVA)
        self.assertFault(st, doc, 409, None, "Detach volume from instance %s using the "
                         "Compute API" % server_b)
        self.assertEqual(self.snapshot(vid), before)
        # the compute service detaches B itself
        doc = self.delete(b1, version=NOVA, headers=SERVICE)
        self.assertEqual([x["id"] for x in doc["attachments"]], [a2])
        self.assertEqual(self.statuses(vid), ("in-use", "attached"))
        # and then A: the volume is free again
        doc = self.delete(a2, version=NOVA, headers=SERVICE)
        self.assertEqual(doc["attachments"], [])
        self.assertEqual(self.live(vid), {})
        self.assertEqual(self.statuses(vid), ("available", "detached"))
        self.assertNotIn("attached_mode", self.admin_md(vid))
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_connections WHERE "
                                        "volume_id = %s", (vid,)), 0)
        events = [n for n in ("attach.start", "detach.start", "detach.end")
                  if self.notifications(vid, "volume." + n)]
        self.assertEqual(events, ["attach.start", "detach.start", "detach.end"])

    def test_boot_from_volume_reservation_deleted(self):
        # nova-api reserves, the build fails before any host: the attachment is deleted
        # while only reserved (no call to the manager)
        vid = self.create_volume()
        a = self.create(vid, str(uuid.uuid4()), version=NOVA)
        doc = self.delete(a["id"], version=NOVA, headers=SERVICE)
        self.assertEqual(doc, {"attachments": []})
        self.assertEqual(self.statuses(vid), ("available", "detached"))

    def test_online_extend_of_an_attachment(self):
        # an in-use volume attached through the attachments API follows the compute feedback
        # loop: the server comes from the attachment's instance_uuid
        vid = self.create_volume()
        server = str(uuid.uuid4())
        self.nova_attach(vid, server, "compute1")
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, timeout=15,
                  msg="size 2 after the stand-in's completion")
        self.wait_status(vid, "in-use")
        events = [e for e in self.stub_events() if e.get("tag") == vid]
        self.assertEqual([(e["name"], e["server_uuid"]) for e in events],
                         [("volume-extended", server)])
        self.assertEqual(self.file_size(vid), 2 * GIB)

    def register(self, vid, server, aid):
        self.stub("POST", "/_fixture/attachments",
                  {"server_id": server, "volume_id": vid, "attachment_id": aid,
                   "project_id": self.PROJECT})


class FrontDoorsTest(AttachmentsCase):
    """A volume attached through one API is detached through the other."""

    def legacy(self, vid, name, params=None, code=202):
        st, _, doc = self.action(vid, {name: {} if params is None else params})
        self.assertEqual(st, code, "%s: %s %s" % (name, st, doc))
        return doc

    def test_legacy_attach_then_attachment_delete(self):
        vid = self.create_volume()
        self.legacy(vid, "os-reserve")
        self.legacy(vid, "os-initialize_connection", {"connector": connector("compute1")},
                    code=200)
        self.legacy(vid, "os-attach", {"instance_uuid": str(uuid.uuid4()),
                                       "mountpoint": "/dev/vdb"})
        aid = self.sql_value("SELECT id FROM volume_attachment WHERE volume_id = %s AND NOT "
                             "deleted", (vid,))
        st, _, doc = self.att("GET", "/" + aid)
        self.assertEqual((st, doc["attachment"]["status"]), (200, "attached"))
        self.delete(aid, headers=SERVICE)
        self.assertEqual(self.statuses(vid), ("available", "detached"))
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_connections WHERE "
                                        "volume_id = %s", (vid,)), 0)

    def test_attachments_api_then_legacy_detach(self):
        vid = self.create_volume()
        a = self.create(vid, str(uuid.uuid4()), connector=connector("compute1"))
        self.complete_att(a["id"])
        self.assertEqual(self.statuses(vid), ("in-use", "attached"))
        self.legacy(vid, "os-begin_detaching")
        self.legacy(vid, "os-terminate_connection", {"connector": connector("compute1")})
        self.legacy(vid, "os-detach", {"attachment_id": a["id"]})
        self.assertEqual(self.statuses(vid), ("available", "detached"))
        self.assertEqual(self.att_row(a["id"])[7], True)
        st, _, doc = self.att("GET", "/" + a["id"])
        self.assertEqual(st, 404, doc)
