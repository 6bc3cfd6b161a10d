"""The smoke test of make test-containers (scripts/test-containers.sh, docs/containers.md): a
volume's everyday life, create -> extend -> attach -> online extend -> detach -> delete, through
the integration harness, with volume-manager, api-shim and volctl running in volmgr's image and
RabbitMQ in a container of its own.

The harness runs the programs of VOLMGR_BIN_DIR, which the runner fills with links to
tests/containers/in-container.sh; the test checks first that they really run in containers of
the image, so that a run that fell back to bin/ cannot pass.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))

import test_attach  # noqa: E402  (the attach helpers; its classes are not re-exported here)
from harness import BIN, GIB  # noqa: E402

CONNECTOR = test_attach.CONNECTOR


class ContainerSmokeTest(test_attach.AttachCase):
    """One class, one deployment: the daemons start once, in their containers."""

    def running_containers(self):
        """{name: image} of the run's running containers (podman ps by the run's label)."""
        out = subprocess.run(
            ["podman", "ps", "--filter", "label=" + os.environ["VOLMGR_CONTAINER_LABEL"],
             "--format", "{{.Names}} {{.Image}}"],
            check=True, stdout=subprocess.PIPE, text=True, timeout=30).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def test_programs_run_in_the_image(self):
        """The daemons run in containers of the image; volctl (db-sync at set-up) is the same
        link."""
        image = os.environ["VOLMGR_CONTAINER_IMAGE"]
        self.assertEqual(os.path.basename(os.path.realpath(os.path.join(BIN, "volctl"))),
                         "in-container.sh")
        running = self.running_containers()
        for prog in ("volume-manager", "api-shim"):
            pid = self._proc(prog).pid
            self.assertEqual(running.get("volmgr-ct-%s-%d" % (prog, pid)), image,
                             "%s runs in a container of %s: %r" % (prog, image, running))

    def test_create_extend_attach_online_extend_detach_delete(self):
        vid = self.create_volume(1)
        self.assertEqual(self.file_size(vid), GIB)
        self.assertUsagesMatchRows()

        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2 and
                  self.status_of(vid) == "available", msg="offline extend to 2 GiB")
        self.assertEqual(self.file_size(vid), 2 * GIB)
        self.assertUsagesMatchRows()

        aid, instance, info = self.attach_sequence(vid)
        self.assertEqual(info["data"]["device_path"], self.backing_file(vid))
        row = self.volume_row(vid)
        self.assertEqual((row["status"], row["attach_status"]), ("in-use", "attached"))

        # The compute stand-in runs on the host and grows the file the manager's container
        # made, then completes the extend.
        self.extend_online(vid, instance, 3)
        self.assertUsagesMatchRows()

        self.ok(vid, "os-begin_detaching")
        self.ok(vid, "os-terminate_connection", {"connector": CONNECTOR})
        self.ok(vid, "os-detach", {"attachment_id": aid})
        row = self.volume_row(vid)
        self.assertEqual((row["status"], row["attach_status"]), ("available", "detached"))
        self.assertEqual(self.live_attachments(vid), [])

        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["deleted"], msg="volume row soft-deleted")
        self.poll(lambda: self.file_size(vid) is None, msg="backing file removed")
        self.poll(lambda: self.usage("gigabytes") == (0, 0), msg="gigabytes given back")
        self.assertUsagesMatchRows()
        st, _, doc = self.http("GET", self.vpath(vid))
        self.assertFault(st, doc, 404, "itemNotFound")
