"""docs/api.md lists exactly what volmgr serves: its four tables (routes, volume actions,
attachment actions, RPC methods) equal what `api-shim --print-api` prints from the code's own tables, row for row.
Needs no stack.
"""

import os
import re
import subprocess
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("VOLMGR_BIN_DIR", os.path.join(REPO, "bin"))
DOC = os.path.join(REPO, "docs", "api.md")


def doc_tables():
    """{heading: [row cells without backquotes]} of the markdown tables under '## ' headings."""
    tables, heading = {}, None
    with open(DOC) as f:
        for line in f:
            if line.startswith("## "):
                heading = line[3:].strip()
                continue
            line = line.strip()
            if not line.startswith("|") or heading is None:
                continue
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue  # the separator row
            tables.setdefault(heading, []).append(cells)
    # Drop each table's header row.
    return {h: rows[1:] for h, rows in tables.items()}


def code_tables():
    out = subprocess.run([os.path.join(BIN, "api-shim"), "--print-api"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    tables = {"route": [], "action": [], "attachment-action": [], "snapshot-action": [],
              "method": []}
    for line in out.splitlines():
        kind, *cells = line.split(" ")
        tables[kind].append(cells)
    return tables


class ApiDocTest(unittest.TestCase):

    def setUp(self):
        self.doc, self.code = doc_tables(), code_tables()

    def check(self, heading, kind):
        self.assertIn(heading, self.doc, "docs/api.md has no '## %s' table" % heading)
        self.assertEqual(sorted(map(tuple, self.doc[heading])),
                         sorted(map(tuple, self.code[kind])),
                         "docs/api.md '%s' differs from the code's table" % heading)

    def test_routes(self):
        self.check("Routes", "route")

    def test_volume_actions(self):
        self.check("Volume actions", "action")

    def test_attachment_actions(self):
        self.check("Attachment actions", "attachment-action")

    def test_snapshot_actions(self):
        self.check("Snapshot actions", "snapshot-action")

    def test_rpc_methods(self):
        self.check("RPC methods", "method")

    def test_the_tables_are_not_empty(self):
        # A broken printer or parser must not pass as two empty lists.
        for kind, rows in self.code.items():
            self.assertGreater(len(rows), 0 if kind.endswith("-action") else 5, kind)
        self.assertTrue(any(r[0] == "os-set_bootable" for r in self.code["action"]))


if __name__ == "__main__":
    unittest.main()
