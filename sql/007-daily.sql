-- kexwatch schema, version 7: daily aggregates of the negotiations.
--
-- A fleet polled by its automation negotiates hundreds of millions of times
-- a year, nearly all successes. daily counts them per UTC day, device,
-- client type, outcome, failing category, mismatch and failing client list,
-- with the first and last time of the day: a year of history questions
-- reads a few rows per day and pair instead of every negotiation, and
-- successes older than [store] keep_successes live on only here.
--
-- The writer adds each batch's counts in the batch's own transaction, so
-- for every day the failure rows of negotiations and the failure counts of
-- daily tell exactly the same story (failures keep their rows until
-- retention); retention deletes both in whole UTC days. A query answers the
-- whole days of its window from daily and the partial days at its edges
-- from the rows (sql/README).
--
-- Unknown values are stored as 0 or '' instead of NULL (a primary key of a
-- WITHOUT ROWID table cannot hold NULL, and NULLs would not meet in a
-- conflict): client_id 0, client_list 0, category '', mismatch ''. No
-- catalogue id and no category is the empty word, so nothing is confused.
CREATE TABLE daily (
    failed INTEGER NOT NULL CHECK (failed IN (0, 1)),
    day INTEGER NOT NULL,                 -- UTC day: floor(time / 86400)
    device_id INTEGER NOT NULL,           -- devices.id
    client_id INTEGER NOT NULL,           -- clients.id; 0: client not known at all
    category TEXT NOT NULL,               -- failing category; '' for a success
    mismatch TEXT NOT NULL,               -- catalogue id; '' when not classified (and for a success)
    client_list INTEGER NOT NULL,         -- lists.id of the client's failing slot; 0 unknown or a success
    n INTEGER NOT NULL,                   -- negotiations counted
    first INTEGER NOT NULL,               -- time of the first and last of them
    last INTEGER NOT NULL,
    PRIMARY KEY (failed, day, device_id, client_id, category, mismatch, client_list)
) WITHOUT ROWID;
-- A device's failures by day (failures --device, device KEY, devices):
-- failures only, like failures_device.
CREATE INDEX daily_device ON daily (device_id, day) WHERE failed = 1;

-- Built from the rows there are. One pass over the table; the sort is
-- SQLite's (measured: tests/bench/README.md).
INSERT INTO daily (failed, day, device_id, client_id, category, mismatch, client_list, n, first, last)
SELECT failed, (time - ((time % 86400) + 86400) % 86400) / 86400, device_id, ifnull(client_id, 0),
       ifnull(category, ''), ifnull(mismatch, ''), ifnull(client_list, 0), count(*), min(time), max(time)
FROM negotiations
GROUP BY 1, 2, 3, 4, 5, 6, 7;
