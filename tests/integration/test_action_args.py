"""Actions declared by their row alone (api-shim/actions.c): os-set_bootable end to end, and
the argument spec's validators as Cinder's JSON schema answers (one validator per kind).
"""

from harness import StackTestCase

BOOLEAN_ENUM = ("[True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', "
                "'y', 't', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', "
                "'No', 'no', 'n', 'f']")


class SetBootableTest(StackTestCase):

    def set_bootable(self, vid, value, **kw):
        return self.action(vid, {"os-set_bootable": {"bootable": value}}, **kw)

    def bootable_row(self, vid):
        return self.sql_value("SELECT bootable FROM volumes WHERE id = %s", (vid,))

    def test_owner_sets_and_clears_the_flag(self):
        vid = self.create_volume()
        self.assertEqual(self.get_volume(vid)["bootable"], "false")
        before = self.sql_value("SELECT updated_at FROM volumes WHERE id = %s", (vid,))
        st, _, doc = self.set_bootable(vid, "True")
        self.assertEqual((st, doc), (200, None), "Cinder answers 200 with no body")
        self.assertIs(self.bootable_row(vid), True)
        self.assertEqual(self.get_volume(vid, admin=False)["bootable"], "true")
        self.assertGreater(self.sql_value("SELECT updated_at FROM volumes WHERE id = %s",
                                          (vid,)), before)
        # Every strict boolean of oslo, strings in any listed case and JSON booleans.
        for value, expected in (("off", False), ("Yes", True), (False, False), ("1", True),
                                ("n", False), (True, True)):
            st, _, _ = self.set_bootable(vid, value)
            self.assertEqual(st, 200, value)
            self.assertIs(self.bootable_row(vid), expected, value)
        # An API-only change: the status is untouched.
        self.assertEqual(self.status_of(vid), "available")

    def test_invalid_values_get_cinders_schema_messages(self):
        vid = self.create_volume()
        st, _, doc = self.set_bootable(vid, "maybe")
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid input for field/attribute bootable. Value: maybe. 'maybe' is "
                         "not one of " + BOOLEAN_ENUM)
        st, _, doc = self.set_bootable(vid, 5)
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid input for field/attribute bootable. Value: 5. 5 is not of "
                         "type 'boolean', 'string'")
        st, _, doc = self.action(vid, {"os-set_bootable": {}})
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid input for field/attribute os-set_bootable. Value: {}. "
                         "'bootable' is a required property")
        st, _, doc = self.action(vid, {"os-set_bootable": {"bootable": True, "x": 1}})
        self.assertFault(st, doc, 400, "badRequest",
                         "Additional properties are not allowed ('x' was unexpected)")
        st, _, doc = self.action(vid, {"os-set_bootable": None})
        self.assertFault(st, doc, 400, "badRequest", "None is not of type 'object'")
        self.assertIs(self.bootable_row(vid), False)

    def test_policy_and_state(self):
        vid = self.create_volume()
        # Another project's member does not even see the volume; an admin may change it.
        st, _, doc = self.set_bootable(vid, True, project="other", token="mallory:other")
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, _ = self.set_bootable(vid, True, project="other", token="admin:other")
        self.assertEqual(st, 200)
        self.assertIs(self.bootable_row(vid), True)
        # Cinder's update refuses a volume in maintenance.
        self.sql("UPDATE volumes SET status = 'maintenance' WHERE id = %s", (vid,))
        st, _, doc = self.set_bootable(vid, False)
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid volume: The volume cannot be updated during maintenance.")
        self.assertIs(self.bootable_row(vid), True)
        st, _, doc = self.set_bootable("00000000-0000-4000-8000-000000000000", True)
        self.assertFault(st, doc, 404, "itemNotFound")


class ActionArgsTest(StackTestCase):

    def test_readonly_shares_the_boolean_validator(self):
        vid = self.create_volume()
        st, _, doc = self.action(vid, {"os-update_readonly_flag": {"readonly": "maybe"}})
        self.assertFault(st, doc, 400, "badRequest", "'maybe' is not one of " + BOOLEAN_ENUM)
        st, _, _ = self.action(vid, {"os-update_readonly_flag": {"readonly": "TRUE"}})
        self.assertEqual(st, 202)
        self.assertEqual(self.admin_md(vid).get("readonly"), "True")

    def test_completion_error_that_is_no_boolean(self):
        vid = self.create_volume()
        st, _, doc = self.complete(vid, error="perhaps")
        self.assertFault(st, doc, 400, "badRequest",
                         "Value 'perhaps' for 'error' is not a boolean.")

    def test_unknown_action_and_malformed_bodies(self):
        vid = self.create_volume()
        st, _, doc = self.action(vid, {"os-no_such_thing": {}})
        self.assertFault(st, doc, 400, "badRequest", "There is no such action: os-no_such_thing")
        st, _, doc = self.action(vid, {"os-extend": {"new_size": 2}, "os-reserve": {}})
        self.assertFault(st, doc, 400, "badRequest", "Malformed request body")
        st, _, doc = self.action(vid, {"os-attach": {"mountpoint": "/dev/vdb",
                                                     "mode": "rx", "host_name": "h"}})
        self.assertFault(st, doc, 400, "badRequest", "'rx' is not one of ['rw', 'ro']")
