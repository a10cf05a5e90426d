/* --check-config output: the effective configuration as an INI file, every key, built from the
 * key table. Written for the defaults it is config/iobound.ini, byte for byte (a unit test keeps
 * them equal). Main thread. */
#include "config/config.h"

#include <stdio.h>
#include <string.h>

#include "config/schema.h"

/* Values line up in one comment column, as in the SPEC's example; inih reads at most 200 bytes a
 * line, so a comment that would not fit is left out rather than cut. */
#define COMMENT_COLUMN 28
#define LINE_MAX_BYTES 196

static void dump_key(const struct iob_config *cfg, const struct iob_key *k, int fd)
{
    char value[IOB_CONFIG_STR_MAX], left[IOB_CONFIG_STR_MAX + 64], comment[256];
    iob_schema_format(cfg, k, value, sizeof value);
    int n = snprintf(left, sizeof left, "%s = %s", k->name, value);
    if (k->type == IOB_KEY_UINT || k->type == IOB_KEY_ENUM) {
        char allowed[128];
        iob_schema_allowed(k, allowed, sizeof allowed);
        snprintf(comment, sizeof comment, "%s; %s", allowed, k->help);
    } else {
        snprintf(comment, sizeof comment, "%s", k->help);
    }
    int width = n < COMMENT_COLUMN ? COMMENT_COLUMN : n + 1;
    if (width + 2 + (int)strlen(comment) > LINE_MAX_BYTES)
        dprintf(fd, "%s\n", left);
    else
        dprintf(fd, "%-*s; %s\n", width, left, comment);
}

void iob_config_dump(const struct iob_config *cfg, int fd)
{
    size_t n;
    const struct iob_key *keys = iob_schema_keys(&n);
    dprintf(fd, "; iobound configuration: every key, with what it allows.\n"
                "; Precedence: defaults < this file < IOBOUND_<SECTION>_<KEY> env < flags.\n");
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(keys[i].section, keys[i - 1].section) != 0)
            dprintf(fd, "\n[%s]\n", keys[i].section);
        dump_key(cfg, &keys[i], fd);
    }
}
