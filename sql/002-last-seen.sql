-- kexwatch schema, version 2: indexes on last_seen and last_used.
--
-- "kexwatch devices" lists devices most recently seen first, and retention
-- looks for devices, client types and lists not used since the cut-off (the
-- only ones that can have become orphans) without reading whole tables.
-- Also the example of a migration that changes an existing schema.

CREATE INDEX devices_last_seen ON devices (last_seen);
CREATE INDEX clients_last_seen ON clients (last_seen);
CREATE INDEX lists_last_used ON lists (last_used);
