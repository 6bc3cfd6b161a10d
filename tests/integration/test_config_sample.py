"""deploy/volmgr.conf.sample is the one place that lists every configuration key
(docs/contracts.md): each key of the daemons' tables is in it, under its section and with the
table's default, and it lists no key that no table reads. Needs no stack.
"""

import os
import re
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(REPO, "deploy", "volmgr.conf.sample")
TABLES = ["common/cfg.c", "manager/mconf.c", "api-shim/main.c"]
# { "section", "name", CFG_TYPE, &target, "default" or NULL, ...
ENTRY = re.compile(r'\{\s*"(\w+)",\s*"(\w+)",\s*CFG_\w+,\s*&[\w.]+,\s*(NULL|"(?:[^"\\]|\\.)*")')


def table_keys():
    """{(section, name): default or ""} of every key table."""
    keys = {}
    for path in TABLES:
        with open(os.path.join(REPO, path)) as f:
            found = ENTRY.findall(f.read())
        if not found:
            raise AssertionError("no key table entries found in " + path)
        for section, name, default in found:
            keys[(section, name)] = "" if default == "NULL" else default[1:-1]
    return keys


def sample_keys():
    """{(section, name): value} of the sample file (values stand alone on their lines)."""
    keys, section = {}, None
    with open(SAMPLE) as f:
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
