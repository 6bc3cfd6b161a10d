"""The database and the filestore of a test deployment: creating and dropping the class's
database, queries, the rows a test reads (volumes, quota usages, reservations, messages,
notifications, volmgr's own tables), the rows a test seeds directly in SQL, and the volumes'
backing files.

DatabaseMixin expects of the class that composes it: admin_url, db_url, _dbname, _db (an autocommit
psycopg2 connection once the schema exists), PROJECT, USER, volume_host, service_host, host,
filestore_dir, and a poll() method.
"""

import contextlib
import hashlib
import os
import sys
import uuid

import psycopg2  # Debian python3-psycopg2

from harness_env import DEFAULT_TYPE, GIB


DIGEST_BLOCK = 4096
DIGEST_CHUNK = 1 << 20


def fd_extents(fd):
    """The (start, end) data extents of the open file fd, as SEEK_DATA / SEEK_HOLE see
    them, in order."""
    size = os.fstat(fd).st_size
    off = 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end
        off = end


def data_extents(path):
    """The [(start, end)] data extents of a file (fd_extents)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return list(fd_extents(fd))
    finally:
        os.close(fd)


def sparse_digest(path):
    """sha256 of the file's bytes, reading only its data extents (a hole reads as
    zeros, so two files with the same digest and size hold the same bytes)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        for start, end in fd_extents(fd):
            pos = start
            pos -= pos % DIGEST_BLOCK
            while pos < end:
                chunk = os.pread(fd, min(DIGEST_CHUNK, end - pos), pos)
                # per block, so that extents cut differently still compare: an all-zero
                # block reads as a hole would
                for i in range(0, len(chunk), DIGEST_BLOCK):
                    block = chunk[i:i + DIGEST_BLOCK]
                    if block.strip(b"\0"):
                        h.update(b"%d:" % (pos + i) + block)
                pos += len(chunk)
        h.update(b"size:%d" % os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return h.hexdigest()


def file_digest(path, algorithm):
    """The hex digest of all the file's bytes under hashlib's algorithm ("md5" is Glance's
    checksum of an image); sparse_digest is the one for files that are mostly holes."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(DIGEST_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def admin_statement(admin_url, statement):
    """Runs one statement (CREATE or DROP DATABASE) through a server's admin URL."""
    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


class DatabaseMixin:
    """Reading and seeding the class's database, and the filestore's backing files."""

    # ---- the class's database ----

    @classmethod
    def _admin_statement(cls, statement):
        """Runs one statement (CREATE or DROP DATABASE) through the server's admin URL."""
        admin_statement(cls.admin_url, statement)

    @classmethod
    def _create_database(cls, template=None):
        """Creates the class's database, empty or as a copy of the database template."""
        cls._admin_statement('CREATE DATABASE "%s"' % cls._dbname
                             + (' TEMPLATE "%s"' % template if template else ""))

    @classmethod
    def connect_database(cls):
        """(Re)opens the class's autocommit connection to its database (again after the
        server restarted)."""
        if cls._db is not None:
            with contextlib.suppress(Exception):
                cls._db.close()
        cls._db = psycopg2.connect(cls.db_url)
        cls._db.autocommit = True

    @classmethod
    def _drop_database(cls):
        """Closes the class's connection and drops its database; a failure is reported, not
        raised."""
        if cls._db is not None:
            with contextlib.suppress(Exception):
                cls._db.close()
            cls._db = None
        if cls._dbname:
            try:
                cls._admin_statement('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % cls._dbname)
            except Exception as e:
                sys.stderr.write("harness: dropping %s failed: %s\n" % (cls._dbname, e))

    # ---- queries ----

    @classmethod
    def _sql(cls, query, params=None):
        with cls._db.cursor() as cur:
            cur.execute(query, params)
            if cur.description is None:
                return cur.rowcount
            return cur.fetchall()

    def sql(self, query, params=None):
        """Rows (list of tuples) of a query, or the row count of a statement (autocommit)."""
        return self._sql(query, params)

    def sql_value(self, query, params=None):
        rows = self._sql(query, params)
        return rows[0][0] if rows else None

    @classmethod
    def _service_row_exists(cls, service_host=None):
        """Whether the services row of service_host (default: the class's manager) is
        there."""
        host = service_host or cls.service_host
        rows = cls._sql("SELECT 1 FROM services WHERE (host = %s OR host = %s) "
                        "AND deleted IS NOT TRUE", (host, host.split("@")[0]))
        return bool(rows)

    # ---- rows a test reads ----

    def volume_row(self, volume_id):
        rows = self._sql("SELECT status, size, previous_status, attach_status, deleted "
                         "FROM volumes WHERE id = %s", (volume_id,))
        if not rows:
            return None
        keys = ("status", "size", "previous_status", "attach_status", "deleted")
        return dict(zip(keys, rows[0]))

    def status_of(self, volume_id):
        return self.sql_value("SELECT status FROM volumes WHERE id = %s", (volume_id,))

    def wait_status(self, volume_id, status, timeout=15):
        statuses = (status,) if isinstance(status, str) else tuple(status)
        self.poll(lambda: self.status_of(volume_id) in statuses, timeout=timeout,
                  msg="volume %s status in %s (now %r)" % (volume_id, statuses,
                                                           self.status_of(volume_id)))
        return self.status_of(volume_id)

    def admin_md(self, volume_id):
        rows = self._sql("SELECT key, value FROM volume_admin_metadata "
                         "WHERE volume_id = %s AND deleted IS NOT TRUE", (volume_id,))
        return dict(rows)

    def usage(self, resource, project=None):
        """(in_use, reserved) of the live quota_usages row, (0, 0) when absent."""
        rows = self._sql("SELECT in_use, reserved FROM quota_usages WHERE project_id = %s "
                         "AND resource = %s AND deleted IS NOT TRUE",
                         (project or self.PROJECT, resource))
        return tuple(rows[0]) if rows else (0, 0)

    def assertUsagesMatchRows(self, project=None):
        """The project's volumes and gigabytes usages equal its live volumes that consume
        quota, with nothing reserved: what every flow must leave. A volume consumes quota
        unless use_quota is false (a migration's target), as in core/quota.c's recount: a
        row the shim created leaves the column null."""
        project = project or self.PROJECT
        count, gib = self._sql("SELECT count(*), COALESCE(sum(size), 0) FROM volumes WHERE "
                               "project_id = %s AND NOT deleted AND use_quota IS NOT FALSE",
                               (project,))[0]
        self.assertEqual(self.usage("volumes", project), (count, 0), "volumes usage vs rows")
        self.assertEqual(self.usage("gigabytes", project), (gib, 0), "gigabytes usage vs rows")

    def gb_usages(self, project=None):
        """{"gigabytes": (in_use, reserved), "gigabytes___DEFAULT__": (...)}"""
        return {r: self.usage(r, project) for r in ("gigabytes", "gigabytes_" + DEFAULT_TYPE)}

    def live_reservations(self, project=None):
        return self._sql("SELECT uuid, resource, delta FROM reservations WHERE project_id = %s "
                         "AND deleted IS NOT TRUE", (project or self.PROJECT,))

    def user_messages(self, volume_id):
        """[(action_id, detail_id, event_id)] of the volume's user messages, oldest first."""
        return self._sql("SELECT action_id, detail_id, event_id FROM messages "
                         "WHERE resource_uuid = %s AND deleted IS NOT TRUE "
                         "ORDER BY created_at, id", (volume_id,))

    def notifications(self, volume_id, event_type="volume.resize.end"):
        """The payloads of the event_type notifications about volume_id that the relay
        published (published_notifications), each with its publisher_id under
        "_publisher_id"."""
        out = []
        for msg in self.published_notifications():
            payload = msg["payload"]
            if msg["event_type"] == event_type and payload.get("volume_id") == volume_id:
                payload = dict(payload)
                payload["_publisher_id"] = msg["publisher_id"]
                out.append(payload)
        return out

    def pool_allocated(self):
        rows = self._sql("SELECT coalesce(sum(allocated_capacity_gb), 0) FROM volmgr_pool_stats "
                         "WHERE host = %s OR host = %s OR host LIKE %s",
                         (self.service_host, self.host, self.service_host + "%"))
        return int(rows[0][0]) if rows else 0

    def pending_extend(self, volume_id):
        rows = self._sql("SELECT new_size, reservations, instance_uuid FROM "
                         "volmgr_pending_extends WHERE volume_id = %s", (volume_id,))
        return rows[0] if rows else None

    def processed(self, unique_id):
        return self._sql("SELECT method, outcome FROM volmgr_processed_messages "
                         "WHERE unique_id = %s", (unique_id,))

    def default_type_id(self):
        return self.sql_value("SELECT id FROM volume_types WHERE name = %s "
                              "AND deleted IS NOT TRUE", (DEFAULT_TYPE,))

    # ---- rows a test seeds ----

    def insert_volume(self, size=1, status="available", project=None, user=None,
                      admin_md=None, previous_status=None, attach_status="detached",
                      volume_type_id=None, file_gib=None):
        """A volume row written directly in SQL, with live admin metadata rows. file_gib
        creates a sparse backing file of that size."""
        vid = str(uuid.uuid4())
        self._sql(
            "INSERT INTO volumes (created_at, updated_at, deleted, id, user_id, project_id, "
            "host, size, availability_zone, status, attach_status, display_name, "
            "volume_type_id, bootable, multiattach, previous_status, shared_targets, "
            "use_quota, launched_at, provider_location) VALUES "
            "(now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, %s, %s, %s, %s, %s, "
            "'nova', %s, %s, %s, %s, false, false, %s, true, true, now() AT TIME ZONE 'utc', "
            "%s)",
            (vid, user or self.USER, project or self.PROJECT, self.volume_host, size, status,
             attach_status, "it-" + vid[:8], volume_type_id or self.default_type_id(),
             previous_status, self.backing_file(vid)))
        for k, v in (admin_md or {}).items():
            self.set_admin_md(vid, k, v)
        if file_gib is not None:
            self.grow_file(vid, file_gib)
        return vid

    def live_reservation(self, project=None, gib=1):
        """A live reservation of gib gigabytes for project, as os-extend leaves it (the usage
        row's reserved raised with it). Returns its uuid."""
        project = project or self.PROJECT
        self._sql("INSERT INTO quota_usages (created_at, deleted, project_id, resource, in_use,"
                  " reserved, race_preventer) VALUES (now() AT TIME ZONE 'utc', false, %s,"
                  " 'gigabytes', 0, 0, true) ON CONFLICT DO NOTHING", (project,))
        res = str(uuid.uuid4())
        self._sql("UPDATE quota_usages SET reserved = reserved + %s"
                  " WHERE project_id = %s AND resource = 'gigabytes' AND deleted = false",
                  (gib, project))
        self._sql("INSERT INTO reservations (created_at, deleted, uuid, usage_id, project_id,"
                  " resource, delta, expire) SELECT now() AT TIME ZONE 'utc', false, %s, id,"
                  " project_id, 'gigabytes', %s, now() AT TIME ZONE 'utc' + interval '1 day'"
                  " FROM quota_usages WHERE project_id = %s AND resource = 'gigabytes'"
                  " AND deleted = false", (res, gib, project))
        return res

    def set_admin_md(self, volume_id, key, value):
        self._sql("INSERT INTO volume_admin_metadata (created_at, updated_at, deleted, "
                  "volume_id, key, value) VALUES (now() AT TIME ZONE 'utc', "
                  "now() AT TIME ZONE 'utc', false, %s, %s, %s)", (volume_id, key, value))

    def insert_attachment(self, volume_id, instance_uuid=None, mark_in_use=True,
                          reserved=False):
        """An attachment row written in SQL (instance_uuid None: a Glance-store attachment),
        attached on compute1. reserved: the row Cinder's attachment-create without a
        connector leaves (reserved, no host, mountpoint, time nor mode), and the volume
        reserved instead of in-use."""
        aid = str(uuid.uuid4())
        self._sql("INSERT INTO volume_attachment (created_at, updated_at, deleted, id, "
                  "volume_id, attached_host, instance_uuid, mountpoint, attach_time, "
                  "attach_mode, attach_status) VALUES (now() AT TIME ZONE 'utc', "
                  "now() AT TIME ZONE 'utc', false, %s, %s, %s, %s, %s, "
                  "CASE WHEN %s THEN NULL ELSE now() AT TIME ZONE 'utc' END, %s, %s)",
                  (aid, volume_id, None if reserved else "compute1", instance_uuid,
                   None if reserved else "/dev/vdc", reserved, "null" if reserved else "rw",
                   "reserved" if reserved else "attached"))
        if reserved:
            self._sql("UPDATE volumes SET status = 'reserved' WHERE id = %s", (volume_id,))
        elif mark_in_use:
            self._sql("UPDATE volumes SET status = 'in-use', attach_status = 'attached' "
                      "WHERE id = %s", (volume_id,))
        return aid

    def refuse_volume_update(self, vid, when):
        """From now to the end of the test, PostgreSQL refuses any update of volume vid whose
        new row satisfies the SQL condition when (a handler's transaction that fails for
        good)."""
        name = "it_refuse_" + vid.replace("-", "")
        self.sql("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$" % name)
        self.addCleanup(self.sql, "DROP FUNCTION %s() CASCADE" % name)
        self.sql("CREATE TRIGGER %s BEFORE UPDATE ON volumes FOR EACH ROW WHEN "
                 "(NEW.id = '%s' AND %s) EXECUTE FUNCTION %s()" % (name, vid, when, name))

    # ---- filestore ----

    def backing_file(self, volume_id):
        return os.path.join(self.filestore_dir, "volume-%s" % volume_id)

    def file_size(self, volume_id):
        """Size in bytes of the volume's backing file, or None when it does not exist."""
        try:
            return os.stat(self.backing_file(volume_id)).st_size
        except FileNotFoundError:
            return None

    def grow_file(self, volume_id, gib):
        path = self.backing_file(volume_id)
        with open(path, "ab"):
            pass
        os.truncate(path, gib * GIB)
