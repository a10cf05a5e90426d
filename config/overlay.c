/* The environment (IOBOUND_<SECTION>_<KEY>) and --set SECTION.KEY=VALUE, both mapped onto
 * iob_config_set so they share its checks and its messages. main.c applies them after the file,
 * in that order. Main thread. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "config/schema.h"

#define ENV_PREFIX "IOBOUND_"

/* Copies src[0..len) into dst as a NUL-terminated name, cut to fit; environment names are
 * upper case, INI names lower case. */
static void copy_name(char *dst, size_t dstlen, const char *src, size_t len, bool want_lower)
{
    size_t i = 0;
    for (; i < len && i + 1 < dstlen; i++)
        dst[i] = want_lower ? (char)tolower((unsigned char)src[i]) : src[i];
    dst[i] = '\0';
}

/* Section names hold no '_', so the first '_' after the prefix ends the section: the key keeps
 * its own underscores (IOBOUND_LIMITS_MAX_SLEEP_MS -> [limits] max_sleep_ms). */
int iob_config_overlay_env(struct iob_config *cfg, char *const *envp, struct iob_diag *d)
{
    unsigned errors = d->errors;
    size_t plen = strlen(ENV_PREFIX);
    for (; *envp != NULL; envp++) {
        const char *var = *envp;
        const char *eq = strchr(var, '=');
        if (strncmp(var, ENV_PREFIX, plen) != 0 || eq == NULL)
            continue;
        const char *section = var + plen;
        const char *sep = memchr(section, '_', (size_t)(eq - section));
        const char *key = sep ? sep + 1 : eq;
        char name[256], sec[64], k[128];
        copy_name(sec, sizeof sec, section, (size_t)((sep ? sep : eq) - section), true);
        copy_name(k, sizeof k, key, (size_t)(eq - key), true);
        copy_name(name, sizeof name, var, (size_t)(eq - var), false);
        iob_config_set(cfg, name, sec, k, eq + 1, d);
    }
    return d->errors == errors ? 0 : -EINVAL;
}

int iob_config_overlay_set(struct iob_config *cfg, const char *assignment, struct iob_diag *d)
{
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (dot == NULL || eq == NULL || dot == assignment || eq <= dot + 1) {
        char got[128];
        iob_schema_quote(assignment, strlen(assignment), got, sizeof got);
        iob_diag_error(d, "--set: got \"%s\"; allowed: SECTION.KEY=VALUE, e.g. log.level=debug",
                       got);
        return -EINVAL;
    }
    char sec[64], key[128];
    copy_name(sec, sizeof sec, assignment, (size_t)(dot - assignment), false);
    copy_name(key, sizeof key, dot + 1, (size_t)(eq - dot - 1), false);
    return iob_config_set(cfg, "--set", sec, key, eq + 1, d);
}
