"""Debian's python-cinderclient (9.1) drives the attachments API (issue 12): attachment-create
with and without a connector, attachment-list, attachment-show, attachment-update,
attachment-complete and attachment-delete, at microversions 3.27, 3.44 and 3.54; every step is
checked in the database too.
"""

import re
import uuid

from harness import StackTestCase
import test_cinderclient as cc

ROW = r"^\|\s*%s\s*\|\s*(\S+)\s*\|"


def field(out, name):
    """The value of row name of a table the CLI printed, or None."""
    m = re.search(ROW % re.escape(name), out, re.M)
    return m.group(1) if m else None


class AttachmentsCinderClientTest(StackTestCase):

    stub_auto_complete = True

    def cinder(self, version, *args, ok=True):
        return cc.run_cinder(self, *args, version=version, ok=ok)

    def att_row(self, aid):
        rows = self.sql("SELECT attach_status, attach_mode, attached_host, deleted, "
                        "connection_info FROM volume_attachment WHERE id = %s", (aid,))
        return rows[0]

    def statuses(self, vid):
        row = self.volume_row(vid)
        return row["status"], row["attach_status"]

    def lifecycle(self, version, mode=None):
        """create without a connector, list, show, update, complete (3.44+), delete."""
        vid = self.create_volume()
        server = str(uuid.uuid4())
        args = ["attachment-create", vid, server]
        if mode:
            args += ["--mode", mode]
        _, out = self.cinder(version, *args)
        aid = field(out, "id")
        self.assertIsNotNone(aid, out)
        self.assertEqual(field(out, "status"), "reserved")
        self.assertEqual(self.att_row(aid)[:2], ("reserved", mode or "null"))
        self.assertEqual(self.statuses(vid), ("reserved", "detached"))

        _, out = self.cinder(version, "attachment-list")
        self.assertIn(aid, out)
        self.assertIn(server, out)
        _, out = self.cinder(version, "attachment-list", "--volume-id", str(uuid.uuid4()))
        self.assertNotIn(aid, out)

        _, out = self.cinder(version, "attachment-update", "--host", "compute1",
                             "--ip", "127.0.0.1", "--mountpoint", "/dev/vdb", aid)
        self.assertEqual(field(out, "id"), aid)
        self.assertEqual(field(out, "driver_volume_type"), "local", out)
        status, mode_db, host, _, info = self.att_row(aid)
        self.assertEqual((status, host), ("attaching", "compute1"))
        self.assertIsNotNone(info)
        self.assertEqual(self.statuses(vid), ("attaching", "attaching"))

        _, out = self.cinder(version, "attachment-show", aid)
        self.assertEqual(field(out, "status"), "attaching")
        self.assertEqual(field(out, "driver_volume_type"), "local", out)

        if version >= "3.44":
            self.cinder(version, "attachment-complete", aid)
            self.assertEqual(self.att_row(aid)[0], "attached")
            self.assertEqual(self.statuses(vid), ("in-use", "attached"))
            self.assertEqual([a["attachment_id"] for a in self.get_volume(vid)["attachments"]],
                             [aid])
        else:
            rc, out = self.cinder(version, "attachment-complete", aid, ok=False)
            self.assertNotEqual(rc, 0, out)
            self.assertEqual(self.att_row(aid)[0], "attaching")

        self.cinder(version, "attachment-delete", aid)
        self.assertEqual(self.att_row(aid)[3], True)
        self.assertEqual(self.statuses(vid), ("available", "detached"))
        return vid

    def test_lifecycle_327(self):
        self.lifecycle("3.27")

    def test_lifecycle_344(self):
        self.lifecycle("3.44")

    def test_lifecycle_354_with_mode(self):
        self.lifecycle("3.54", mode="ro")

    def test_create_with_connector(self):
        vid = self.create_volume()
        _, out = self.cinder("3.54", "attachment-create", "--connect", "True",
                             "--host", "compute1", "--ip", "127.0.0.1", "--mountpoint",
                             "/dev/vdb", vid, str(uuid.uuid4()))
        aid = field(out, "id")
        self.assertEqual(field(out, "driver_volume_type"), "local", out)
        self.assertEqual(self.att_row(aid)[0], "attaching")
        self.cinder("3.54", "attachment-complete", aid)
        self.assertEqual(self.statuses(vid), ("in-use", "attached"))
        # the volume's owner is no compute service: the stand-in does not know the server,
        # so the 409 guard lets the delete through
        self.cinder("3.54", "attachment-delete", aid)
        self.assertEqual(self.statuses(vid), ("available", "detached"))
        rc, out = self.cinder("3.54", "attachment-show", aid, ok=False)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("could not be found", out)
