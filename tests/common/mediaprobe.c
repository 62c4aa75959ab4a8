/* Media files read back by the real ffprobe and ffmpeg, for tests of what
 * Parley writes. Failures are cmocka failures. */
#include "mediaprobe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MP_SR 48000

int mp_run(char *out, size_t cap, const char *fmt, ...)
{
    /* meson's MALLOC_PERTURB_ checks the test's own allocations; passed on
     * to ffprobe, some of its values make it find no packet after a seek
     * (-read_intervals), which is ffprobe's business, not the file's. */
    unsetenv("MALLOC_PERTURB_");
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = 0, got;
    while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, f)) > 0)
        n += got;
    out[n] = '\0';
    char sink[4096];
    while (fread(sink, 1, sizeof(sink), f) > 0)
        ;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void mp_probe(const char *file, char kind, const char *entry, char *out, size_t cap)
{
    assert_int_equal(mp_run(out, cap,
                            "ffprobe -v error -select_streams %c:0 -show_entries stream=%s "
                            "-of default=nw=1:nk=1 %s",
                            kind, entry, file),
                     0);
    out[strcspn(out, "\n")] = '\0';
}

long mp_probe_long(const char *file, char kind, const char *entry)
{
    char out[256];
    mp_probe(file, kind, entry, out, sizeof(out));
    assert_true(out[0] != '\0');
    return strtol(out, NULL, 10);
}

double mp_probe_double(const char *file, char kind, const char *entry)
{
    char out[256];
    mp_probe(file, kind, entry, out, sizeof(out));
    assert_true(out[0] != '\0');
    return strtod(out, NULL);
}

long mp_decoded_frames(const char *file, char kind)
{
    char out[256];
    assert_int_equal(mp_run(out, sizeof(out),
                            "ffprobe -v error -count_frames -select_streams %c:0 -show_entries "
                            "stream=nb_read_frames -of default=nw=1:nk=1 %s",
                            kind, file),
                     0);
    return strtol(out, NULL, 10);
}

int mp_stream_count(const char *file)
{
    char out[256];
    assert_int_equal(mp_run(out, sizeof(out),
                            "ffprobe -v error -show_entries stream=index -of csv=p=0 %s", file),
                     0);
    int n = 0;
    for (const char *p = out; *p; p++)
        n += *p == '\n';
    return n;
}

double mp_format_duration(const char *file)
{
    char out[256];
    assert_int_equal(mp_run(out, sizeof(out),
                            "ffprobe -v error -show_entries format=duration -of "
                            "default=nw=1:nk=1 %s",
                            file),
                     0);
    return strtod(out, NULL);
}

void mp_assert_decodes_clean(const char *file)
{
    char out[8192];
    int rc = mp_run(out, sizeof(out), "ffmpeg -nostdin -v error -i %s -f null - 2>&1", file);
    if (rc != 0 || out[0] != '\0')
        fail_msg("ffmpeg on %s: exit %d: %s", file, rc, out);
}

void mp_frame_sizes(const char *file, char *out, size_t cap)
{
    char raw[1 << 16];
    assert_int_equal(mp_run(raw, sizeof(raw),
                            "ffprobe -v error -select_streams v:0 -show_entries frame=width,height "
                            "-of csv=p=0 %s",
                            file),
                     0);
    out[0] = '\0';
    char last[32] = "";
    long count = 0;
    size_t used = 0;
    for (char *line = strtok(raw, "\n"); line; line = strtok(NULL, "\n")) {
        char size[32];
        snprintf(size, sizeof(size), "%s", line);
        char *comma = strchr(size, ',');
        if (comma)
            *comma = 'x';
        if (strcmp(size, last) != 0) {
            if (count)
                used += (size_t)snprintf(out + used, cap - used, "%s%s*%ld", used ? " " : "", last,
                                         count);
            snprintf(last, sizeof(last), "%s", size);
            count = 0;
        }
        count++;
    }
    if (count)
        snprintf(out + used, cap - used, "%s%s*%ld", used ? " " : "", last, count);
}

float *mp_decode_audio(const char *file, size_t *n)
{
    unsetenv("MALLOC_PERTURB_");
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -i %s -map 0:a:0 -f f32le -ac 1 -ar 48000 -", file);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 30 * MP_SR, len = 0, got;
    float *x = malloc(cap * sizeof(float));
    assert_non_null(x);
    while ((got = fread(x + len, sizeof(float), cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            x = realloc(x, cap * sizeof(float));
            assert_non_null(x);
        }
    }
    assert_int_equal(pclose(f), 0);
    *n = len;
    return x;
}

double mp_tone_amp(const float *x, size_t n, double t0, double t1, double freq)
{
    size_t a = (size_t)(t0 * MP_SR), b = (size_t)(t1 * MP_SR);
    assert_true(b <= n);
    double w = 2 * M_PI * freq / MP_SR, c = 2 * cos(w), s1 = 0, s2 = 0;
    for (size_t i = a; i < b; i++) {
        double s0 = x[i] + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    return 2 * sqrt(s1 * s1 + s2 * s2 - c * s1 * s2) / (double)(b - a);
}

/* Which of the tones sound in [t0, t1): a bit per tone, at a tenth of
 * what was sent; the others must be far below it. */

void mp_kill_when_ready(int fd, pid_t pid)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 60000), 1);
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    close(fd);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
