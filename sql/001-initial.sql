-- kexwatch schema, version 1.
--
-- Applied by the store in one transaction, followed by PRAGMA user_version = 1
-- (see sql/README). Never edit a migration that has shipped: add the next one.
--
-- Conventions: times are INTEGER seconds since the epoch (UTC); every table
-- that is referenced has an INTEGER PRIMARY KEY (the rowid, cheapest to join
-- on); names of things (categories, directions, evidence, slots) are the same
-- words the alerts and the command line print, so the tool's queries read
-- like the SPEC.

-- Marks the file as kexwatch's ("KEXW"), so a database of another program
-- is recognised and refused instead of being migrated.
PRAGMA application_id = 1262835799;

-- A device that sent us a negotiation or a learned server list. key is the
-- device identity chosen by [listen] identify (source address or host name).
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT,                -- inventory section name, when one matches
    vendor TEXT,              -- huawei, cisco, h3c, openssh, dropbear, ...
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);

-- Every distinct name-list, stored once: a fleet offers the same few hundred
-- lists millions of times. names is the list comma-joined in offer order
-- (markers such as ext-info-c included, as the client sent them); partial is
-- 1 when more names may have followed (a cut log line), so a cut list never
-- passes for the whole one. last_used is the newest negotiation that names it
-- (kept by the store, for retention).
CREATE TABLE lists (
    id INTEGER PRIMARY KEY,
    names TEXT NOT NULL,
    partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1)),
    last_used INTEGER NOT NULL,
    UNIQUE (names, partial)
);

-- The names of each list, one row each, so "failures by algorithm" is a
-- join instead of string splitting over millions of rows.
CREATE TABLE list_items (
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    pos INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (list_id, pos)
) WITHOUT ROWID;

-- A client type: one SSH client build, named by its HASSH-style fingerprint
-- and its software string. Either may be unknown (NULL): a negotiation whose
-- offer was incomplete has no fingerprint. The offered lists are those of
-- the first negotiation that showed them (client to server direction).
CREATE TABLE clients (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT,
    software TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    kex_list INTEGER REFERENCES lists(id),
    hostkey_list INTEGER REFERENCES lists(id),
    cipher_list INTEGER REFERENCES lists(id),
    mac_list INTEGER REFERENCES lists(id),
    compression_list INTEGER REFERENCES lists(id)
);
-- One row per (fingerprint, software), unknowns included (a plain UNIQUE
-- would let NULLs repeat). The store looks clients up by these expressions.
CREATE UNIQUE INDEX clients_identity ON clients (ifnull(fingerprint, ''), ifnull(software, ''));
-- (No indexes on the list columns: the table holds a few hundred rows, and
-- retention reads their list ids once per pass.)

-- One negotiation outcome. Failures carry the failing category (and
-- direction for cipher, mac and compression), the evidence, and the client's
-- and the server's list of the failing slot; successes leave them NULL.
--
-- device_id, client_id, client_list and server_list name rows of devices,
-- clients and lists but are not declared as foreign keys: SQLite checks the
-- delete of a parent row by looking for children, which needs an index on
-- each of these columns over every negotiation, and indexes whose keys do not
-- grow with time are what makes inserting slow (each batch rewrites pages all
-- over them). The store keeps them right instead: devices.last_seen,
-- clients.last_seen and lists.last_used are never older than a negotiation
-- naming the row, and retention deletes such a row only when it is older than
-- the cut-off and no negotiation older than the cut-off is left.
CREATE TABLE negotiations (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    device_id INTEGER NOT NULL,                 -- devices.id
    client_id INTEGER,                          -- clients.id; NULL: client not known at all
    address TEXT,                               -- client address
    port INTEGER,                               -- client port, NULL when unknown
    failed INTEGER NOT NULL CHECK (failed IN (0, 1)),
    category TEXT CHECK (category IN ('kex', 'hostkey', 'cipher', 'mac', 'compression')),
    direction TEXT CHECK (direction IN ('c2s', 's2c')),
    evidence TEXT CHECK (evidence IN ('explicit', 'inferred')),
    mismatch TEXT,                              -- catalogue id; NULL until classified
    client_list INTEGER,                        -- lists.id
    server_list INTEGER,                        -- lists.id
    reason TEXT                                 -- the device's own words, if any
);

-- Retention deletes successes by time (failures by failures_window). Kept
-- to successes so that a query about failures in a window has one index to
-- choose, the covering one below.
CREATE INDEX successes_time ON negotiations (time, failed) WHERE failed = 0;
-- Every "failures [--by client|device|category|algorithm|mismatch] in a time
-- window" query: a range scan of this index alone, without touching the
-- table, and only over failures (successes, the bulk, are not in it). failed
-- is a column too, though always 1 here (it costs no byte), so that SQLite
-- sees the index covers queries saying "failed = 1".
CREATE INDEX failures_window ON negotiations (time, device_id, client_id, category, mismatch, client_list, failed)
    WHERE failed = 1;
-- A device's recent failures (kexwatch device KEY), failures --device KEY,
-- and failures --by device (SQLite skips from device to device once ANALYZE
-- has run; the store runs it). A device has a few thousand failures a year
-- at most, read in time order. Failures only: this is the one index whose
-- inserts land all over it.
CREATE INDEX failures_device ON negotiations (device_id, time, failed) WHERE failed = 1;

-- What a device (as server) offers, per KEXINIT slot, and where that came
-- from: learned from its own proposal in the logs, configured in the
-- inventory, or a vendor default. A learned list wins over a configured one
-- only when newer, so both are kept.
CREATE TABLE profiles (
    device_id INTEGER NOT NULL REFERENCES devices(id),
    slot TEXT NOT NULL CHECK (slot IN ('kex', 'hostkey', 'cipher_c2s', 'cipher_s2c',
                                       'mac_c2s', 'mac_s2c', 'comp_c2s', 'comp_s2c')),
    source TEXT NOT NULL CHECK (source IN ('learned', 'configured', 'default')),
    list_id INTEGER NOT NULL REFERENCES lists(id),
    learned_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, slot, source)
) WITHOUT ROWID;
CREATE INDEX profiles_list ON profiles (list_id);

-- Alerts: one row per alert_id (a stable hash of device, mismatch, client
-- fingerprint and category), updated while it fires.
CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    mismatch TEXT NOT NULL,
    fingerprint TEXT,
    category TEXT NOT NULL CHECK (category IN ('kex', 'hostkey', 'cipher', 'mac', 'compression')),
    status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    last_notified INTEGER                       -- NULL: never sent
);
-- Firing alerts are restored at start-up.
CREATE INDEX alerts_firing ON alerts (status, last_seen) WHERE status = 'firing';
CREATE INDEX alerts_device ON alerts (device_id);

-- Durable delivery outbox: a row per (alert notification, sink) until the
-- sink accepts it, so an accepted alert survives a sink being down and a
-- restart. payload is the exact body to send.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(alert_id) ON DELETE CASCADE,
    sink TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt);
CREATE INDEX outbox_alert ON outbox (alert_id);
