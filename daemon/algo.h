/* SPDX-License-Identifier: ISC */
/* algo: the algorithm knowledge base (conf/algorithms.tsv) and the vendor
 * keyword maps (conf/keywords.tsv), loaded into one immutable database.
 *
 * What it knows about an SSH algorithm name, per KEXINIT category: how safe
 * it is (rating and reason tags), whether it is a marker pseudo-algorithm,
 * whether a cipher is AEAD, what a kex method needs from the host key and
 * what a host key algorithm can do, and how vendors spell it in their CLI.
 * The file formats are described in the header comments of the two files.
 *
 * A database never changes after algo_db_load(); lookups take no locks and
 * allocate nothing, so one database may be shared by any number of readers
 * and replaced as a whole on SIGHUP. Every string and entry pointer handed
 * out is borrowed from the database and lives until algo_db_free().
 */
#ifndef KW_ALGO_H
#define KW_ALGO_H

#include <stdbool.h>
#include <stddef.h>

/* KEXINIT categories. Directions (c2s, s2c) share a category. */
enum algo_category {
    ALGO_KEX = 0,
    ALGO_HOSTKEY,
    ALGO_CIPHER,
    ALGO_MAC,
    ALGO_COMPRESSION,
    ALGO_NCATEGORIES
};

/* Ratings, worst first. ALGO_RATING_UNKNOWN is what a name missing from
 * the table gets. */
enum algo_rating {
    ALGO_RATING_UNKNOWN = 0,
    ALGO_RATING_BROKEN,
    ALGO_RATING_WEAK,
    ALGO_RATING_OK,
    ALGO_RATING_MARKER
};

/* How a cipher authenticates. */
enum algo_aead {
    ALGO_AEAD_NONE = 0, /* needs a MAC (or is unknown) */
    ALGO_AEAD_IMPLICIT, /* MAC implicit, MAC lists not negotiated (OpenSSH style) */
    ALGO_AEAD_RFC5647   /* RFC 5647 AEAD_*: the MAC list is still negotiated */
};

/* For kex: what the method needs from the host key algorithm. For hostkey:
 * what the algorithm can do. */
enum algo_hostkey_use {
    ALGO_HK_SIGN = 0, /* kex: needs a signing host key; hostkey: can sign */
    ALGO_HK_ANY,      /* kex only: any host key algorithm, even "null" (GSS-API) */
    ALGO_HK_NONE      /* hostkey only: cannot sign ("null", RFC 4462) */
};

/* Certainty of one wire name a vendor keyword expands to. */
enum algo_wire_certainty {
    ALGO_WIRE_CERTAIN = 0, /* the keyword enables this name */
    ALGO_WIRE_MAYBE        /* the device may or may not offer this name */
};

struct algo_db;
struct algo_entry;   /* one row of algorithms.tsv */
struct algo_keyword; /* one row of keywords.tsv */

/* Loads the two files. path_keywords may be NULL (no vendor keywords; the
 * vendor columns of algorithms.tsv are then not cross-checked). On success
 * returns 0 and sets *out to a database the caller owns (free with
 * algo_db_free()). On failure returns -1, leaves *out NULL and writes one
 * message "FILE:LINE: what" (or "FILE: what") into err (errsize bytes,
 * always NUL-terminated when errsize > 0; err may be NULL). Files larger
 * than 4 MiB, lines longer than 4 KiB, more than 65535 rows, bad fields,
 * duplicate rows and disagreement between the two files are errors. */
int algo_db_load(const char *path_algorithms, const char *path_keywords, struct algo_db **out,
                 char *err, size_t errsize);

/* Frees a database and everything borrowed from it; NULL is a no-op. */
void algo_db_free(struct algo_db *db);

/* Number of rows of algorithms.tsv / keywords.tsv loaded. */
size_t algo_db_count(const struct algo_db *db);
size_t algo_db_keyword_count(const struct algo_db *db);

