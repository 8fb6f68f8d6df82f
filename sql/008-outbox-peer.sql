-- kexwatch schema, version 8: a delivery state per webhook peer.
--
-- [alerts] webhook takes several URLs (the instances of an Alertmanager
-- cluster, which expects every client to send every alert to each); each
-- notification has one outbox row per peer, so each peer gets it exactly
-- once and one that is down holds back no other. Rows of earlier versions
-- have no peer: the first URL of the list takes them at the next start.

ALTER TABLE outbox ADD COLUMN peer TEXT;      -- the webhook URL; NULL: the sink has one destination
