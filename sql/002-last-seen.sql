-- kexwatch schema, version 2: indexes on last_seen.
--
-- "kexwatch devices" lists devices most recently seen first, and retention
-- looks for devices and client types not seen since the cut-off (the only
-- ones that can have become orphans) without reading the whole table.
-- Also the example of a migration that changes an existing schema.

CREATE INDEX devices_last_seen ON devices (last_seen);
CREATE INDEX clients_last_seen ON clients (last_seen);