/* Looks up name[0..len) (not NUL-terminated; len may exceed 64, then
 * nothing is found) in a category: an exact row first, then the longest
 * wildcard row ("gss-gex-sha1-*") whose prefix starts the name. Returns the
 * entry or NULL when the name is unknown. O(1) expected for exact names. */
const struct algo_entry *algo_db_find(const struct algo_db *db, enum algo_category cat,
                                      const char *name, size_t len);

/* Same for a NUL-terminated name. */
const struct algo_entry *algo_db_find_str(const struct algo_db *db, enum algo_category cat,
                                          const char *name);

/* True when name[0..len) is a marker pseudo-algorithm (RFC 8308 ext-info-c/s,
 * kex-strict-*-v00@openssh.com, kexguess2@matt.ucc.asn.au): a kex-category
 * row rated marker. Markers only ever appear in kex lists. */
bool algo_db_is_marker(const struct algo_db *db, const char *name, size_t len);

/* Accessors. Every one accepts e == NULL (an unknown name) and then returns
 * the "unknown" answer given in brackets. Strings are borrowed from the
 * database. */

/* The name as in the table (a wildcard row ends in '*'). [NULL] */
const char *algo_entry_name(const struct algo_entry *e);
/* [ALGO_NCATEGORIES] */
enum algo_category algo_entry_category(const struct algo_entry *e);
/* [ALGO_RATING_UNKNOWN] */
enum algo_rating algo_entry_rating(const struct algo_entry *e);
/* [false] */
bool algo_entry_is_marker(const struct algo_entry *e);
/* [ALGO_AEAD_NONE] */
enum algo_aead algo_entry_aead(const struct algo_entry *e);
/* [ALGO_HK_SIGN] */
enum algo_hostkey_use algo_entry_hostkey_use(const struct algo_entry *e);
/* Reason tags, comma separated, "" for none. [""] */
const char *algo_entry_why(const struct algo_entry *e);

/* True when the reason tags contain tag exactly ("sha1" matches "no-pq,sha1"
 * but not "sha1x"). [false] */
bool algo_entry_has_reason(const struct algo_entry *e, const char *tag);

/* The vendor's CLI keyword for this algorithm ("aes128_ctr" for huawei), or
 * NULL when the vendor has none or the vendor is not in the table. [NULL] */
const char *algo_entry_keyword(const struct algo_entry *e, const char *vendor);

/* Vendor keyword -> wire names. Finds keyword[0..len) of vendor in a
 * category; NULL when it is not a keyword of that vendor (it may then be a
 * wire name written in the configuration). */
const struct algo_keyword *algo_db_keyword(const struct algo_db *db, const char *vendor,
                                           enum algo_category cat, const char *keyword,
                                           size_t len);

/* The keyword as written in keywords.tsv. */
const char *algo_keyword_name(const struct algo_keyword *kw);

/* Number of wire names the keyword expands to; 0 when its wire names are
 * undocumented (then algo_keyword_undocumented() is true). */
size_t algo_keyword_wire_count(const struct algo_keyword *kw);

/* The i-th wire name (i < algo_keyword_wire_count()), in file order, and how
 * sure the table is that the device offers it. */
const char *algo_keyword_wire(const struct algo_keyword *kw, size_t i,
                              enum algo_wire_certainty *certainty);

/* True when the keyword's wire names are not documented at all ("?"): a
 * list configured with it may hold names nobody can predict. */
bool algo_keyword_undocumented(const struct algo_keyword *kw);

/* Helpers for names in files and command lines. algo_category_name() returns
 * "kex", "hostkey", "cipher", "mac", "compression" (NULL if out of range);
 * algo_category_from_name() returns the category or -1. Likewise for
 * ratings ("broken", "weak", "ok", "marker", "unknown"). */
const char *algo_category_name(enum algo_category cat);
int algo_category_from_name(const char *name);
const char *algo_rating_name(enum algo_rating r);

#endif
