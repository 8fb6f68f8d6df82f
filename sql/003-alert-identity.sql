-- kexwatch schema, version 3: the client identity of an alert.
--
-- An alert's client is its fingerprint, else its software and its offer in
-- the failing category, else that offer (SPEC "Alert identity"); a later
-- success resolves it when it names the same client by the best identity
-- both know, down to the client's address. These columns keep what the
-- fingerprint column alone cannot, so a firing alert restored after a
-- restart still resolves the way it would have before.

ALTER TABLE alerts ADD COLUMN software TEXT;   -- client software as logged, NULL: not logged
ALTER TABLE alerts ADD COLUMN offer TEXT;      -- the client's list of the failing slot, comma-joined
ALTER TABLE alerts ADD COLUMN slot TEXT;       -- that slot (kex, hostkey, cipher_c2s, ...)
ALTER TABLE alerts ADD COLUMN address TEXT;    -- the client's address seen last
