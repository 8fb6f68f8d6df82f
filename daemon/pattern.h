/* SPDX-License-Identifier: ISC */
/* pattern: the SSH line patterns. Picks, from the text of a syslog record,
 * the lines that describe SSH algorithm negotiation and extracts what they
 * say (an event and its captures).
 *
 * Patterns are data: conf/patterns.d/ *.conf, PCRE2 expressions with named
 * groups, each tagged with the event it produces and the vendor it belongs
 * to, compiled once (JIT) at start and on reload. A cheap literal pre-filter
 * keeps ordinary lines away from the expressions. The only module that
 * includes pcre2.h. Fuzzed by tests/fuzz/fuzz_pattern.c.
 *
 * The file format is described in conf/patterns.d/README. Expressions match
 * bytes, not UTF-8 characters (received text may be any bytes), and see the
 * record's text only: the syslog header (Huawei "%%01MODULE/SEV/BRIEF(f):",
 * "CID=..;", Cisco "%FAC-SEV-MNEMONIC:") is already gone; a pattern may be
 * restricted to records whose tag (app) is one of a list.
 *
 * A set is used by one thread at a time: pattern_match() reuses scratch
 * space (PCRE2 match data, the pre-filter's hit bits) kept in the set.
 */
#ifndef KW_PATTERN_H
#define KW_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

/* What a matched line says. */
enum pat_event {
    PAT_EV_CONNECT = 0,   /* a connection began (peer, port, session) */
    PAT_EV_VERSION,       /* the client's software version string (software; may carry peer/session) */
    PAT_EV_PROPOSAL,      /* a KEXINIT proposal block begins; side says whose (OpenSSH DEBUG2) */
    PAT_EV_LIST,          /* one name-list (slot, list); side from the pattern, else from the last PROPOSAL */
    PAT_EV_AGREED,        /* the algorithm agreed for a slot (slot, list = the one name) */
    PAT_EV_FAILURE,       /* the device logged a negotiation failure (category/slot, client_list,
                             server_list when given, peer, port) */
    PAT_EV_SUCCESS,       /* the session got past key exchange (a login, an agreed cipher set) */
    PAT_EV_LOGIN_FAIL,    /* a login failed without negotiation detail (peer, reason) */
    PAT_EV_CLOSE,         /* the connection closed (peer, port) */
    PAT_EV_NO_MATCH,      /* the device says a slot has no match, and a failure line with
                             the lists follows (OpenSSH DEBUG1 "kex: algorithm: (no match)"
                             before "Unable to negotiate ... Their offer:"): the session is
                             a failure of that slot, decided when the failure line or the
                             session's end comes (slot/category) */
    PAT_EV_COUNT
};

enum pat_side { PAT_SIDE_NONE = 0, PAT_SIDE_CLIENT, PAT_SIDE_SERVER };

/* Slot numbers are enum negotiate_slot values (0..7); these add: */
#define PAT_SLOT_NONE (-1)       /* the line names no slot */
#define PAT_SLOT_IGNORED (-2)    /* a slot kexwatch does not negotiate (languages) */

/* A borrowed slice of the matched text; p == NULL when the group did not
 * take part in the match. */
struct pat_span {
    const char *p;
    size_t len;
};

struct pat_match {
    enum pat_event event;
    const char *pattern; /* the pattern's name, borrowed from the set */
    const char *vendor;  /* the pattern's vendor ("huawei", "openssh", ...) */
    const char *platform; /* the pattern's platform ("cisco-iosxr"), or NULL */
    enum pat_side side;  /* from the pattern's side= or a captured role */
    int slot;            /* enum negotiate_slot, PAT_SLOT_NONE or PAT_SLOT_IGNORED */
    int category;        /* for failures naming only a category: enum algo_category
                            (kex 0, hostkey 1, cipher 2, mac 3, compression 4), or -1.
                            Set whenever the line names no direction (always for
                            kex and hostkey); -1 when it names one ("ciph_ctos",
                            "enc c->s"), so category >= 0 with a cipher, MAC or
                            compression slot means "direction unknown, c2s assumed" */
    struct pat_span list;        /* (?<list>) */
    struct pat_span client_list; /* (?<client_list>) */
    struct pat_span server_list; /* (?<server_list>) */
    struct pat_span session;     /* (?<session>): VTY, Cisco session number, socket id */
    struct pat_span peer;        /* (?<peer>): client address */
    struct pat_span port;        /* (?<port>) */
    struct pat_span software;    /* (?<software>) */
    struct pat_span reason;      /* (?<reason>) */
    bool cut;            /* the pattern's (?<cut>) group took part in the match:
                            the sender cut the line short, so the last name of
                            the list(s) may be incomplete (NEGOTIATE_PARSE_CUT) */
};

struct pattern_set;

/* Error list filled by pattern_set_load(): "FILE:LINE: text" strings. */
struct pattern_errors {
    char **msgs;
    size_t n;
};
void pattern_errors_free(struct pattern_errors *e);

/* Loads every *.conf file of dir, in name order, and compiles the patterns
 * (JIT where available). Returns 0 and a new set in *out, or -1 with every
 * problem (unreadable file, unknown key, bad event/vendor/slot, a regex that
 * does not compile — with its offset —, a duplicate name) appended to errs. */
int pattern_set_load(const char *dir, struct pattern_set **out, struct pattern_errors *errs);

void pattern_set_free(struct pattern_set *s);

/* Number of patterns loaded. */
size_t pattern_set_count(const struct pattern_set *s);

/* True when text[0..len) contains one of the pre-filter literals, i.e. may
 * be an SSH line. Cheap: no regex. */
bool pattern_prefilter(const struct pattern_set *s, const char *text, size_t len);

/* Matches text[0..len) (not NUL-terminated) against the patterns in order;
 * the first that matches wins. app (may be NULL/0) is the record's tag, for
 * patterns restricted to an app. Returns 1 and fills *m (slices borrowed
 * from text), 0 when no pattern matches (including lines the pre-filter
 * rejects), -1 on a matching error (counted; treated as no match). */
int pattern_match(const struct pattern_set *s, const char *text, size_t len, const char *app, size_t app_len,
                  struct pat_match *m);

/* Name of an event ("connect", "version", ...), NULL when out of range. */
const char *pattern_event_name(enum pat_event ev);

/* Normalises the words devices use for a slot ("key_ex", "KEX algorithms",
 * "ciph_ctos", "ciphers stoc", "enc c->s", "MAC", "comp_stoc",
 * "client->server cipher", ...) into an enum negotiate_slot, PAT_SLOT_IGNORED
 * (languages) or PAT_SLOT_NONE. A category word without a direction gives
 * the c2s slot and sets *category (may be NULL) to the category. */
int pattern_slot_from_text(const char *text, size_t len, int *category);

#endif
