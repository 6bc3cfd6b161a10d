"""The quota engine's one commit arithmetic (core/quota_commit.sql), run against the database
as the manager runs it, with the cases the unit test of the rollback shares
(tests/unit/test_quota.c): in_use += delta never below 0, reserved -= the positive deltas never
below 0, settled reservations and other projects' reservations left alone.
"""

import os
import re
import uuid

from harness import StackTestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (delta, in_use, reserved) -> (in_use, reserved) after the commit
CASES = [
    ((1, 1, 1), (2, 0)),        # extend 1 -> 2: the reserved 1 moves into in_use
    ((3, 10, 5), (13, 2)),      # other reservations stay reserved
    ((5, 10, 2), (15, 0)),      # reserved below delta (reset by hand): clamps to 0
    ((5, 10, 0), (15, 0)),
    ((0, 7, 3), (7, 3)),        # a zero delta changes nothing
    ((-2, 10, 4), (8, 4)),      # negative deltas were never reserved
    ((-5, 3, 1), (0, 1)),       # a negative delta above in_use stops at 0
    ((-5, 0, 0), (0, 0)),
    ((-3, 3, 0), (0, 0)),
]


def statement(name):
    """core/<name>.sql with its parameters as psycopg2 placeholders."""
    with open(os.path.join(REPO, "core", name + ".sql")) as f:
        text = f.read()
    return re.sub(r"\$(\d+)", lambda m: "%%(p%s)s" % m.group(1), text)


class QuotaCommitTest(StackTestCase):

    def usage_with_reservation(self, project, in_use, reserved, delta, deleted=False):
        """A gigabytes usage row of project and one reservation of delta on it."""
        self._sql("INSERT INTO quota_usages (created_at, deleted, project_id, resource, in_use,"
                  " reserved, race_preventer) VALUES (now() AT TIME ZONE 'utc', false, %s,"
                  " 'gigabytes', %s, %s, true)", (project, in_use, reserved))
        res = str(uuid.uuid4())
        self._sql("INSERT INTO reservations (created_at, deleted, uuid, usage_id, project_id,"
                  " resource, delta, expire) SELECT now() AT TIME ZONE 'utc', %s, %s, id,"
                  " project_id, 'gigabytes', %s, now() AT TIME ZONE 'utc' + interval '1 day'"
                  " FROM quota_usages WHERE project_id = %s AND deleted = false",
                  (deleted, res, delta, project))
        return res

    def commit(self, uuids, projects):
        params = {"p1": uuids, "p2": projects}
        with self._db.cursor() as cur:
            cur.execute(statement("quota_commit"), params)

    def test_cases_in_one_commit_over_several_projects(self):
        projects = ["%s-%d" % (self.PROJECT, i) for i in range(len(CASES))]
        uuids = [self.usage_with_reservation(p, in_use, reserved, delta)
                 for p, ((delta, in_use, reserved), _) in zip(projects, CASES)]
        self.commit(uuids, projects)
        for p, (given, want) in zip(projects, CASES):
            self.assertEqual(self.usage("gigabytes", p), want, "delta, in_use, reserved %r"
                             % (given,))
            self.assertEqual(self.live_reservations(p), [])

    def test_settled_and_foreign_reservations_are_left_alone(self):
        settled = self.usage_with_reservation(self.PROJECT, 4, 2, 2, deleted=True)
        other = self.PROJECT + "-other"
        foreign = self.usage_with_reservation(other, 4, 2, 2)
        self.commit([settled, foreign], [self.PROJECT, self.PROJECT])
        self.assertEqual(self.usage("gigabytes"), (4, 2), "a settled reservation commits nothing")
        self.assertEqual(self.usage("gigabytes", other), (4, 2),
                         "a reservation of another project commits nothing")
        self.assertEqual(len(self.live_reservations(other)), 1)
