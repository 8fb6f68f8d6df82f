-- kexwatch schema, version 6: the client's HASSH beside its fingerprint.
--
-- The fingerprint now covers the host-key algorithms (and the s2c lists
-- when they differ), so clients that differ only there are told apart; the
-- HASSH-compatible value is kept as its own field for matching against
-- HASSH databases. Alerts saved by earlier versions hold a HASSH in
-- fingerprint: it is copied to hassh, and an alert whose fingerprint equals
-- its hassh is one of those. kexwatchd matches such an alert by the HASSH
-- of a new failure or success (the rule it was raised under) and, at the
-- next failure of its client, takes that client's new fingerprint while
-- keeping its alert_id: nothing fires twice and nothing is left firing
-- (README, "Upgrading").

ALTER TABLE alerts ADD COLUMN hassh TEXT;     -- the client's HASSH, NULL: not known
UPDATE alerts SET hassh = fingerprint WHERE fingerprint IS NOT NULL;
