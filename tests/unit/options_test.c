/* The executable's option table (signaling/options.c) and configuration
 * file (signaling/config.c): values and their limits, the file's errors
 * and their lines, the command line over the file, and --check-config's
 * output read back as a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "options.h"
#include "redisconn.h"

static int parse(options *o, const char *text, char *why)
{
    return srv_config_parse(o, text, strlen(text), why, 256);
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    options o;
    char why[256];
    srv_options_defaults(&o);
    assert_int_equal(o.http_port, 8080);
    assert_string_equal(o.bind, "127.0.0.1");
    assert_int_equal(o.drain_timeout, 600);
    assert_int_equal(parse(&o,
                           "http-port = 9000\n"
                           "# a comment\n"
                           "; another\n"
                           "   bind = 0.0.0.0   \n"
                           "tls-self-signed = true\n"
                           "no-dynacast = off\n"
                           "turn-url = turn:a.example:3478\n"
                           "turn-url = turns:b.example:443?transport=tcp\n"
                           "turn-secret-file = /etc/parley/turn\n"
                           "announce-ip = 192.0.2.1\n"
                           "announce-ip =\n",
                           why),
                     0);
    assert_int_equal(o.http_port, 9000);
    assert_string_equal(o.bind, "0.0.0.0");
    assert_true(o.tls_self_signed);
    assert_false(o.no_dynacast);
    assert_int_equal(o.n_turn_urls, 2);
    assert_string_equal(o.turn_urls[1], "turns:b.example:443?transport=tcp");
    assert_null(o.announce_ip); /* set, then unset by an empty value */
    assert_int_equal(srv_options_check(&o, why, sizeof(why)), 0);
    srv_options_free(&o);
}

/* Each bad line is named by its number, and the key by its name. */
static void test_errors_name_key_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
        const char *why;
    } cases[] = {
        {"http-port = 1\nhttp-prot = 2\n", 2, "http-prot: unknown option"},
        {"\n\nmedia-port = 70000\n", 3, "media-port: 70000 is out of range (0 to 65535)"},
        {"workers = four\n", 1, "workers: 'four' is not a number"},
        {"ring-timeout = 0\n", 1, "ring-timeout: 0 is out of range (1 to 65535)"},
        {"http-port =\n", 1, "http-port: needs a number"},
        {"tls-self-signed = maybe\n", 1, "tls-self-signed: 'maybe' is not true or false"},
        {"bind = a\njust words\nhttp-port = x\n", 2, "expected key = value"},
        {"config = other.conf\n", 1, "config: only on the command line"},
        {"help = true\n", 1, "help: only on the command line"},
        {"[server]\nbind = a\n", 2, "[server]: sections are not used; keys stand on their own"},
        {"turn-url = http://x\n", 1, NULL},
        {"drain-timeout = -1\n", 1, "drain-timeout: -1 is out of range (0 to 604800)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        options o;
        char why[256] = "";
        srv_options_defaults(&o);
        int line = parse(&o, cases[i].text, why);
        if (line != cases[i].line)
            fail_msg("case %zu: line %d (%s)", i, line, why);
        if (cases[i].why)
            assert_string_equal(why, cases[i].why);
        else
            assert_true(strncmp(why, "turn-url: ", 10) == 0);
        srv_options_free(&o);
    }
    /* Nine turn-urls: the ninth line is refused. */
    char text[1024] = "";
    for (int i = 0; i < 9; i++)
        strcat(text, "turn-url = turn:h:3478\n");
    options o;
    char why[256];
    srv_options_defaults(&o);
    assert_int_equal(parse(&o, text, why), 9);
    assert_string_equal(why, "turn-url: at most 8 of these");
    srv_options_free(&o);
    /* A line too long for inih's buffer is refused, not cut in two. */
    char longline[600];
    snprintf(longline, sizeof(longline), "bind = 1\ndata-dir = %0500d\n", 0);
    srv_options_defaults(&o);
    assert_int_equal(parse(&o, longline, why), 2);
    assert_non_null(strstr(why, "line longer than"));
    srv_options_free(&o);
}

