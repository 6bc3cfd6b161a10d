"""deploy/compose.yaml cannot run here (no registry to pull RabbitMQ and PostgreSQL from), so
this checks what can be checked without it: that it is valid YAML of the Compose file's shape,
that its volmgr services use the image, the Containerfile and the programs that make
test-containers builds and tests, that their configuration file (deploy/compose.conf) holds
only keys the programs know and their environment only the variables the programs read, and
that every dependency waits on something that can become true. Needs no stack.
"""

import glob
import os
import re
import unittest

import yaml  # Debian python3-yaml

from test_config_sample import SOURCE_DIRS, sample_keys, table_keys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy")
PROGRAMS = ("volume-manager", "api-shim", "volctl")
CONF_TARGET = "/etc/volmgr/volmgr.conf"


def script_value(path, name):
    """The value of NAME=value in a shell script of the repository."""
    with open(os.path.join(REPO, path)) as f:
        m = re.search(r"(?m)^%s=(\S+)$" % name, f.read())
    if m is None:
        raise AssertionError("no %s= in %s" % (name, path))
    return m.group(1)


def env_variables():
    """The VOLMGR_* variables that the programs' key tables read."""
    names = set()
    for d in SOURCE_DIRS:
        for path in glob.glob(os.path.join(REPO, d, "*.c")):
            with open(path) as f:
                names.update(re.findall(r'"(VOLMGR_\w+)" \}', f.read()))
    return names


class ComposeFileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            cls.doc = yaml.safe_load(f)
        cls.services = cls.doc["services"]
        cls.volmgr = {name: s for name, s in cls.services.items()
                      if s.get("image") == script_value("scripts/test-containers.sh", "IMAGE")}

    def test_volmgr_services_use_the_tested_image_and_programs(self):
        self.assertEqual(sorted(self.volmgr), ["api-shim", "db-sync", "volume-manager"])
        commands = {}
        for name, service in self.volmgr.items():
            build = service["build"]
            self.assertEqual(os.path.normpath(os.path.join(DEPLOY, build["context"])), REPO)
            self.assertEqual(build["dockerfile"], "deploy/Containerfile")
            command = service["command"]
            self.assertIn(command[0], PROGRAMS)
            self.assertEqual(command[1:3], ["--config-file", CONF_TARGET])
            commands[name] = command[0:1] + command[3:]
            mounts = dict(v.split(":")[:2] for v in service["volumes"])
            self.assertEqual(mounts.get("./compose.conf"), CONF_TARGET)
            self.assertTrue(os.path.isfile(os.path.join(DEPLOY, "compose.conf")))
        self.assertEqual(commands, {"db-sync": ["volctl", "db-sync"],
                                    "volume-manager": ["volume-manager"],
                                    "api-shim": ["api-shim"]})

    def test_configuration_holds_only_known_keys_and_variables(self):
        known = table_keys()
        conf = sample_keys(os.path.join(DEPLOY, "compose.conf"))
        self.assertTrue(conf)
        self.assertEqual(sorted(set(conf) - set(known)), [], "keys no program reads")
        variables = env_variables()
        for name, service in self.volmgr.items():
            self.assertEqual(sorted(set(service["environment"]) - variables), [], name)

    def test_dependencies_can_be_met(self):
        conditions = {"service_healthy", "service_completed_successfully", "service_started"}
        for name, service in self.services.items():
            self.assertTrue(service.get("image"), name)
            for dep, how in service.get("depends_on", {}).items():
                self.assertIn(dep, self.services, name)
                self.assertIn(how["condition"], conditions, name)
                if how["condition"] == "service_healthy":
                    self.assertIn("healthcheck", self.services[dep], dep)
        for name, service in self.services.items():
            for volume in service.get("volumes", []):
                source = volume.split(":", 1)[0]
                if not source.startswith("."):
                    self.assertIn(source, self.doc["volumes"], name)

    def test_the_shim_is_published_on_loopback_only(self):
        """compose.conf lets noauth listen beyond loopback inside the container; the port the
        host publishes must then be its loopback address alone."""
        conf = sample_keys(os.path.join(DEPLOY, "compose.conf"))
        self.assertEqual(conf[("api", "auth_strategy")], "noauth")
        self.assertEqual(self.services["api-shim"]["ports"],
                         ["127.0.0.1:%s:%s" % (conf[("api", "port")], conf[("api", "port")])])


    def test_health_checks_ask_the_daemons_own_checks(self):
        """The containers' health checks are the daemons' own: the shim's GET /healthcheck on
        its API port, and volctl health against the manager's metrics_listen port, which
        compose.conf must then set."""
        conf = sample_keys(os.path.join(DEPLOY, "compose.conf"))
        shim = self.services["api-shim"]["healthcheck"]["test"]
        self.assertIn("http://127.0.0.1:%s/healthcheck" % conf[("api", "port")], shim)
        manager = self.services["volume-manager"]["healthcheck"]["test"]
        self.assertEqual(manager[1:2], ["volctl"])
        self.assertIn("health", manager)
        port = conf[("DEFAULT", "metrics_listen")].rsplit(":", 1)[1]
        self.assertIn("http://127.0.0.1:%s/healthcheck" % port, manager)

if __name__ == "__main__":
    unittest.main()
