/* SPDX-License-Identifier: ISC */
/* negotiate: the RFC 4253 section 7.1 algorithm negotiation, as a pure
 * function of two KEXINIT offers.
 *
 * Rules applied (RFC 4253 7.1, RFC 8308, RFC 4462, OpenSSH PROTOCOL):
 *  - per slot, the agreed algorithm is the first name on the client's list
 *    that is also on the server's list; directions are independent;
 *  - marker pseudo-algorithms (ext-info-c, kex-strict-*, kexguess2@...) are
 *    skipped in the kex lists;
 *  - the kex method must also have a host key algorithm, supported by both
 *    sides, that can do what the method needs (sign, for every method but
 *    GSS-API kex); when the first common kex has none, the next common kex
 *    is tried. When kex names are common but no host key fits any of them,
 *    the failure is reported as a hostkey failure (the kex slot then shows
 *    the first common kex, as OpenSSH logs it);
 *  - when the agreed cipher of a direction is AEAD with an implicit MAC
 *    (algo_entry_aead() == ALGO_AEAD_IMPLICIT), that direction's MAC lists
 *    are not negotiated: the MAC slot is NEG_IMPLICIT, whatever the lists;
 *  - "none" is a name like any other.
 * The first failure is looked for in the order sshd checks (kex, hostkey,
 * then cipher, MAC, compression client->server, then server->client).
 *
 * Partial knowledge is kept apart from failure. A list is unknown (NULL in
 * struct negotiate_offer: not seen in the logs, not configured), empty (a
 * list of no names, which matches nothing), complete, or partial (more names
 * may follow those listed: the text was cut, or names were dropped at the
 * 128-name limit, or a vendor keyword's wire names are undocumented). A name
 * may also be marked "maybe" (the device may not really offer it: an
 * ambiguous vendor keyword such as Huawei `ecc`). A slot is NEG_NO_MATCH
 * only when the lists prove it; anything the data cannot settle is
 * NEG_UNKNOWN: an unknown list on either side makes its slot NEG_UNKNOWN,
 * never NEG_NO_MATCH (a MAC slot may still be NEG_IMPLICIT, and what the
 * other side's list allows may still settle a later slot: whatever is agreed
 * from an AEAD-only cipher list needs no MAC). The engine never guesses.
 *
 * Nothing here allocates except list creation and negotiate_list_join();
 * negotiate_run() works on borrowed lists and writes a caller-provided
 * result.
 */
#ifndef KW_NEGOTIATE_H
#define KW_NEGOTIATE_H

#include <stdbool.h>
#include <stddef.h>

#include "algo.h"

#define NEGOTIATE_MAX_NAMES 128 /* names kept per list; more are dropped and counted */
#define NEGOTIATE_MAX_NAME 64   /* bytes per name (RFC 4251); longer names are cut */

/* KEXINIT name-list slots, in KEXINIT order (languages are not negotiated
 * for anything kexwatch reports). */
enum negotiate_slot {
    NEG_KEX = 0,
    NEG_HOSTKEY,
    NEG_CIPHER_C2S,
    NEG_CIPHER_S2C,
    NEG_MAC_C2S,
    NEG_MAC_S2C,
    NEG_COMP_C2S,
    NEG_COMP_S2C,
    NEG_NSLOTS
};

/* An immutable name-list. Created by negotiate_list_parse() or
 * negotiate_list_expand(), freed by negotiate_list_free(). */
struct negotiate_list;

/* negotiate_list_parse() flag: the text is known to have been cut short (a
 * syslog line truncated in the middle of the list). Unless the text ends in
 * a separator, its last name is dropped as possibly incomplete, and the
 * list is partial either way. */
#define NEGOTIATE_PARSE_CUT 1u

struct negotiate_parse_stats {
    size_t names;     /* names kept */
    size_t dropped;   /* names dropped: beyond NEGOTIATE_MAX_NAMES, or a cut last name */
    size_t truncated; /* names longer than NEGOTIATE_MAX_NAME, kept cut to that length */
};

/* Parses a name-list from captured text: names are separated by commas
 * and/or whitespace (space, TAB, CR, LF) or any other control byte; empty
 * items are dropped, so "a, b,,c\r" is a, b, c. Bytes are otherwise taken as
 * they are. At most NEGOTIATE_MAX_NAMES names are kept (the list is then
 * partial); a name longer than NEGOTIATE_MAX_NAME bytes is cut to that
 * length and can then only "maybe" equal another cut name. text may be NULL
 * when len is 0. Empty text gives an empty (known) list.
 * On success returns 0 and sets *out to a new list owned by the caller;
 * stats (may be NULL) tells what was dropped. Returns -1 when memory is
 * short or out is NULL (*out is then NULL). One allocation. */
int negotiate_list_parse(const char *text, size_t len, unsigned flags,
                         struct negotiate_list **out, struct negotiate_parse_stats *stats);

/* Rewrites a list written with a vendor's CLI keywords (as in an inventory
 * entry "cipher = aes128_ctr aes256_gcm") into wire names, through the
 * keyword map of db: each name that is a keyword of vendor in cat is
 * replaced by its wire names (uncertain ones marked "maybe"; a keyword whose
 * wire names are undocumented makes the list partial); any other name is
 * kept as a wire name. Duplicates are dropped (a name both certain and maybe
 * stays certain). vendor NULL copies the list. Returns 0 and a new list in
 * *out (caller owns it), or -1 when memory is short or an argument is NULL. */
int negotiate_list_expand(const struct algo_db *db, const char *vendor, enum algo_category cat,
                          const struct negotiate_list *in, struct negotiate_list **out);

/* The names comma-joined, as listed, in a malloc'd string the caller
 * frees ("" for an empty list); NULL when l is NULL or memory is short. */
