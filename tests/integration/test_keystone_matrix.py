"""The authorization matrix under auth_strategy keystone (issue 13), generated from the
shim's own tables (`bin/api-shim --print-api`): every route and every volume action, asked by
{no token, a member of the volume's project, a member of another project, an admin, the
compute service} with real Keystone tokens, gets the code its policy says.

A route or an action this file does not know fails the test, and so does an action whose
policy is not one of Cinder's rules listed here: a new action must declare its policy (and
this file its expected rule) before it ships.
"""

import os
import subprocess
import uuid

from harness_env import BIN
from harness_glance import GlanceMixin
from harness_keystone import KeystoneTestCase

CONNECTOR = {"host": "compute1", "ip": "127.0.0.1", "initiator": None}
CALLERS = ("none", "member", "other", "admin", "service")
# Who each caller is: the Keystone user, and whether it owns the target volume.
USER_OF = {"member": "demo", "other": "alt", "admin": "admin", "service": "nova"}

# Cinder's default rule of every policy an action may name (docs/cinder.md §4.5):
# "owner" is admin-or-owner, "admin" is admin_api.
POLICY_RULES = {
    "volume:extend": "owner",
    "volume:update_readonly_flag": "owner",
    "volume:update": "owner",
    "volume:retype": "owner",
    "volume_extension:volume_actions:reserve": "owner",
    "volume_extension:volume_actions:unreserve": "owner",
    "volume_extension:volume_actions:initialize_connection": "owner",
    "volume_extension:volume_actions:attach": "owner",
    "volume_extension:volume_actions:begin_detaching": "owner",
    "volume_extension:volume_actions:roll_detaching": "owner",
    "volume_extension:volume_actions:terminate_connection": "owner",
    "volume_extension:volume_actions:detach": "owner",
    "volume_extension:volume_admin_actions:extend_volume_completion": "admin",
    "volume_extension:volume_admin_actions:reset_status": "admin",
    "volume_extension:volume_admin_actions:force_detach": "admin",
    "volume_extension:volume_admin_actions:migrate_volume": "admin",
    "volume_extension:volume_admin_actions:migrate_volume_completion": "admin",
    "volume:attachment_complete": "owner",
    "volume_extension:volume_unmanage": "admin",
    "volume_extension:volume_image_metadata:set": "owner",
    "volume_extension:volume_image_metadata:remove": "owner",
    "volume:get_volume_metadata": "owner",
    "volume_extension:volume_actions:upload_image": "owner",
    "volume:reimage": "owner",
    "volume:revert_to_snapshot": "owner",
    "volume_extension:volume_admin_actions:force_delete": "admin",
    "volume_extension:snapshot_admin_actions:reset_status": "admin",
    "volume_extension:snapshot_admin_actions:force_delete": "admin",
    "snapshot_extension:snapshot_actions:update_snapshot_status": "owner",
}

# A body each action's parameters accept (the policy is checked after them).
ACTION_BODIES = {
    "os-extend": {"new_size": 2},
    "os-extend_volume_completion": {"error": True},
    "os-reset_status": {"status": "available"},
    "os-migrate_volume": {"host": "nowhere@filestore"},
    "os-migrate_volume_completion": {"new_volume": "{vid}"},
    "os-reserve": {},
    "os-unreserve": {},
    "os-initialize_connection": {"connector": CONNECTOR},
    "os-attach": {"instance_uuid": str(uuid.uuid4()), "mountpoint": "/dev/vdb"},
    "os-begin_detaching": {},
    "os-roll_detaching": {},
    "os-terminate_connection": {"connector": CONNECTOR},
    "os-detach": {"attachment_id": str(uuid.uuid4())},
    "os-force_detach": {"attachment_id": str(uuid.uuid4()), "connector": CONNECTOR},
    "os-update_readonly_flag": {"readonly": False},
    "os-set_bootable": {"bootable": False},
    "os-retype": {"new_type": "__DEFAULT__"},
    "os-complete": {},
    "os-unmanage": {},
    "os-set_image_metadata": {"metadata": {"k": "v"}},
    "os-unset_image_metadata": {"key": "k"},
    "os-show_image_metadata": {},
    # A container format Glance does not know: past the policy, Glance refuses the image
    # (400) before any byte moves.
    "os-volume_upload_image": {"image_name": "matrix", "container_format": "tarball"},
    # An image Glance does not have: past the policy, a 404 of the image.
    "os-reimage": {"image_id": str(uuid.uuid4())},
    "revert": {"snapshot_id": "{vid}"},
    "os-force_delete": {},
    "os-update_snapshot_status": {"status": "creating"},
}

