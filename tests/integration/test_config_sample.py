"""deploy/volmgr.conf.sample is the one place that lists every configuration key
(docs/contracts.md): each key of the programs' tables is in it, under its section and with the
table's default, and it lists no key that no table reads. The tables are the ones
conf/registry.c lists, and every key table of the sources is listed there (the registry is
what tells each program that a key of the shared file is known). Needs no stack.
"""

import glob
import os
import re
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(REPO, "deploy", "volmgr.conf.sample")
REGISTRY = os.path.join(REPO, "conf", "registry.c")
BIN = os.environ.get("VOLMGR_BIN_DIR") or os.path.join(REPO, "bin")
SOURCE_DIRS = ["common", "core", "proto", "conf", "api-shim", "manager", "volctl"]
# const struct cfg_key name[] = { ... };
TABLE = re.compile(r"^(?:static )?const struct cfg_key (\w+)\[\] = \{(.*?)^\};", re.M | re.S)
# { "section", "name", CFG_TYPE, &target, "default" or NULL, ...
ENTRY = re.compile(r'\{\s*"(\w+)",\s*"(\w+)",\s*CFG_\w+,\s*&[\w.]+,\s*(NULL|"(?:[^"\\]|\\.)*")')


# KS_AUTH_OPTION_KEYS("section", target): keystoneauth's options, rows of common/keystone.h.
AUTH_MACRO = re.compile(r'KS_AUTH_OPTION_KEYS\("(\w+)",')
AUTH_ROW = re.compile(r'\{\s*section,\s*"(\w+)",\s*CFG_\w+,\s*&\(opts\)\.\w+,\s*'
                      r'(NULL|"(?:[^"\\]|\\.)*")')


def auth_option_rows():
    """[(name, default)] of the KS_AUTH_OPTION_KEYS macro."""
    with open(os.path.join(REPO, "common", "keystone.h")) as f:
        rows = AUTH_ROW.findall(f.read())
    if not rows:
        raise AssertionError("no KS_AUTH_OPTION_KEYS rows in common/keystone.h")
    return rows


def source_tables():
    """{table name: [(section, name, default or "")]} of every key table of the sources."""
    tables = {}
    for d in SOURCE_DIRS:
        for path in sorted(glob.glob(os.path.join(REPO, d, "*.c"))):
            with open(path) as f:
                for name, body in TABLE.findall(f.read()):
                    rows = ENTRY.findall(body) + [
                        (section, k, v) for section in AUTH_MACRO.findall(body)
                        for k, v in auth_option_rows()]
                    tables[name] = [(s, k, "" if v == "NULL" else v[1:-1])
                                    for s, k, v in rows]
    return tables


def registry_tables():
    """The table names conf/registry.c lists."""
    with open(REGISTRY) as f:
        m = re.search(r"conf_registry_tables\[\] = \{(.*?)\};", f.read(), re.S)
    if m is None:
        raise AssertionError("no conf_registry_tables in conf/registry.c")
    return re.findall(r"\w+", m.group(1))


def table_keys():
    """{(section, name): default or ""} of every registered key table."""
    keys, tables = {}, source_tables()
    for table in registry_tables():
        if not tables.get(table):
            raise AssertionError("no key table entries found for " + table)
        for section, name, default in tables[table]:
            keys[(section, name)] = default
    return keys


def sample_keys(path=SAMPLE):
    """{(section, name): value} of the sample file, or of another configuration file written
    the same way (values stand alone on their lines)."""
    keys, section = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"^\[(\w+)\]$", line.strip())
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^(\w+) *= *(.*?)\s*$", line)
            if m:
                keys[(section, m.group(1))] = m.group(2)
    return keys


class ConfigSampleTest(unittest.TestCase):

    def test_sample_lists_every_key_with_its_default(self):
        tables, sample = table_keys(), sample_keys()
        self.assertEqual(sorted(set(tables) - set(sample)), [], "keys missing in the sample")
        self.assertEqual(sorted(set(sample) - set(tables)), [], "sample keys no table reads")
        wrong = {k: (tables[k], sample[k]) for k in tables if tables[k] != sample[k]}
        self.assertEqual(wrong, {}, "(table default, sample value)")

    def test_registry_lists_every_key_table(self):
        self.assertEqual(sorted(set(source_tables()) - set(registry_tables())), [],
                         "key tables missing in conf/registry.c")

    # Each program reads the sample (plus lines of the test's) and stops right after its
    # configuration, with no server needed: volctl on a database that refuses connections,
    # the daemons on a value their own checks refuse once the file has been read.
    PROGRAMS = {
        "volctl": (["encode", "extend_volume", "new_size=2", "--volume",
                    "11111111-2222-3333-4444-555555555555"], "",
                   "cannot connect to the database"),
        "api-shim": ([], "\n[api]\nrpc_wire_format = none_such\n",
                     "rpc_wire_format: 'none_such' is not msgpack or json"),
        "volume-manager": ([], "\n[journal]\nmax_age = never\n",
                           "[journal] max_age: 'never' is not N followed by"),
    }

    def program_stderr(self, program, extra):
        """stderr of program run on the sample plus extra lines (see PROGRAMS)."""
        args, stop, stopped = self.PROGRAMS[program]
        with open(SAMPLE) as f:
            text = f.read()
        text = re.sub(r"(?m)^connection = .*$",
                      "connection = postgresql://volmgr@127.0.0.1:1/volmgr?connect_timeout=2",
                      text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOLMGR_")}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "volmgr.conf")
            with open(path, "w") as f:
                f.write(text + stop + extra)
            p = subprocess.run([os.path.join(BIN, program), "--config-file", path] + args,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                               timeout=30, text=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(stopped, p.stderr)
        return p.stderr

    def test_every_program_knows_every_key_of_the_shared_file(self):
        for program in self.PROGRAMS:
            with self.subTest(program=program):
                self.assertNotIn("unknown option", self.program_stderr(program, ""))

    def test_every_program_warns_about_a_typo(self):
        typos = "\n[DEFAULT]\nhots = node2\n[manager]\nbatch_sise = 4\n[nova]\ntimout = 3\n"
        for program in self.PROGRAMS:
            with self.subTest(program=program):
                err = self.program_stderr(program, typos)
                self.assertIn("unknown option [DEFAULT] hots ignored", err)
                self.assertIn("unknown option [manager] batch_sise ignored", err)
                self.assertIn("unknown option [nova] timout ignored", err)
