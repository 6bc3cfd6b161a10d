-- 006_hostile_messages.sql: what the manager keeps to trust no message further than it must.

-- The reply queue of the call whose reply is stored: a message that reuses a handled
-- _unique_id gets the stored reply again only when it names the same queue (oslo's
-- "reply_" and 32 hex digits). NULL for casts and for calls handled before this column.
ALTER TABLE volmgr_processed_messages ADD COLUMN IF NOT EXISTS reply_q character varying(38);

-- Connections of volumes that are gone: the manager now removes them with the volume.
DELETE FROM volmgr_connections c
WHERE NOT EXISTS (SELECT 1 FROM volumes v WHERE v.id = c.volume_id AND NOT v.deleted);
