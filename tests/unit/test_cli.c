/* Unit tests for server/cli.c: getopt_long into struct iob_cli, the refusals (unknown flag,
 * missing argument, stray operand, too many --set) and a --help that names every flag. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static void test_cli_no_flags_is_all_unset(void **state)
{
    (void)state;
    char *argv[] = {"iobound", NULL};
    struct iob_cli cli;
    char err[256];
    assert_int_equal(iob_cli_parse(ARGC(argv), argv, &cli, err, sizeof err), 0);
    assert_null(cli.config_path);
    assert_null(cli.mode);
    assert_null(cli.listen);
    assert_int_equal(cli.n_sets, 0);
    assert_false(cli.daemon);
    assert_null(cli.pid_file);
    assert_false(cli.check_config || cli.version || cli.help);
    assert_null(cli.health_check);
}

static void test_cli_every_flag_lands_in_its_field(void **state)
{
    (void)state;
    char *argv[] = {"iobound",
                    "-c",
                    "a.ini",
                    "--mode",
                    "threaded",
                    "--listen=127.0.0.1:0",
                    "--set",
                    "server.backlog=7",
                    "--set=limits.max_sleep_ms=5",
                    "--daemon",
                    "--pid-file",
                    "/run/x.pid",
                    "--check-config",
                    "--version",
                    "-h",
                    NULL};
    struct iob_cli cli;
    char err[256];
    assert_int_equal(iob_cli_parse(ARGC(argv), argv, &cli, err, sizeof err), 0);
    assert_string_equal(cli.config_path, "a.ini");
    assert_string_equal(cli.mode, "threaded");
    assert_string_equal(cli.listen, "127.0.0.1:0");
    assert_int_equal(cli.n_sets, 2);
    assert_string_equal(cli.sets[0], "server.backlog=7"); /* in order */
    assert_string_equal(cli.sets[1], "limits.max_sleep_ms=5");
    assert_true(cli.daemon);
    assert_string_equal(cli.pid_file, "/run/x.pid");
    assert_true(cli.check_config && cli.version && cli.help);

    /* a second parse starts afresh (getopt's state is reset) */
    char *again[] = {"iobound", "--config", "b.ini", "-cc.ini", NULL};
    assert_int_equal(iob_cli_parse(ARGC(again), again, &cli, err, sizeof err), 0);
    assert_string_equal(cli.config_path, "c.ini");
    assert_int_equal(cli.n_sets, 0);
    assert_false(cli.daemon);
}

static void test_cli_health_check_takes_an_optional_address(void **state)
{
    (void)state;
    struct {
        char *argv[4];
        const char *want;
        bool want_check_config;
    } cases[] = {
        {{"iobound", "--health-check", NULL}, "", false},
        {{"iobound", "--health-check=[::1]:9000", NULL}, "[::1]:9000", false},
        {{"iobound", "--health-check", "10.0.0.1:80", NULL}, "10.0.0.1:80", false},
        {{"iobound", "--health-check", "--check-config", NULL}, "", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct iob_cli cli;
        char err[256];
        int argc = 0;
        while (cases[i].argv[argc] != NULL)
            argc++;
        assert_int_equal(iob_cli_parse(argc, cases[i].argv, &cli, err, sizeof err), 0);
        assert_string_equal(cli.health_check, cases[i].want);
        assert_int_equal(cli.check_config, cases[i].want_check_config);
    }
}

static void test_cli_refusals_say_what_was_wrong(void **state)
{
    (void)state;
    struct {
        char *argv[4];
        const char *want;
    } cases[] = {
        {{"iobound", "--bogus", NULL}, "unknown flag --bogus"},
        {{"iobound", "-x", NULL}, "unknown flag -x"},
        {{"iobound", "--mode", NULL}, "missing argument for --mode"},
        {{"iobound", "-c", NULL}, "missing argument for -c"},
        {{"iobound", "serve", NULL}, "unexpected argument serve"},
        {{"iobound", "--daemon=yes", NULL}, "no value allowed in --daemon=yes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct iob_cli cli;
        char err[256];
        int argc = 0;
        while (cases[i].argv[argc] != NULL)
            argc++;
        assert_int_equal(iob_cli_parse(argc, cases[i].argv, &cli, err, sizeof err), -EINVAL);
        assert_string_equal(err, cases[i].want);
    }
}

static void test_cli_refuses_more_sets_than_it_holds(void **state)
{
    (void)state;
    char *argv[2 + 2 * (IOB_CLI_SETS_MAX + 1)];
    int argc = 0;
    argv[argc++] = "iobound";
    for (int i = 0; i < IOB_CLI_SETS_MAX; i++) {
        argv[argc++] = "--set";
        argv[argc++] = "server.backlog=1";
    }
    argv[argc] = NULL;
    struct iob_cli cli;
    char err[256];
    assert_int_equal(iob_cli_parse(argc, argv, &cli, err, sizeof err), 0);
    assert_int_equal(cli.n_sets, IOB_CLI_SETS_MAX);

    argv[argc++] = "--set";
    argv[argc++] = "server.backlog=1";
    argv[argc] = NULL;
    assert_int_equal(iob_cli_parse(argc, argv, &cli, err, sizeof err), -EINVAL);
    assert_string_equal(err, "too many --set flags; allowed: at most 64");
}

static void test_cli_help_names_every_flag(void **state)
{
    (void)state;
    /* The SPEC's synopsis plus --config and --health-check. */
    static const char *const want[] = {
        "-c, --config FILE", "--mode MODE",     "--listen HOST:PORT", "--set SECTION.KEY=VALUE",
        "--daemon",          "--pid-file FILE", "--check-config",     "--health-check [HOST:PORT]",
        "--version",         "-h, --help"};
    int fd = memfd_create("usage", 0);
    assert_true(fd >= 0);
    iob_cli_usage(fd);
    char text[8192] = {0};
    assert_true(pread(fd, text, sizeof text - 1, 0) > 0);
    close(fd);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(text, want[i]) == NULL)
            fail_msg("--help lacks \"%s\":\n%s", want[i], text);
    assert_non_null(strstr(text, "IOBOUND_<SECTION>_<KEY>"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_no_flags_is_all_unset),
        cmocka_unit_test(test_cli_every_flag_lands_in_its_field),
        cmocka_unit_test(test_cli_health_check_takes_an_optional_address),
        cmocka_unit_test(test_cli_refusals_say_what_was_wrong),
        cmocka_unit_test(test_cli_refuses_more_sets_than_it_holds),
        cmocka_unit_test(test_cli_help_names_every_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
