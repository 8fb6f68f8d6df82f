-- kexwatch schema, version 9: monthly failure counts.
--
-- A year of daily failure counts is a few hundred thousand rows on a large
-- fleet: too many to group in the 100 ms SPEC's history questions get.
-- monthly counts the failures per UTC month, device, client type, failing
-- category, mismatch and failing client list (the key of daily without
-- the outcome: successes are counted in daily only, no question reads
-- them), with the first and last time. A window's whole months come from
-- monthly, its other whole days from daily, its partial days at the edges
-- from the rows (sql/README, daemon/store-query.c failure_source).
--
-- month is the UTC day number (floor(time / 86400)) of the month's first
-- day, so every boundary a query binds is a day number. The writer adds
-- each batch's failure counts in the batch's transaction, as for daily.
-- Retention deletes a month once all of its days are gone; a month some of
-- whose days are gone is read from daily instead (queries compare the month
-- with the oldest failure day daily still has).
--
-- Unknowns as in daily: client_id 0, client_list 0, category '', mismatch ''.
--
-- From this version on a success is counted in daily when its row goes
-- (keep_successes or retention deletes it, counting it in the same
-- statement's transaction), not when it is written: the writer then adds a
-- count row per failure key only, and no question reads success counts.
-- The success counts 007 and the writer made of rows still stored are taken
-- out below (they come back when those rows go). The first and last time of
-- a day whose success rows are partly gone are those of the whole day until
-- the rest is counted.
CREATE TABLE monthly (
    month INTEGER NOT NULL,               -- UTC day number of the month's first day
    device_id INTEGER NOT NULL,           -- devices.id
    client_id INTEGER NOT NULL,           -- clients.id; 0: client not known at all
    category TEXT NOT NULL,               -- failing category; '' when not known
    mismatch TEXT NOT NULL,               -- catalogue id; '' when not classified
    client_list INTEGER NOT NULL,         -- lists.id of the client's failing slot; 0 unknown
    n INTEGER NOT NULL,                   -- failures counted
    first INTEGER NOT NULL,               -- time of the first and last of them
    last INTEGER NOT NULL,
    PRIMARY KEY (month, device_id, client_id, category, mismatch, client_list)
) WITHOUT ROWID;
-- A device's failures by month (failures --device, device KEY).
CREATE INDEX monthly_device ON monthly (device_id, month);

-- Built from daily's failure counts: one pass over a few hundred thousand
-- rows at most.
INSERT INTO monthly (month, device_id, client_id, category, mismatch, client_list, n, first, last)
SELECT CAST(julianday(day * 86400, 'unixepoch', 'start of month') - 2440587.5 AS INTEGER), device_id, client_id,
       category, mismatch, client_list, sum(n), min(first), max(last)
FROM daily WHERE failed = 1
GROUP BY 1, 2, 3, 4, 5, 6;

-- Successes still stored as rows: no longer counted in daily (see above).
CREATE TEMP TABLE ok_rows AS
SELECT (time - ((time % 86400) + 86400) % 86400) / 86400 AS day, device_id, ifnull(client_id, 0) AS client_id,
       ifnull(category, '') AS category, ifnull(mismatch, '') AS mismatch, ifnull(client_list, 0) AS client_list,
       count(*) AS n
FROM negotiations WHERE failed = 0
GROUP BY 1, 2, 3, 4, 5, 6;
UPDATE daily SET n = daily.n - o.n
FROM temp.ok_rows o
WHERE daily.failed = 0 AND daily.day = o.day AND daily.device_id = o.device_id AND daily.client_id = o.client_id
  AND daily.category = o.category AND daily.mismatch = o.mismatch AND daily.client_list = o.client_list;
DELETE FROM daily WHERE failed = 0 AND n <= 0;
DROP TABLE temp.ok_rows;