char *negotiate_list_join(const struct negotiate_list *l);

/* Frees a list; NULL is a no-op. */
void negotiate_list_free(struct negotiate_list *l);

/* Number of names (0 for NULL). */
size_t negotiate_list_count(const struct negotiate_list *l);

/* The i-th name, NUL-terminated, borrowed from the list (lives until
 * negotiate_list_free()); NULL when i is out of range. */
const char *negotiate_list_name(const struct negotiate_list *l, size_t i);

/* True when the i-th name is only possibly offered ("maybe"). */
bool negotiate_list_maybe(const struct negotiate_list *l, size_t i);

/* True when more names may exist than the list holds. */
bool negotiate_list_partial(const struct negotiate_list *l);

/* Bytes l holds on the heap (0 for NULL), for memory accounting. */
size_t negotiate_list_bytes(const struct negotiate_list *l);

/* One side's KEXINIT: a list per slot, NULL = unknown. Lists are borrowed. */
struct negotiate_offer {
    const struct negotiate_list *list[NEG_NSLOTS];
};

enum negotiate_status {
    NEG_UNKNOWN = 0, /* the data cannot tell (a list is unknown or incomplete) */
    NEG_AGREED,      /* an algorithm is certainly agreed (agreed names it if certain) */
    NEG_NO_MATCH,    /* certainly no algorithm in common */
    NEG_IMPLICIT     /* MAC slot only: the agreed cipher is AEAD, no MAC is used */
};

struct negotiate_slot_result {
    enum negotiate_status status;
    /* The agreed name, borrowed from the client's list (lives as long as
     * that list), or NULL: always NULL unless status is NEG_AGREED, and NULL
     * then too when which name wins is not certain. Special case: when the
     * kex slot is NEG_AGREED because kex names are common but the hostkey
     * slot is NEG_NO_MATCH, this is the first common kex name. */
    const char *agreed;
};

enum negotiate_outcome {
    NEG_OUTCOME_OPEN = 0, /* no failure proven, but not every slot is known to agree */
    NEG_OUTCOME_OK,       /* every slot agreed (or implicit): the negotiation succeeds */
    NEG_OUTCOME_FAIL      /* at least one slot certainly has no match */
};

struct negotiate_result {
    struct negotiate_slot_result slot[NEG_NSLOTS];
    enum negotiate_outcome outcome;
    /* With NEG_OUTCOME_FAIL: the first slot, in check order, that is
     * NEG_NO_MATCH; -1 otherwise. */
    int first_fail;
    /* True when the outcome and first_fail are final: OK, or FAIL with every
     * slot before first_fail (in check order) agreed. False when an unknown
     * slot before first_fail might fail first (the connection fails either
     * way, but the category is not proven), and always for OPEN. */
    bool decided;
};

/* Negotiates client's offer against server's (either may be NULL: all
 * unknown), with db for markers, AEAD flags and host key needs (names not in
 * db are plain algorithms that need, or can, sign). Writes *res (every
 * field). Returns 0, or -1 when db or res is NULL. Does not allocate. */
int negotiate_run(const struct algo_db *db, const struct negotiate_offer *client,
                  const struct negotiate_offer *server, struct negotiate_result *res);

/* The slots in the order sshd checks them: i in [0, NEG_NSLOTS). */
enum negotiate_slot negotiate_check_order(size_t i);

/* "kex", "hostkey", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c",
 * "comp_c2s", "comp_s2c"; NULL when out of range. */
const char *negotiate_slot_name(enum negotiate_slot slot);

/* The slot named name (as above), or -1. */
int negotiate_slot_from_name(const char *name);

/* The alert fields of a slot: category (ALGO_NCATEGORIES if out of range)
 * and direction ("c2s", "s2c", or NULL for kex and hostkey). */
enum algo_category negotiate_slot_category(enum negotiate_slot slot);
const char *negotiate_slot_direction(enum negotiate_slot slot);

/* "unknown", "agreed", "no-match", "implicit" (NULL if out of range). */
const char *negotiate_status_name(enum negotiate_status status);

/* HASSH (Salesforce), for matching against HASSH databases: the lowercase
 * hex MD5 of "KEX;CIPHERS_C2S;MACS_C2S;COMPRESSION_C2S", each list its
 * names joined by commas as offered, markers included (HASSH hashes the
 * lists as sent in the client's KEXINIT). Writes 32 hex digits and a NUL
 * into out and returns 0; returns -1 and writes "" when one of the four
 * lists is unknown, partial or holds a cut or "maybe" name, since its
 * value would then not be the client's. It has no host-key field: clients
 * that differ only in their host-key algorithms share it. */
int negotiate_hassh(const struct negotiate_offer *client, char out[33]);

/* The client fingerprint kexwatch names client types and alerts by: tells
 * apart clients whose offers differ in any category. The lowercase hex MD5
 * of "KEX;HOSTKEY;CIPHERS_C2S;MACS_C2S;COMPRESSION_C2S" and, only when a
 * server-to-client list is known and differs from its client-to-server
 * one, ";CIPHERS_S2C;MACS_S2C;COMPRESSION_S2C" (an unknown one written as
 * its c2s list), so a log that omits identical s2c lists gives the same
 * value. Same return and refusals as negotiate_hassh (the host-key list
 * is required too); never equal to the client's HASSH (the strings differ). */
int negotiate_fingerprint(const struct negotiate_offer *client, char out[33]);

/* MD5 (RFC 1321) of data[0..len) as 32 lowercase hex digits and a NUL. Not
 * for security; it names client types. */
void negotiate_md5_hex(const void *data, size_t len, char out[33]);

#endif