# What each route is, for the matrix: its kind decides the expected answer per caller.
ROUTE_KINDS = {
    ("GET", "/"): "public",
    ("GET", "/v3"): "public",
    # A load balancer's probe sends no token; a token, when sent, only adds details.
    ("GET", "/healthcheck"): "public",
    ("HEAD", "/healthcheck"): "public",
    ("POST", "/v3/{project_id}/volumes"): "collection",
    ("GET", "/v3/{project_id}/volumes"): "collection",
    ("GET", "/v3/{project_id}/volumes/detail"): "collection",
    ("GET", "/v3/{project_id}/volumes/{volume_id}"): "owner",
    ("DELETE", "/v3/{project_id}/volumes/{volume_id}"): "owner",
    ("POST", "/v3/{project_id}/volumes/{volume_id}/action"): "actions",
    ("POST", "/v3/{project_id}/attachments"): "owner",
    ("GET", "/v3/{project_id}/attachments"): "collection",
    ("GET", "/v3/{project_id}/attachments/detail"): "collection",
    ("GET", "/v3/{project_id}/attachments/{attachment_id}"): "owner",
    ("PUT", "/v3/{project_id}/attachments/{attachment_id}"): "owner",
    ("DELETE", "/v3/{project_id}/attachments/{attachment_id}"): "owner",
    ("POST", "/v3/{project_id}/attachments/{attachment_id}/action"): "actions",
    ("GET", "/v3/{project_id}/messages"): "collection",
    ("POST", "/v3/{project_id}/snapshots"): "collection",
    ("GET", "/v3/{project_id}/snapshots"): "collection",
    ("GET", "/v3/{project_id}/snapshots/detail"): "collection",
    ("GET", "/v3/{project_id}/snapshots/{snapshot_id}"): "owner",
    ("PUT", "/v3/{project_id}/snapshots/{snapshot_id}"): "owner",
    ("DELETE", "/v3/{project_id}/snapshots/{snapshot_id}"): "owner",
    ("POST", "/v3/{project_id}/snapshots/{snapshot_id}/action"): "actions",
    ("GET", "/v3/{project_id}/snapshots/{snapshot_id}/metadata"): "owner",
    ("POST", "/v3/{project_id}/snapshots/{snapshot_id}/metadata"): "owner",
    ("PUT", "/v3/{project_id}/snapshots/{snapshot_id}/metadata"): "owner",
    ("GET", "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}"): "owner",
    ("PUT", "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}"): "owner",
    ("DELETE", "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}"): "owner",
    ("GET", "/v3/{project_id}/os-quota-sets/{target_project_id}"): "owner-target",
    ("PUT", "/v3/{project_id}/volumes/{volume_id}"): "owner",
    ("GET", "/v3/{project_id}/volumes/{volume_id}/metadata"): "owner",
    ("POST", "/v3/{project_id}/volumes/{volume_id}/metadata"): "owner",
    ("PUT", "/v3/{project_id}/volumes/{volume_id}/metadata"): "owner",
    ("GET", "/v3/{project_id}/volumes/{volume_id}/metadata/{key}"): "owner",
    ("PUT", "/v3/{project_id}/volumes/{volume_id}/metadata/{key}"): "owner",
    ("DELETE", "/v3/{project_id}/volumes/{volume_id}/metadata/{key}"): "owner",
    ("GET", "/v3/{project_id}/volumes/summary"): "collection",
    ("GET", "/v3/{project_id}/limits"): "collection",
    ("GET", "/v3/{project_id}/os-availability-zone"): "collection",
    ("GET", "/v3/{project_id}/types"): "collection",
    ("POST", "/v3/{project_id}/types"): "admin-global",
    ("GET", "/v3/{project_id}/types/{type_id}"): "collection",
    ("PUT", "/v3/{project_id}/types/{type_id}"): "admin-global",
    ("DELETE", "/v3/{project_id}/types/{type_id}"): "admin-global",
    ("GET", "/v3/{project_id}/types/{type_id}/extra_specs"): "collection",
    ("POST", "/v3/{project_id}/types/{type_id}/extra_specs"): "admin-global",
    ("GET", "/v3/{project_id}/types/{type_id}/extra_specs/{key}"): "collection",
    ("PUT", "/v3/{project_id}/types/{type_id}/extra_specs/{key}"): "admin-global",
    ("DELETE", "/v3/{project_id}/types/{type_id}/extra_specs/{key}"): "admin-global",
    ("GET", "/v3/{project_id}/types/{type_id}/os-volume-type-access"): "admin-global",
    ("POST", "/v3/{project_id}/types/{type_id}/action"): "admin-global",
    ("POST", "/v3/{project_id}/os-volume-manage"): "admin-global",
    ("GET", "/v3/{project_id}/os-volume-manage"): "admin-global",
    ("GET", "/v3/{project_id}/os-volume-manage/detail"): "admin-global",
    ("POST", "/v3/{project_id}/manageable_volumes"): "admin-global",
    ("GET", "/v3/{project_id}/manageable_volumes"): "admin-global",
    ("GET", "/v3/{project_id}/manageable_volumes/detail"): "admin-global",
    ("GET", "/v3/{project_id}/os-services"): "admin-global",
    ("PUT", "/v3/{project_id}/os-services/{action}"): "admin-global",
    ("GET", "/v3/{project_id}/scheduler-stats/get_pools"): "admin-global",
}

