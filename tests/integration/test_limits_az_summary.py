"""GET /volumes/summary, /limits and /os-availability-zone (api-shim/overview.c) through the
shim, checked against the rows they are read from."""

import uuid

from harness import StackTestCase


class OverviewTest(StackTestCase):

    def add_metadata(self, vid, key, value):
        self.sql("INSERT INTO volume_metadata (created_at, deleted, volume_id, key, value) "
                 "VALUES (now(), false, %s, %s, %s)", (vid, key, value))

    # ---- summary ----

    def test_summary_counts_sizes_and_metadata(self):
        a = self.insert_volume(size=2)
        b = self.insert_volume(size=3)
        self.add_metadata(a, "k", "1")
        self.add_metadata(b, "k", "2")
        self.add_metadata(b, "x", "y")
        other = self.insert_volume(size=5, project="elsewhere")
        self.add_metadata(other, "k", "other")
        gone = self.insert_volume(size=7)
        self.sql("UPDATE volumes SET deleted = true WHERE id = %s", (gone,))

        path = "/v3/%s/volumes/summary" % self.PROJECT
        st, _, doc = self.http("GET", path, version="3.12")
        self.assertEqual((st, doc), (200, {"volume-summary": {"total_count": 2,
                                                              "total_size": 5}}))
        st, _, doc = self.http("GET", path, version="3.36")
        self.assertEqual(st, 200, doc)
        summary = doc["volume-summary"]
        self.assertEqual((summary["total_count"], summary["total_size"]), (2, 5))
        self.assertEqual({k: sorted(v) for k, v in summary["metadata"].items()},
                         {"k": ["1", "2"], "x": ["y"]})
        # all_tenants widens an admin's summary only.
        st, _, doc = self.http("GET", path + "?all_tenants=1", version="3.12")
        self.assertEqual(doc["volume-summary"]["total_count"], 2)
        st, _, doc = self.admin("GET", path + "?all_tenants=1", version="3.12")
        total = self.sql_value("SELECT count(*) FROM volumes WHERE NOT deleted")
        size = self.sql_value("SELECT sum(size) FROM volumes WHERE NOT deleted")
        self.assertEqual((st, doc), (200, {"volume-summary": {"total_count": total,
                                                              "total_size": size}}))
        st, _, doc = self.admin("GET", path + "?all_tenants=maybe", version="3.12")
        self.assertFault(st, doc, 400, "badRequest", "Value 'maybe' for 'all_tenants' is not "
                         "a boolean.")
        # Before 3.12 there is no summary.
        st, _, doc = self.http("GET", path, version="3.11")
        self.assertFault(st, doc, 404, "itemNotFound")

    # ---- limits ----

    def test_limits_from_quotas_and_usage(self):
        vid = self.create_volume(size=2)
        st, _, doc = self.http("GET", "/v3/%s/limits" % self.PROJECT)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["limits"]["rate"], [])
        absolute = doc["limits"]["absolute"]
        st, _, qs = self.http("GET", "/v3/%s/os-quota-sets/%s?usage=true"
                              % (self.PROJECT, self.PROJECT))
        qs = qs["quota_set"]
        self.assertEqual(absolute, {
            "maxTotalVolumes": qs["volumes"]["limit"],
            "totalVolumesUsed": self.usage("volumes")[0],
            "maxTotalSnapshots": qs["snapshots"]["limit"],
            "totalSnapshotsUsed": self.usage("snapshots")[0],
            "maxTotalVolumeGigabytes": qs["gigabytes"]["limit"],
            "totalGigabytesUsed": self.usage("gigabytes")[0]})
        self.assertEqual((absolute["totalVolumesUsed"], absolute["totalGigabytesUsed"]), (1, 2))
        # A project's own limit wins over the default.
        self.sql("INSERT INTO quotas (created_at, deleted, project_id, resource, hard_limit) "
                 "VALUES (now(), false, %s, 'volumes', 3)", (self.PROJECT,))
        st, _, doc = self.http("GET", "/v3/%s/limits" % self.PROJECT)
        self.assertEqual(doc["limits"]["absolute"]["maxTotalVolumes"], 3)
        # From 3.39 an admin may look at another project; a member may not.
        st, _, doc = self.admin("GET", "/v3/%s/limits?project_id=%s" % ("adm", self.PROJECT),
                                project="adm", version="3.39")
        self.assertEqual(doc["limits"]["absolute"]["totalVolumesUsed"], 1)
        st, _, doc = self.admin("GET", "/v3/%s/limits?project_id=%s" % ("adm", self.PROJECT),
                                project="adm", version="3.38")
        self.assertEqual(doc["limits"]["absolute"]["totalVolumesUsed"], 0)
        st, _, doc = self.http("GET", "/v3/%s/limits?project_id=other" % self.PROJECT,
                               version="3.39")
        self.assertEqual(doc["limits"]["absolute"]["maxTotalVolumes"], 3)
        self.assertTrue(vid)

    # ---- availability zones ----

    def test_zones_of_the_volume_services(self):
        host = "az-test-" + uuid.uuid4().hex[:8]
        for zone, disabled in (("zone-off", True), ("zone-off", True), ("zone-mixed", True),
                               ("zone-mixed", False)):
            self.sql("INSERT INTO services (created_at, deleted, host, \"binary\", topic, "
                     "report_count, disabled, availability_zone) VALUES (now(), false, %s, "
                     "'cinder-volume', 'cinder-volume', 0, %s, %s)",
                     (host + "@" + uuid.uuid4().hex[:4], disabled, zone))
        self.addCleanup(self.sql, "DELETE FROM services WHERE host LIKE %s", (host + "@%",))
        st, _, doc = self.http("GET", "/v3/%s/os-availability-zone" % self.PROJECT)
        self.assertEqual(st, 200, doc)
        zones = {z["zoneName"]: z["zoneState"] for z in doc["availabilityZoneInfo"]}
        self.assertEqual(zones["nova"], {"available": True})
        self.assertEqual(zones["zone-off"], {"available": False})
        self.assertEqual(zones["zone-mixed"], {"available": True})
        self.assertEqual(len(doc["availabilityZoneInfo"]), len(zones), "one entry per zone")
