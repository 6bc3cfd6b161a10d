"""The create arguments (api-shim/validate.c), the zone check (api-shim/schedule.c) and the
list query and its pages (api-shim/listing.c), through the shim, with Cinder's messages."""

from urllib.parse import parse_qs, urlparse

from harness import StackTestCase


class VolumeInputTest(StackTestCase):

    def volumes_path(self):
        return "/v3/%s/volumes" % self.PROJECT

    def create(self, **fields):
        volume = {"size": 1}
        volume.update(fields)
        return self.http("POST", self.volumes_path(), body={"volume": volume})

    def volume_count(self):
        return self.sql_value("SELECT count(*) FROM volumes WHERE project_id = %s",
                              (self.PROJECT,))

    def assertBadCreate(self, fields, *pieces):
        before = self.volume_count()
        st, _, doc = self.create(**fields)
        self.assertFault(st, doc, 400, "badRequest", list(pieces))
        self.assertEqual(self.volume_count(), before, "a refused create wrote a row")

    def multiattach(self, volume_id):
        return self.sql_value("SELECT multiattach FROM volumes WHERE id = %s", (volume_id,))

    # ---- create arguments ----

    def test_name_length(self):
        st, _, doc = self.create(name=" " + "é" * 253 + " ")
        self.assertEqual(st, 202, doc)
        self.assertBadCreate({"name": "x" * 256}, "name has 256 characters, more than 255")
        # Within 255 once stripped, but the column stores it as sent.
        self.assertBadCreate({"display_name": "  " + "é" * 255 + "  "},
                             "Invalid input for field/attribute display_name.", "is too long")
        self.assertBadCreate({"description": 5}, "5 is not of type 'string', 'null'")

    def test_multiattach_takes_booleans_and_boolean_strings_only(self):
        st, _, doc = self.create(multiattach="yes")
        self.assertEqual(st, 202, doc)
        self.assertTrue(self.multiattach(doc["volume"]["id"]))
        st, _, doc = self.create(multiattach=None)
        self.assertEqual(st, 202, doc)
        self.assertFalse(self.multiattach(doc["volume"]["id"]))
        self.assertBadCreate({"multiattach": "maybe"},
                             "Invalid input for field/attribute multiattach. Value: maybe.",
                             "'maybe' is not valid under any of the given schemas")

    def test_metadata_keys_values_and_count(self):
        self.assertBadCreate({"metadata": ["a"]}, "['a'] is not of type 'object', 'null'")
        self.assertBadCreate({"metadata": {"bad*key": "v"}},
                             "Additional properties are not allowed ('bad*key' was unexpected)")
        self.assertBadCreate({"metadata": {"k": 1}}, "1 is not of type 'string'")
        self.assertBadCreate({"metadata": {"k%d" % i: "v" for i in range(65)}},
                             "at most 64 metadata items are supported")

    def test_availability_zone(self):
        self.assertBadCreate({"availability_zone": ""}, "The 'availability_zone' can not be None.")
        self.assertBadCreate({"availability_zone": "   "},
                             "availability_zone has 0 characters, less than 1")
        self.assertBadCreate({"availability_zone": "nowhere"},
                             "Availability zone 'nowhere' is invalid.")
        st, _, doc = self.create(availability_zone="nova")
        self.assertEqual(st, 202, doc)
        self.assertEqual(doc["volume"]["availability_zone"], "nova")

    # ---- list query ----

    def assertBadList(self, query, code, *pieces):
        st, _, doc = self.http("GET", self.volumes_path() + "?" + query)
        self.assertFault(st, doc, code, contains=list(pieces))

    def test_list_parameters_refused(self):
        for query, code, piece in (
                ("sort=bogus", 400, "Invalid sort key"),
                ("sort=size:sideways", 400, "Unknown sort direction, must be 'desc' or 'asc'"),
                ("sort=size,id,name,status", 400, "at most 3 sort keys are supported"),
                ("sort_key=size,id", 400, "at most one sort_key is supported"),
                ("limit=x", 400, "limit param must be an integer"),
                ("limit=-1", 400, "limit param must be positive"),
                ("offset=-1", 400, "offset param must be positive"),
                ("marker=00000000-0000-0000-0000-000000000000", 404,
                 "Marker 00000000-0000-0000-0000-000000000000 could not be found.")):
            with self.subTest(query=query):
                self.assertBadList(query, code, piece)

    def test_pages_follow_the_sort_and_the_next_link(self):
        ids = [self.create_volume(size=size, name="v%d" % size, wait=False)
               for size in (3, 1, 2)]
        by_size = [ids[1], ids[2], ids[0]]
        st, _, doc = self.http("GET", self.volumes_path() + "?sort=size:asc&limit=2")
        self.assertEqual(st, 200, doc)
        self.assertEqual([v["id"] for v in doc["volumes"]], by_size[:2])
        link = doc["volumes_links"][0]
        self.assertEqual(link["rel"], "next")
        query = parse_qs(urlparse(link["href"]).query)
        self.assertEqual(query["marker"], [by_size[1]])
        st, _, doc = self.http("GET", self.volumes_path() + "/detail?sort=size:asc&limit=2"
                               "&marker=" + by_size[1])
        self.assertEqual(st, 200, doc)
        self.assertEqual([(v["id"], v["size"]) for v in doc["volumes"]], [(by_size[2], 3)])
        self.assertNotIn("volumes_links", doc, "a page that is not full has no next link")
        st, _, doc = self.http("GET", self.volumes_path() + "?sort_key=name&sort_dir=desc"
                               "&with_count=true", version="3.45")
        self.assertEqual(st, 200, doc)
        self.assertEqual([v["name"] for v in doc["volumes"]], ["v3", "v2", "v1"])
        self.assertEqual(doc["count"], 3)
