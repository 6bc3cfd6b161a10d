-- 007_migrations.sql: the durable state of the generic migrations this service drives
-- (docs/cinder.md §16). Cinder keeps it in the memory of the source manager's greenthread,
-- so a restarted cinder-volume forgets a migration half done; volmgr keeps it here, so the
-- source host's engine (manager/engine.c) resumes it after a crash.
--
-- stage: creating (the destination row exists; the create_volume cast is sent once
-- create_sent is set), copying (the destination is available; the bytes are copied),
-- swapping (attached: compute is asked to swap until swap_sent records that it was, and calls
-- the completion back before the deadline, which entering swapping renews), completing
-- (update_migrated_volume, asked until the deadline entering completing sets, and the swap
-- of the rows), cleanup (the rows are swapped; the delete_volume cast for the leftover row
-- and the completion's reply remain), done, failed.
-- A row in done or failed is history, kept for the operator; at most one other row exists
-- per source volume.
CREATE TABLE IF NOT EXISTS volmgr_migrations (
	id bigserial NOT NULL,
	volume_id character varying(36) NOT NULL,
	new_volume_id character varying(36) NOT NULL,
	source_host character varying(255) NOT NULL,
	dest_host character varying(255) NOT NULL,
	new_type_id character varying(36),
	reservations text,
	old_reservations text,
	orig_status character varying(255),
	stage character varying(16) NOT NULL,
	create_sent boolean NOT NULL DEFAULT false,
	swap_sent boolean NOT NULL DEFAULT false,
	reply_q character varying(255),
	reply_msg_id character varying(64),
	reply_format character varying(16),
	request_id character varying(255),
	reason text,
	deadline timestamp without time zone NOT NULL,
	created_at timestamp without time zone NOT NULL,
	updated_at timestamp without time zone NOT NULL,
	CONSTRAINT volmgr_migrations_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS volmgr_migrations_live_idx ON volmgr_migrations (volume_id)
	WHERE stage NOT IN ('done', 'failed');
CREATE INDEX IF NOT EXISTS volmgr_migrations_new_volume_idx
	ON volmgr_migrations (new_volume_id);
CREATE INDEX IF NOT EXISTS volmgr_migrations_source_idx ON volmgr_migrations (source_host)
	WHERE stage NOT IN ('done', 'failed');
