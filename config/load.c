/* Loading an INI file through inih into the schema setters, with every error reported as
 * file:line. inih names only the first syntax error, so bad lines are found pass by pass and then
 * hidden from it; the last pass applies the values. Main thread. */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/schema.h"

#define FILE_MAX_BYTES    1048576
#define SYNTAX_ERRORS_MAX 32

/* The file's bytes, handed to inih one line per reader call, so inih's line count and ours agree
 * and a line number can be attached to every value. */
struct source {
    const char *path;
    const char *text;
    size_t len;
    size_t pos;
    unsigned line;        /* 1-based number of the line last handed out */
    unsigned header_line; /* the last line handed out that opens with '[', or 0 */
    char section[64];     /* the section of the last pair (inih's own holds at most 49 bytes) */
    bool has_section;     /* a pair was seen, so section is set */
    bool is_known;        /* section is in the key table */
    unsigned bad[SYNTAX_ERRORS_MAX];
    size_t n_bad;
    struct iob_config *cfg; /* NULL while only looking for syntax errors */
    struct iob_diag *d;
};

static bool is_bad(const struct source *src, unsigned line)
{
    for (size_t i = 0; i < src->n_bad; i++)
        if (src->bad[i] == line)
            return true;
    return false;
}

/* Whether the line's first character after blanks (and line 1's UTF-8 BOM, which inih skips) is
 * the '[' of a section header. */
static bool opens_header(const char *line, unsigned lineno)
{
    if (lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    line += strspn(line, " \t\r\f\v");
    return line[0] == '[';
}

/* fgets-style reader. A line inih cannot hold, or one it already called a syntax error, is handed
 * over as an empty line; on the applying pass it is reported here, in line order. */
static char *on_ini_read(char *str, int num, void *stream)
{
    struct source *src = stream;
    if (src->pos >= src->len)
        return NULL;
    const char *start = src->text + src->pos;
    const char *nl = memchr(start, '\n', src->len - src->pos);
    size_t len = nl ? (size_t)(nl - start) + 1 : src->len - src->pos;
    src->pos += len;
    src->line++;

    bool is_long = len > (size_t)num - 1;
    bool has_nul = memchr(start, '\0', len) != NULL;
    if (!is_long && !has_nul && !is_bad(src, src->line)) {
        memcpy(str, start, len);
        str[len] = '\0';
        if (opens_header(str, src->line))
            src->header_line = src->line;
        return str;
    }
    if (src->cfg != NULL) {
        size_t shown = len - (nl != NULL);
        if (shown > 0 && start[shown - 1] == '\r')
            shown--;
        if (is_long) {
            iob_diag_error(src->d, "%s:%u: line of %zu bytes; allowed: at most %d bytes", src->path,
                           src->line, shown, num - 3);
        } else {
            char got[128];
            iob_schema_quote(start, shown, got, sizeof got);
            iob_diag_error(src->d, "%s:%u: got \"%s\"; allowed: [section], key = value, ; comment",
                           src->path, src->line, got);
        }
    }
    str[0] = '\n';
    str[1] = '\0';
    return str;
}

/* inih tells the handler of no header, so a new section shows as a new name at its first pair.
 * Its header is then the last '['-line handed out: between a header and its first pair inih
 * takes no line as a value continuation, and any other '['-line there is a header too. An unknown
 * section is named once, at that header, and its keys are skipped rather than each reported. */
static int on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
    struct source *src = user;
    if (src->cfg == NULL)
        return 1;
    char origin[600];
    if (!src->has_section || strcmp(section, src->section) != 0) {
        snprintf(src->section, sizeof src->section, "%s", section);
        src->has_section = true;
        /* keys before any header have none to point at */
        unsigned line = src->header_line ? src->header_line : src->line;
        snprintf(origin, sizeof origin, "%s:%u", src->path, line);
        src->is_known = iob_config_check_section(origin, section, src->d) == 0;
    }
    if (src->is_known) {
        snprintf(origin, sizeof origin, "%s:%u", src->path, src->line);
        iob_config_set(src->cfg, origin, section, name, value, src->d);
    }
    return 1; /* errors are collected in d; inih's return is kept for syntax errors */
}

/* Runs inih over the whole text once. Returns 0, the first unhidden syntax error's line, or
 * -ENOMEM. */
static int parse_pass(struct source *src)
{
    src->pos = 0;
    src->line = 0;
    src->header_line = 0;
    src->has_section = false;
    int rc = ini_parse_stream(on_ini_read, src, on_ini_pair, src);
    return rc < 0 ? -ENOMEM : rc;
}

static int read_all(const char *path, char **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    size_t len = 0;
    char *buf = malloc(FILE_MAX_BYTES + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, FILE_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > FILE_MAX_BYTES) {
            rc = -EFBIG;
            goto fail;
        }
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

int iob_config_load_file(struct iob_config *cfg, const char *path, struct iob_diag *d)
{
    struct source src = {.path = path, .d = d};
    char *text = NULL;
    int rc = read_all(path, &text, &src.len);
    if (rc < 0) {
        if (rc == -EFBIG)
            iob_diag_error(d, "%s: cannot read: over %d bytes", path, FILE_MAX_BYTES);
        else
            iob_diag_error(d, "%s: cannot read: %s", path, strerror(-rc));
        return rc;
    }
    src.text = text;
    unsigned errors = d->errors;

    while ((rc = parse_pass(&src)) > 0 && src.n_bad < SYNTAX_ERRORS_MAX)
        src.bad[src.n_bad++] = (unsigned)rc;
    if (rc < 0)
        goto done;
    src.cfg = cfg;
    rc = parse_pass(&src);
    if (rc > 0)
        iob_diag_error(d, "%s: more than %d syntax errors; the rest are not listed", path,
                       SYNTAX_ERRORS_MAX);
    rc = rc < 0 ? rc : d->errors == errors ? 0 : -EINVAL;
done:
    if (rc == -ENOMEM)
        iob_diag_error(d, "%s: out of memory while parsing", path);
    free(text);
    return rc;
}
