/* SPDX-License-Identifier: ISC */
/* syslog: parsing the header of one received message into a record.
 *
 * Recognised: RFC 5424; RFC 3164; Huawei VRP information centre
 * ("%%01MODULE/SEV/BRIEF(flag)[n]:", "CID=0x..;", "VS=..-CID=0x..;");
 * Huawei debug records ("HOST MODULE/LEVEL/DIGEST: text"); H3C/HPE Comware
 * ("%%10"); Cisco IOS (sequence numbers, '*'/'.' time markers,
 * "%FAC-SEV-MNEMONIC:"); and messages with no header at all. The timestamp
 * forms of Huawei "info-center timestamp" are all read (year or not,
 * fractions ".d"/".ddd"/".ddd.d", "+hh:mm"/"-hh:mm", " DST", "format-date"
 * "yyyy-mm-dd hh:mm:ss", boot-relative "xxxxxx.yyyyyy").
 *
 * syslog_parse() never fails: what it cannot read becomes a record with
 * format SL_FMT_NONE and the whole input as text.
 *
 * Pure code, no allocation: every string in a record is a slice of the input
 * buffer and lives as long as that buffer. Fuzzed by tests/fuzz/fuzz_frame.c.
 */
#ifndef KW_SYSLOG_H
#define KW_SYSLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A borrowed slice of the input; p == NULL (len 0) when absent. */
struct sl_str {
    const char *p;
    size_t len;
};

enum sl_format {
    SL_FMT_NONE = 0,     /* no header recognised: text is the whole input */
    SL_FMT_RFC5424,
    SL_FMT_RFC3164,      /* BSD: "Mmm dd hh:mm:ss HOST TAG[PID]: text" */
    SL_FMT_HUAWEI,       /* information centre "%%01MODULE/SEV/BRIEF(f):" */
    SL_FMT_HUAWEI_DEBUG, /* "MODULE/LEVEL/DIGEST: text" after time and host */
    SL_FMT_H3C,          /* "%%10MODULE/SEV/BRIEF(f):" */
    SL_FMT_CISCO,        /* "%FAC-SEV-MNEMONIC: text" */
};

/* Timestamp flags. */
#define SL_TS_PRESENT 0x01u /* a device timestamp was read */
#define SL_TS_YEAR 0x02u    /* it carried a year (else the year was inferred) */
#define SL_TS_ZONE 0x04u    /* it carried a UTC offset or 'Z' */
#define SL_TS_DST 0x08u     /* Huawei " DST" token was present */
#define SL_TS_BOOT 0x10u    /* boot-relative: ts_sec is seconds since boot */
#define SL_TS_UNSYNC 0x20u  /* Cisco '*' or '.': clock not synchronised */

struct syslog_record {
    enum sl_format format;
    int pri;          /* 0..191, or -1 when the message had no <PRI> */
    int facility;     /* pri / 8, or -1 */
    int severity;     /* pri % 8, or -1; for Huawei/H3C/Cisco the header's
                         own severity when there was no <PRI> */
    unsigned ts_flags;
    int64_t ts_sec;   /* device time as seconds since the epoch, UTC (the
                         device offset applied when known, except on Huawei
                         records, whose printed time is UTC; local time taken
                         as UTC otherwise); boot-relative seconds with SL_TS_BOOT */
    int32_t ts_usec;  /* fraction, microseconds */
    int32_t tz_offset_min; /* offset read from the timestamp, minutes east */
    struct sl_str host;     /* header host name */
    struct sl_str app;      /* tag / APP-NAME / Huawei or Cisco module */
    struct sl_str procid;   /* pid ("sshd[1234]" -> "1234") / PROCID */
    struct sl_str msgid;    /* RFC 5424 MSGID */
    struct sl_str sd;       /* RFC 5424 structured data, as received */
    struct sl_str hw_severity; /* Huawei/H3C/Cisco header severity digit(s) */
    struct sl_str brief;    /* Huawei brief / digest, Cisco mnemonic */
    struct sl_str flag;     /* Huawei flag letter (l, t, d, s) */
    struct sl_str cid;      /* Huawei CID / VS-CID value */
    struct sl_str seq;      /* Cisco sequence number / Huawei [count] */
    struct sl_str text;     /* the message text after the header */
    struct sl_str addr;     /* Huawei AR: source IPv4 address sent after
                               the host name */
};

/* Parses msg[0..len). now is the receive time (seconds since the epoch, UTC),
 * used to infer the year of year-less timestamps (the year that puts the
 * time nearest to now without being more than 31 days ahead of it). Huawei
 * timestamps are UTC with the offset naming the zone (Huawei's log
 * reference), so their offset is kept in tz_offset_min but not applied.
 * Fills *rec completely. Never fails. */
void syslog_parse(const char *msg, size_t len, int64_t now, struct syslog_record *rec);

/* Name of a format ("rfc5424", "rfc3164", "huawei", "huawei-debug", "h3c",
 * "cisco", "none"). */
const char *syslog_format_name(enum sl_format format);

#endif
