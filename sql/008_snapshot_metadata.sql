-- 008_snapshot_metadata.sql: the metadata of snapshots (docs/cinder.md §17), Cinder's table
-- as its initial migration creates it, so that a database shared with a Cinder holds one
-- table for both.
CREATE SEQUENCE IF NOT EXISTS snapshot_metadata_id_seq AS integer;
CREATE TABLE IF NOT EXISTS snapshot_metadata (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('snapshot_metadata_id_seq'::regclass),
	snapshot_id character varying(36) NOT NULL,
	key character varying(255),
	value character varying(255),
	CONSTRAINT snapshot_metadata_pkey PRIMARY KEY (id),
	CONSTRAINT snapshot_metadata_snapshot_id_fkey FOREIGN KEY (snapshot_id)
		REFERENCES snapshots (id)
);
ALTER SEQUENCE snapshot_metadata_id_seq OWNED BY snapshot_metadata.id;
CREATE INDEX IF NOT EXISTS ix_snapshot_metadata_snapshot_id ON snapshot_metadata (snapshot_id);
