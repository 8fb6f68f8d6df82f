/* SPDX-License-Identifier: ISC */
/* filesync: an append-only file whose records reach the disk in groups, on
 * a thread of its own, so the caller never waits for the disk.
 *
 * filesync_append() copies a record into memory and returns at once. The
 * thread writes everything queued and fsyncs it once (a group commit), at
 * most every FILESYNC_INTERVAL_MS milliseconds; a slow disk makes the
 * groups larger, never the caller slower. A record counts as synced (see
 * filesync_poll) only once its fsync returned: what is counted survives a
 * crash or kill -9.
 *
 * Threads: one caller thread (the event loop) calls every function; the
 * file's own thread only writes. Memory: at most FILESYNC_MAX_BYTES queued
 * (then filesync_append refuses).
 */
#ifndef KW_FILESYNC_H
#define KW_FILESYNC_H

#include <stddef.h>
#include <stdint.h>

#define FILESYNC_INTERVAL_MS 2
#define FILESYNC_MAX_BYTES (32u << 20)

struct filesync;

/* Opens path for appending (created when missing, close-on-exec) and
 * starts its thread. Returns 0 and *out, or -1 with errno set. */
int filesync_open(const char *path, struct filesync **out);

/* Queues len bytes of data (copied) to be appended. Returns 0, or -1 when
 * FILESYNC_MAX_BYTES are already waiting or memory is short (nothing
 * queued). */
int filesync_append(struct filesync *f, const char *data, size_t len);

/* A descriptor that becomes readable when records were synced or failed
 * (for the caller's event loop); filesync_poll empties it. */
int filesync_notify_fd(const struct filesync *f);

/* Records synced and records failed (write or fsync error) since the last
 * call, and the errno of the last failure among them (0: none). */
void filesync_poll(struct filesync *f, uint64_t *synced, uint64_t *failed, int *error);

/* Records and bytes waiting to be synced now. */
size_t filesync_pending(const struct filesync *f, size_t *bytes);

/* Opens path anew (logrotate moved the file): records appended before the
 * call go to the old file, later ones to the new. Returns 0, or -1 with
 * errno set and the old file kept. */
int filesync_reopen(struct filesync *f, const char *path);

/* Writes and syncs what is queued, stops the thread and closes the file.
 * Returns the records that could not be synced (0: all were). NULL is a
 * no-op. */
uint64_t filesync_close(struct filesync *f);

#endif
