/* The one table of configuration keys: section, key, type, bounds, default and help. Everything
 * else (defaults, the setters, env names, --check-config, config/iobound.ini) is derived from it.
 * Read-only data; any thread. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

enum iob_key_type {
    IOB_KEY_UINT,   /* uint32_t in [min, max] */
    IOB_KEY_ENUM,   /* an int, named by enum_name(0 .. enum_count() - 1) */
    IOB_KEY_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
    IOB_KEY_STRING, /* char[IOB_CONFIG_STR_MAX], at least min bytes */
    IOB_KEY_LISTEN, /* char[IOB_CONFIG_STR_MAX]: a list of HOST:PORT, [IPv6]:PORT, unix:PATH */
};

struct iob_key {
    const char *section;
    const char *name;
    size_t offset; /* into struct iob_config */
    enum iob_key_type type;
    const char *def; /* the default, as written in an INI file; NULL: enum_name(0) */
    uint32_t min, max;
    const char *(*enum_name)(int value);
    int (*enum_count)(void);
    const char *help; /* one line, for iobound.ini and --check-config */
};

/* The table, in INI order (keys of one section are adjacent); *n gets its length. */
const struct iob_key *iob_schema_keys(size_t *n);

/* The key's default as INI text: def, or for an enum without one its first name. */
const char *iob_schema_default(const struct iob_key *k);

/* Writes what the key allows ("integer 1..65535", "evented, threaded") to out. */
void iob_schema_allowed(const struct iob_key *k, char *out, size_t outlen);

/* Writes the key's value in cfg as INI text (the form iob_config_set accepts) to out. */
void iob_schema_format(const struct iob_config *cfg, const struct iob_key *k, char *out,
                       size_t outlen);

/* Copies value[0..len) into out for an error line: control characters become '?', and text that
 * does not fit ends in "...". outlen must be at least 8. */
void iob_schema_quote(const char *value, size_t len, char *out, size_t outlen);
