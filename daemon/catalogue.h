/* SPDX-License-Identifier: ISC */
/* catalogue: the known-mismatch catalogue (conf/catalogue.conf) and the
 * remediation computed for a failed negotiation.
 *
 * Given one decided negotiation (session.h), the catalogue names the known
 * mismatch behind a failure (an id such as "kex-sha1-only", its severity
 * and a one-sentence summary for the person on call), and computes the
 * remedy: the safest algorithm of the client's offer that the device's
 * platform can enable, written as the vendor's own configuration command;
 * the risk of enabling it; and what a client upgrade would have to bring.
 *
 * Everything it knows is data: the rules, sentences, vendor command syntax
 * and precedence come from the catalogue file (its header comment is the
 * format's reference); facts about algorithms come from the algorithm
 * database (algo.h). No algorithm name or mismatch id is written in C.
 *
 * A catalogue never changes after catalogue_load(); classification and
 * remediation take no locks, do no I/O and allocate nothing: they write
 * into caller-provided structs of fixed-size buffers. One catalogue may be
 * shared by any number of readers and replaced as a whole on SIGHUP.
 */
#ifndef KW_CATALOGUE_H
#define KW_CATALOGUE_H

#include <stddef.h>

struct algo_db;
struct negotiation;
struct catalogue;

/* Buffer sizes of the result structs. Longer text is cut (never inside a
 * UTF-8 character) and still NUL-terminated. */
#define CATALOGUE_ID_SIZE       64
#define CATALOGUE_SEVERITY_SIZE 16
#define CATALOGUE_TEXT_SIZE     512
#define CATALOGUE_COMMAND_SIZE  4096 /* a Huawei command repeats the whole list, and one
                                        remedy may change several categories */
#define CATALOGUE_STEPS_SIZE    8192

/* The alert's "mismatch" object. */
struct catalogue_match {
    char id[CATALOGUE_ID_SIZE];             /* "kex-sha1-only", or the fallback id */
    char severity[CATALOGUE_SEVERITY_SIZE]; /* "critical", "warning" or "info" */
    char summary[CATALOGUE_TEXT_SIZE];      /* placeholders rendered */
};

/* The alert's "remediation" object. */
struct catalogue_remedy {
    char server[CATALOGUE_COMMAND_SIZE]; /* the device-side fix, in the vendor's CLI */
    char client[CATALOGUE_TEXT_SIZE];    /* the client-side alternative */
    char risk[CATALOGUE_COMMAND_SIZE];   /* what enabling the device-side fix costs */
    /* The change as lines to enter or write, in order, '\n'-separated
     * ("" when no change can be written as it is: the device's list is
     * unknown, nothing safe can be enabled, or the platform has no run-time
     * setting); and how to check it on the device ("" with no steps). */
    char steps[CATALOGUE_STEPS_SIZE];
    char verify[CATALOGUE_TEXT_SIZE];
};

/* Loads a catalogue file. On success returns 0 and sets *out to a
 * catalogue the caller owns (free with catalogue_free()). On failure
 * returns -1, leaves *out NULL and writes one message "FILE:LINE: what"
 * (or "FILE: what") into err (errsize bytes, always NUL-terminated when
 * errsize > 0; err may be NULL). Files larger than 1 MiB, lines longer
 * than 4 KiB, more than 256 sections, syntax errors in rules, unknown keys,
 * placeholders or reason tags, missing keys and two rules of one category
 * with the same priority are errors. */
int catalogue_load(const char *path, struct catalogue **out, char *err, size_t errsize);

/* Frees a catalogue; NULL is a no-op. */
void catalogue_free(struct catalogue *cat);

/* Number of mismatch entries, the fallback included, and the i-th one's id
 * and severity (i < catalogue_count(), in file order; NULL otherwise).
 * Strings are borrowed from the catalogue and live until catalogue_free(). */
size_t catalogue_count(const struct catalogue *cat);
const char *catalogue_id(const struct catalogue *cat, size_t i);
const char *catalogue_severity(const struct catalogue *cat, size_t i);

/* The risk phrase of a reason tag of algorithms.tsv ("relies on SHA-1"),
 * "" for a tag listed as not worth a word, NULL for a tag the catalogue
 * does not list. Borrowed from the catalogue. */
const char *catalogue_reason(const struct catalogue *cat, const char *tag);

/* Classifies a negotiation. n->failed false: returns 0 and writes empty
 * strings. n->failed true: returns 1 and writes the id, severity and
 * rendered summary of the highest-priority rule of the failing category
 * that certainly matches, else of the fallback. Uses n->slot (the category
 * is the slot's; -1, a failure in an unknown slot, gets the fallback), the
 * client and server lists of that slot, the engine's result (may be NULL)
 * for the agreed cipher, and n's software, peer, device and vendor for the
 * summary. Returns -1 (and writes empty strings when out is not NULL) when
 * an argument is NULL or a failed n has a slot out of range. */
int catalogue_classify(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                       struct catalogue_match *out);

/* Every rule that certainly matches a failed n, highest priority first:
 * writes up to max ids (borrowed from the catalogue) into ids and returns
 * how many rules match (may exceed max); the fallback is not included.
 * Returns 0 for a negotiation that did not fail, -1 on bad arguments. For
 * `kexwatch explain` and the tests of precedence. */
int catalogue_matches(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                      const char **ids, size_t max);

/* Computes the remedy of a failed n (returns 1) from the failing slot's
 * lists and n->vendor (NULL or unlisted: the catalogue's generic vendor).
 * The device-side fix enables the best-rated name of the client's offer
 * (the client's order breaks ties) that the vendor's CLI can enable; it is
 * never a broken one: when only broken names would do, or none can be
 * enabled, or the client's offer is unknown, server says so instead. A
 * vendor command that replaces the whole list is rendered with the device's
 * current list plus the new name, or, when that list is unknown or
 * incomplete, with what to check first. A negotiation that did not fail
 * gives 0 and empty strings, a failure in an unknown slot 1 and empty
 * strings (there is nothing to compute); bad arguments -1, as
 * catalogue_classify(). */
int catalogue_remedy(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                     struct catalogue_remedy *out);

/* The configuration that sets category cat of a device to exactly list
 * (wire names; markers skipped), in its platform's own form, as a remedy
 * writes it: the platform from n's platform, server_software (the device's
 * SSH software) and vendor, as for catalogue_remedy; the vendor's begin and
 * end lines (configure, commit) around it. Writes the steps, one per line,
 * into out. c is an enum algo_category. Returns 1, 0 when the platform has no
 * command that sets the
 * list (or a name of it cannot be written there), -1 on bad arguments. For
 * `kexwatch posture`. */
struct negotiate_list;
int catalogue_render_list(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                          int c, const struct negotiate_list *list, char *out, size_t size);

#endif
