/* SPDX-License-Identifier: ISC */
/* posture: `kexwatch posture [--since 30d] [--format table|json|csv]`
 * (daemon/posture.c): every device's current server lists (newest learned
 * or probed per slot), the broken and weak algorithms still offered, the
 * client types that still need them, and the vendor command that removes
 * the rest. */
#ifndef KW_POSTURE_H
#define KW_POSTURE_H

/* cfg_path (NULL: built-in knowledge) names the knowledge files and, without
 * db_path, the database. Returns the exit code: 0, 1 error, 2 usage. */
int posture_command(const char *cfg_path, const char *db_path, int argc, char **argv);

#endif