# The verdicts: "ok" is anything past authentication and policy (2xx, or a 400 of the
# volume's state); "401", "403", and "404" for a volume the caller may not see.
EXPECTED = {
    "public": dict.fromkeys(CALLERS, "ok"),
    "collection": {"none": "401", "member": "ok", "other": "ok", "admin": "ok",
                   "service": "ok"},
    "owner": {"none": "401", "member": "ok", "other": "404", "admin": "ok", "service": "404"},
    "owner-target": {"none": "401", "member": "ok", "other": "403", "admin": "ok",
                     "service": "403"},
    "admin": {"none": "401", "member": "403", "other": "404", "admin": "ok",
              "service": "404"},
    # An admin's route about no volume (the volume types, manage): everyone else is refused.
    "admin-global": {"none": "401", "member": "403", "other": "403", "admin": "ok",
                     "service": "403"},
}


# The bodies of the routes that take one ({vid}: the target volume's id).
ROUTE_BODIES = {
    ("POST", "/v3/{project_id}/volumes"): {"volume": {"size": 1}},
    ("POST", "/v3/{project_id}/attachments"): {"attachment": {"volume_uuid": "{vid}"}},
    ("PUT", "/v3/{project_id}/attachments/{attachment_id}"):
        {"attachment": {"connector": CONNECTOR}},
    ("PUT", "/v3/{project_id}/volumes/{volume_id}"): {"volume": {"name": "matrix"}},
    ("POST", "/v3/{project_id}/volumes/{volume_id}/metadata"): {"metadata": {"k": "v"}},
    ("PUT", "/v3/{project_id}/volumes/{volume_id}/metadata"): {"metadata": {"k": "v"}},
    ("PUT", "/v3/{project_id}/volumes/{volume_id}/metadata/{key}"): {"meta": {"k": "v"}},
    ("POST", "/v3/{project_id}/types"): {"volume_type": {"name": "matrix-type"}},
    ("PUT", "/v3/{project_id}/types/{type_id}"): {"volume_type": {"description": "matrix"}},
    ("POST", "/v3/{project_id}/types/{type_id}/extra_specs"): {"extra_specs": {"k": "v"}},
    ("PUT", "/v3/{project_id}/types/{type_id}/extra_specs/{key}"): {"k": "v"},
    ("POST", "/v3/{project_id}/types/{type_id}/action"):
        {"addProjectAccess": {"project": str(uuid.uuid4())}},
    # A manage's schema is checked before its policy.
    ("POST", "/v3/{project_id}/os-volume-manage"):
        {"volume": {"host": "nowhere@filestore", "ref": {"source-name": "x"}}},
    ("POST", "/v3/{project_id}/manageable_volumes"):
        {"volume": {"host": "nowhere@filestore", "ref": {"source-name": "x"}}},
    ("PUT", "/v3/{project_id}/snapshots/{snapshot_id}"): {"snapshot": {"name": "x"}},
    ("POST", "/v3/{project_id}/snapshots/{snapshot_id}/metadata"): {"metadata": {"k": "v"}},
    ("PUT", "/v3/{project_id}/snapshots/{snapshot_id}/metadata"): {"metadata": {"k": "v"}},
    ("PUT", "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}"): {"meta": {"k": "v"}},
    # Enabling a service that does not exist: past the policy, a 404 of the service.
    ("PUT", "/v3/{project_id}/os-services/{action}"):
        {"host": "nowhere", "binary": "cinder-volume"},
}

# Where each kind of action is posted.
ACTION_ROUTES = {
    "action": "/v3/{project_id}/volumes/{volume_id}/action",
    "attachment-action": "/v3/{project_id}/attachments/{attachment_id}/action",
    "snapshot-action": "/v3/{project_id}/snapshots/{snapshot_id}/action",
}