static char *print_to_string(const options *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    srv_options_print(o, f);
    fclose(f);
    return buf;
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/parley-options-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* The command line wins over the file whatever their order; a list given
 * on the command line replaces the file's. */
static void test_command_line_over_file(void **state)
{
    (void)state;
    char *path = write_temp("http-port = 9000\nmedia-port = 41000\n"
                            "turn-url = turn:file:3478\nturn-secret-file = /s\n"
                            "downlink-estimate = true\n");
    char *argv[] = {
        "parley",     "--http-port",    "9100",       "--config",       path,
        "--turn-url", "turn:cli1:3478", "--turn-url", "turn:cli2:3478", "--downlink-estimate=false",
        NULL};
    options o;
    assert_int_equal(srv_parse_options(10, argv, &o), SRV_OPT_RUN);
    assert_int_equal(o.http_port, 9100);
    assert_int_equal(o.media_port, 41000);
    assert_int_equal(o.n_turn_urls, 2);
    assert_string_equal(o.turn_urls[0], "turn:cli1:3478");
    assert_false(o.downlink_estimate);
    assert_string_equal(o.config, path);
    srv_options_free(&o);
    unlink(path);
    free(path);
}

/* What --check-config prints is a file that gives the same settings. */
static void test_print_reads_back(void **state)
{
    (void)state;
    options o, back;
    char why[256];
    srv_options_defaults(&o);
    assert_int_equal(parse(&o,
                           "http-port = 1234\nturn-url = turn:a:1\nturn-url = turn:b:2\n"
                           "turn-secret-file = /t\ntls-cert = /c.pem\ntls-key = /k.pem\n"
                           "no-ice-tcp = 1\n",
                           why),
                     0);
    char *first = print_to_string(&o);
    srv_options_defaults(&back);
    assert_int_equal(parse(&back, first, why), 0);
    char *second = print_to_string(&back);
    assert_string_equal(first, second);
    assert_non_null(strstr(first, "turn-url = turn:a:1\nturn-url = turn:b:2\n"));
    assert_non_null(strstr(first, "no-ice-tcp = true\n"));
    assert_non_null(strstr(first, "announce-ip =\n"));
    assert_null(strstr(first, "config"));
    free(first);
    free(second);
    srv_options_free(&o);
    srv_options_free(&back);
}

static void test_secret_not_printed(void **state)
{
    (void)state;
    options o;
    char why[256];
    srv_options_defaults(&o);
    assert_int_equal(parse(&o, "auth-secret = 0123456789abcdef0123456789abcdef\n", why), 0);
    char *out = print_to_string(&o);
    assert_null(strstr(out, "0123456789abcdef"));
    assert_non_null(strstr(out, "auth-secret = (hidden)\n"));
    free(out);
    srv_options_free(&o);
}

static void test_cross_checks(void **state)
{
    (void)state;
    options o;
    char why[256];
    srv_options_defaults(&o);
    assert_int_equal(parse(&o, "tls-cert = /c.pem\n", why), 0);
    assert_int_equal(srv_options_check(&o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "tls-key"));
    srv_options_free(&o);
    srv_options_defaults(&o);
    assert_int_equal(parse(&o, "turn-url = turn:a:1\n", why), 0);
    assert_int_equal(srv_options_check(&o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "turn-secret-file"));
    /* An empty turn-url empties the list: consistent again. */
    assert_int_equal(parse(&o, "turn-url =\n", why), 0);
    assert_int_equal(srv_options_check(&o, why, sizeof(why)), 0);
    srv_options_free(&o);
}

/* --redis: the URL forms taken, those refused, and a password that is
 * neither printed nor repeated in an error. */
static void test_redis_url(void **state)
{
    (void)state;
    pl_redis_url u;
    const char *why = NULL;
    assert_int_equal(pl_redis_url_parse("redis://127.0.0.1", &u, &why), PL_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_int_equal(pl_redis_url_parse("redis://:s3cr%t@[::1]:7000/2", &u, &why), PL_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "s3cr%t");
    assert_int_equal(pl_redis_url_parse("redis://default:pw@h:1/", &u, &why), PL_OK);
    assert_string_equal(u.password, "pw");
    const char *bad[] = {"",
                         "127.0.0.1:6379",
                         "rediss://h",
                         "redis://",
                         "redis://h:0",
                         "redis://h:65536",
                         "redis://h:x",
                         "redis://h/x",
                         "redis://h:1/2/3",
                         "redis://[::1",
                         "redis://bob:pw@h",
                         "redis://pw@h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        assert_int_equal(pl_redis_url_parse(bad[i], &u, &why), PL_EINVAL);
        assert_non_null(why);
    }
    options o;
    char e[256];
    srv_options_defaults(&o);
    assert_null(o.redis_url); /* one node unless told */
    assert_int_equal(parse(&o, "redis = redis://:hunter2@127.0.0.1:6390\n", e), 0);
    assert_string_equal(o.redis_url, "redis://:hunter2@127.0.0.1:6390");
    char *out = print_to_string(&o);
    assert_null(strstr(out, "hunter2"));
    free(out);
    assert_int_equal(parse(&o, "redis = http://:hunter2@x\n", e), 1); /* its line */
    assert_null(strstr(e, "hunter2"));
    assert_non_null(strstr(e, "redis://"));
    srv_options_free(&o);
}

/* A cluster: Redis and public URLs are checked, and a public URL alone
 * (no cluster to tell it to) is refused. */
static void test_cluster(void **state)
{
    (void)state;
    options o;
    char why[256];
    srv_options_defaults(&o);
    assert_null(o.redis_url); /* one node alone by default */
    assert_int_equal(parse(&o, "public-url = wss://node1.example.org/ws\n", why), 0);
    assert_int_equal(srv_options_check(&o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--redis"));
    assert_int_equal(parse(&o, "redis = redis://10.0.0.1:6380\n", why), 0);
    assert_string_equal(o.redis_url, "redis://10.0.0.1:6380");
    assert_int_equal(srv_options_check(&o, why, sizeof(why)), 0);
    assert_int_equal(parse(&o, "redis = http://10.0.0.1\n", why), 1);
    assert_non_null(strstr(why, "redis"));
    assert_int_equal(parse(&o, "public-url = http://node1/ws\n", why), 1);
    assert_non_null(strstr(why, "public-url"));
    srv_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors_name_key_and_line),
        cmocka_unit_test(test_command_line_over_file),
        cmocka_unit_test(test_print_reads_back),
        cmocka_unit_test(test_secret_not_printed),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
