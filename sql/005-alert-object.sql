-- kexwatch schema, version 5: the last alert object of a firing alert.
--
-- An alert restored after a restart is resolved, and re-sent to
-- Alertmanager while it fires, with the labels and annotations it was sent
-- with (Alertmanager knows an alert by its label set: a resolved notice
-- with other labels would resolve nothing). Rows of earlier versions have
-- none: their resolved notice is built from the columns, as before.

ALTER TABLE alerts ADD COLUMN object TEXT;    -- the alert's JSON object as last sent, NULL: not kept