def print_api():
    """The routes (method, pattern, versions) and the actions (kind, name, versions, policy)
    the shim serves."""
    out = subprocess.run([os.path.join(BIN, "api-shim"), "--print-api"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    routes, actions = [], []
    for line in out.splitlines():
        words = line.split()
        if words[0] == "route":
            routes.append((words[1], words[2], words[3]))
        elif words[0] in ACTION_ROUTES:
            actions.append((words[0], words[1], words[2], words[3] if len(words) > 3 else ""))
    return routes, actions


def with_volume(body, vid):
    """body with "{vid}" replaced by the volume's id."""
    if isinstance(body, dict):
        return {k: with_volume(v, vid) for k, v in body.items()}
    return vid if body == "{vid}" else body


class KeystoneMatrixTest(GlanceMixin, KeystoneTestCase):

    def verdict(self, st, doc, vid, aid, sid=None):
        if st in (401, 403):
            return str(st)
        if st == 404 and ((vid is not None and "Volume %s could not be found" % vid in str(doc))
                          or (aid is not None and "attachment_id = %s" % aid in str(doc))
                          or (sid is not None and "Snapshot %s could not be found" % sid
                              in str(doc))):
            return "404"
        return "ok" if st is not None and st < 500 else "error %s" % st

    def ask(self, caller, method, pattern, body=None, version=None):
        """(verdict, status, doc) of pattern asked by caller against a fresh volume of demo's
        project (and a reserved attachment of it, for an attachment's route); every caller
        names its own project in the URL (Cinder's 400 otherwise)."""
        demo = self.project_id["demo"]
        vid = self.insert_volume(project=demo, user=self.user_id["demo"], file_gib=1) \
            if "{volume_id}" in pattern or "attachment" in pattern or "{snapshot_id}" in \
            pattern else None
        aid = self.insert_attachment(vid, str(uuid.uuid4()), reserved=True) \
            if "{attachment_id}" in pattern else None
        sid = self.insert_snapshot(vid, demo) if "{snapshot_id}" in pattern else None
        project = demo if caller in ("none", "member") else \
            self.project_id[{"other": "alt", "admin": "admin", "service": "service"}[caller]]
        path = pattern.replace("{project_id}", project).replace(
            "{volume_id}", vid or "").replace("{target_project_id}", demo).replace(
            "{attachment_id}", aid or "").replace("{type_id}", self.default_type_id()).replace(
            "{snapshot_id}", sid or "").replace(
            "{key}", "k").replace("{action}", "enable")
        token = None if caller == "none" else self.token(USER_OF[caller])
        st, _, doc = self.http(method, path, body=with_volume(body, vid), token=token,
                               version=version)
        return self.verdict(st, doc, vid, aid, sid), st, doc

    def insert_snapshot(self, vid, project):
        """An available snapshot of vid in project, as a row."""
        sid = str(uuid.uuid4())
        self.sql("INSERT INTO snapshots (created_at, deleted, id, volume_id, user_id, "
                 "project_id, status, progress, volume_size, volume_type_id, use_quota) "
                 "SELECT now(), false, %s, id, user_id, project_id, 'available', '100%%', "
                 "size, volume_type_id, true FROM volumes WHERE id = %s", (sid, vid))
        return sid

    def test_matrix(self):
        routes, actions = print_api()
        self.assertTrue(routes and actions, "print-api listed nothing")
        wrong = []
        for method, pattern, versions in routes:
            kind = ROUTE_KINDS.get((method, pattern))
            if kind is None:
                wrong.append("route %s %s is not in the matrix" % (method, pattern))
                continue
            if kind == "actions":
                continue
            body = ROUTE_BODIES.get((method, pattern))
            for caller in CALLERS:
                got, st, doc = self.ask(caller, method, pattern, body,
                                        version=versions.rstrip("-"))
                if got != EXPECTED[kind][caller]:
                    wrong.append("%s %s as %s: %s, expected %s (%s %s)" % (
                        method, pattern, caller, got, EXPECTED[kind][caller], st, doc))
        for table, name, versions, policy in actions:
            rule = POLICY_RULES.get(policy)
            if rule is None or name not in ACTION_BODIES:
                wrong.append("%s %s (policy %r) has no rule or body in the matrix"
                             % (table, name, policy))
                continue
            kind = "owner" if rule == "owner" else "admin"
            for caller in CALLERS:
                got, st, doc = self.ask(caller, "POST", ACTION_ROUTES[table],
                                        {name: ACTION_BODIES[name]},
                                        version=versions.split("-")[0])
                if got != EXPECTED[kind][caller]:
                    wrong.append("%s as %s: %s, expected %s (%s %s)" % (
                        name, caller, got, EXPECTED[kind][caller], st, doc))
        self.assertEqual(wrong, [], "\n".join(wrong))
