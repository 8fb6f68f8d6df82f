/* SPDX-License-Identifier: ISC */
/* platform: which algorithm names each SSH server platform can enable, from
 * conf/platforms.tsv (its header comment is the format's reference).
 *
 * A platform is a family of server software with one configuration syntax:
 * "openssh", "cisco-ios", "cisco-iosxe", "cisco-iosxr", "cisco-nxos",
 * "huawei", "h3c", "dropbear". For each it lists, per category, the wire
 * names it knows, how its configuration spells them, the first and last
 * release that has them, and (Dropbear) the build option behind them. The
 * remedy (catalogue.h) only proposes names the platform can enable, keeps
 * the device's current list in the platform's spelling, and, when the
 * release is unknown, prefers names every release has.
 *
 * A table never changes after platform_db_load(); lookups take no locks and
 * allocate nothing.
 */
#ifndef KW_PLATFORM_H
#define KW_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "algo.h"

struct platform_db;
struct platform_row;

/* Loads a table. Returns 0 and a table the caller owns in *out, or -1 with
 * "FILE:LINE: what" in err (errsize bytes; err may be NULL) and *out NULL.
 * Unknown columns or categories, bad versions and a name listed twice for
 * one platform and category are errors. */
int platform_db_load(const char *path, struct platform_db **out, char *err, size_t errsize);

/* Frees a table; NULL is a no-op. */
void platform_db_free(struct platform_db *db);

/* True when the table lists names of cat for platform (so a name it does
 * not list cannot be enabled there). */
bool platform_knows(const struct platform_db *db, const char *platform, enum algo_category cat);

/* The row of a wire name, or NULL. Borrowed from db. */
const struct platform_row *platform_find(const struct platform_db *db, const char *platform, enum algo_category cat,
                                         const char *name);

/* The row whose configuration word is word (first in file order), or NULL. */
const struct platform_row *platform_find_word(const struct platform_db *db, const char *platform,
                                              enum algo_category cat, const char *word);

/* Whether the row's name exists in release version (NULL or "": unknown
 * release, then every listed name counts). */
bool platform_row_available(const struct platform_row *r, const char *version);

/* The wire name; how the configuration spells it (the wire name unless the
 * table says otherwise); the first release ("" when every release has it);
 * the build option ("" when none). Borrowed from the table. */
const char *platform_row_name(const struct platform_row *r);
const char *platform_row_word(const struct platform_row *r);
const char *platform_row_since(const struct platform_row *r);
const char *platform_row_option(const struct platform_row *r);

/* Compares dotted release numbers ("9.2" < "9.10", "17.9.4a" by its
 * numbers): <0, 0, >0. Non-numeric parts are ignored. */
int platform_version_cmp(const char *a, const char *b);

#endif
