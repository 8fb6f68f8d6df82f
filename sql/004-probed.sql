-- kexwatch schema, version 4: server lists learned by probing, the last
-- probe of each device, and the fix verification of alerts.
--
-- The daemon's [probe] asks a device's SSH server for its KEXINIT; those
-- lists are kept beside the learned and configured ones with source
-- 'probed' (the newest source wins). A CHECK constraint cannot be altered
-- in SQLite, so profiles is rebuilt (sql/README).

CREATE TABLE new_profiles (
    device_id INTEGER NOT NULL REFERENCES devices(id),
    slot TEXT NOT NULL CHECK (slot IN ('kex', 'hostkey', 'cipher_c2s', 'cipher_s2c',
                                       'mac_c2s', 'mac_s2c', 'comp_c2s', 'comp_s2c')),
    source TEXT NOT NULL CHECK (source IN ('learned', 'probed', 'configured', 'default')),
    list_id INTEGER NOT NULL REFERENCES lists(id),
    learned_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, slot, source)
) WITHOUT ROWID;
INSERT INTO new_profiles (device_id, slot, source, list_id, learned_at)
    SELECT device_id, slot, source, list_id, learned_at FROM profiles;
DROP TABLE profiles;
ALTER TABLE new_profiles RENAME TO profiles;
CREATE INDEX profiles_list ON profiles (list_id);

-- The last probe of a device: when, where, what its server announced
-- (banner, e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2"), and the error when it did
-- not answer (NULL: it answered and its lists are in profiles). Deleted with
-- its device.
CREATE TABLE probes (
    device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    time INTEGER NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL,
    banner TEXT,
    error TEXT
);

-- When a later probe showed the device offering what the alert's client
-- needs (the alert is "fixed"; it still resolves as SPEC says). NULL: not
-- verified.
ALTER TABLE alerts ADD COLUMN fixed_at INTEGER;
