"""Debian's python-cinderclient against the everyday calls (issue 15): rename, metadata,
summary, volume types and their extra specs, absolute limits and availability zones. Every
step is checked in the database too."""

import os
import re
import uuid

from harness import StackTestCase
from harness_cli import run_cli
import test_cinderclient

ROW = r"\|\s*%s\s*\|\s*%s\s*\|"


class EverydayCinderClientTest(StackTestCase):

    def cinder(self, *args, user=None, ok=True):
        return test_cinderclient.run_cinder(self, *args, user=user, ok=ok)

    def md_rows(self, vid):
        return dict(self.sql("SELECT key, value FROM volume_metadata WHERE volume_id = %s "
                             "AND NOT deleted", (vid,)))

    def test_rename_metadata_summary_show_list(self):
        vid = self.create_volume(size=2)
        self.cinder("rename", vid, "renamed", "--description", "by the client")
        self.assertEqual(tuple(self.sql("SELECT display_name, display_description FROM volumes "
                                        "WHERE id = %s", (vid,))[0]),
                         ("renamed", "by the client"))

        self.cinder("metadata", vid, "set", "a=1", "b=2")
        self.assertEqual(self.md_rows(vid), {"a": "1", "b": "2"})
        self.cinder("metadata", vid, "unset", "a")
        self.assertEqual(self.md_rows(vid), {"b": "2"})
        _, out = self.cinder("metadata-show", vid)
        self.assertRegex(out, ROW % ("b", "2"))
        self.cinder("metadata-update-all", vid, "c=3")
        self.assertEqual(self.md_rows(vid), {"c": "3"})

        _, out = self.cinder("show", vid)
        self.assertRegex(out, ROW % ("name", "renamed"))
        self.assertRegex(out, ROW % ("metadata", "c : 3"))
        _, out = self.cinder("list")
        self.assertIn("renamed", out)

        _, out = self.cinder("summary")
        self.assertRegex(out, ROW % ("total_count", "1"))
        self.assertRegex(out, ROW % ("total_size", "2"))

    def test_types_extra_specs_limits_zones(self):
        name = "cc-" + uuid.uuid4().hex[:8]
        _, out = self.cinder("type-create", name, "--description", "from the client",
                             user="admin")
        type_id = self.sql_value("SELECT id FROM volume_types WHERE name = %s AND NOT deleted",
                                 (name,))
        self.assertIsNotNone(type_id, out)
        self.cinder("type-key", name, "set", "volume_backend_name=filestore",
                    "multiattach=<is> True", user="admin")
        self.assertEqual(dict(self.sql(
            "SELECT key, value FROM volume_type_extra_specs WHERE volume_type_id = %s AND NOT "
            "deleted", (type_id,))), {"volume_backend_name": "filestore",
                                      "multiattach": "<is> True"})
        _, out = self.cinder("extra-specs-list", user="admin")
        self.assertIn("volume_backend_name", out)
        # A member lists the type and sees only the user-visible spec.
        _, out = self.cinder("type-list")
        self.assertIn(name, out)
        _, out = self.cinder("type-show", type_id)
        self.assertIn("multiattach", out)
        self.assertNotIn("volume_backend_name", out)
        rc, out = self.cinder("type-key", name, "set", "x=y", ok=False)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Policy doesn't allow volume_extension:types_extra_specs:create", out)

        self.cinder("type-key", name, "unset", "multiattach", user="admin")
        self.cinder("type-delete", name, user="admin")
        self.assertIsNone(self.sql_value("SELECT id FROM volume_types WHERE id = %s AND NOT "
                                         "deleted", (type_id,)))

        self.create_volume(size=1)
        _, out = self.cinder("absolute-limits")
        self.assertRegex(out, ROW % ("totalVolumesUsed", "1"))
        self.assertRegex(out, ROW % ("totalGigabytesUsed", "1"))
        self.assertTrue(re.search(ROW % ("maxTotalVolumes", r"\d+"), out), out)

        _, out = self.cinder("availability-zone-list")
        self.assertRegex(out, ROW % ("nova", "available"))

    def test_openstack_volume_set_name_and_property(self):
        """The openstack command (python3-openstackclient) with the caller's noauth token as
        an admin token and the shim as the endpoint."""
        vid = self.insert_volume()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({"OS_AUTH_TYPE": "admin_token",
                    "OS_TOKEN": "%s:%s" % (self.USER, self.PROJECT),
                    "OS_ENDPOINT": "%s/v3/%s" % (self.api_root, self.PROJECT),
                    "OS_VOLUME_API_VERSION": "3"})
        rc, out, err = run_cli("openstack", ["volume", "set", "--name", "osc-name",
                                             "--property", "k=v", "--description", "osc",
                                             vid], env, timeout=60)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(tuple(self.sql("SELECT display_name, display_description FROM volumes "
                                        "WHERE id = %s", (vid,))[0]), ("osc-name", "osc"))
        self.assertEqual(self.md_rows(vid), {"k": "v"})
