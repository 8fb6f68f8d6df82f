/* SPDX-License-Identifier: ISC */
#include "config.h"

#include "metrics.h"

void metrics_put(FILE *f, const char *name, const char *type, const char *help, double value)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}
