/* The recording's audio mix: sources encoded with real libopus, mixed into
 * an Ogg/Opus file that the real ffmpeg and ffprobe read back, where a
 * Goertzel filter finds which tones are where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <opus.h>

#include "mediaprobe.h"
#include "oggopus.h"
#include "parley/recmix.h"

#define FRAME_US 20000
#define SR 48000

typedef struct pkt {
    uint32_t source;
    int64_t pts_us;
    int64_t arrive_us;
    int len;
    uint8_t data[400];
} pkt;

typedef struct pktlist {
    pkt *p;
    size_t n, cap;
} pktlist;

static void list_add(pktlist *l, const pkt *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->p = realloc(l->p, l->cap * sizeof(pkt));
        assert_non_null(l->p);
    }
    l->p[l->n++] = *p;
}

/* 20 ms packets of a tone (or of silence: freq 0) of `source` from t0 to t1,
 * arriving `delay_us` after their pts, through a real encoder. */
static void add_tone(pktlist *l, uint32_t source, double freq, double amp, int64_t t0_us,
                     int64_t t1_us, int64_t delay_us)
{
    int err;
    OpusEncoder *enc = opus_encoder_create(SR, 1, OPUS_APPLICATION_AUDIO, &err);
    assert_int_equal(err, OPUS_OK);
    opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
    float pcm[960];
    for (int64_t t = t0_us; t < t1_us; t += FRAME_US) {
        int64_t s0 = t * SR / 1000000;
        for (int i = 0; i < 960; i++)
            pcm[i] = (float)(amp * sin(2 * M_PI * freq * (double)(s0 + i) / SR));
        pkt p = {.source = source, .pts_us = t, .arrive_us = t + FRAME_US + delay_us};
        p.len = opus_encode_float(enc, pcm, 960, p.data, sizeof(p.data));
        assert_true(p.len > 0);
        list_add(l, &p);
    }
    opus_encoder_destroy(enc);
}

static int by_arrival(const void *a, const void *b)
{
    const pkt *x = a, *y = b;
    if (x->arrive_us != y->arrive_us)
        return x->arrive_us < y->arrive_us ? -1 : 1;
    if (x->source != y->source)
        return x->source < y->source ? -1 : 1;
    return x->pts_us < y->pts_us ? -1 : x->pts_us > y->pts_us;
}

#define EPOCH 1000000000LL /* the caller's clock at the recording's time 0 */

static pl_recmix *mix_new(const pl_recmix_config *base)
{
    pl_recmix_config cfg = {0};
    if (base)
        cfg = *base;
    cfg.epoch_us = EPOCH;
    pl_env env = pl_env_default();
    pl_recmix *m = NULL;
    assert_int_equal(pl_recmix_create(&env, &cfg, &m), 0);
    return m;
}

/* Pushes every packet in arrival order, writing the output as it comes,
 * and closes at end_us (timeline) when end_us >= 0. */
static void feed(pl_recmix *m, pktlist *l, int fd, int64_t end_us)
{
    qsort(l->p, l->n, sizeof(pkt), by_arrival);
    for (size_t i = 0; i < l->n; i++) {
        const pkt *p = &l->p[i];
        assert_int_equal(
            pl_recmix_push(m, p->source, p->pts_us, p->data, (size_t)p->len, EPOCH + p->arrive_us),
            0);
        if (fd >= 0)
            assert_int_equal(pl_recmix_write_fd(m, fd), 0);
    }
    if (end_us >= 0) {
        assert_int_equal(pl_recmix_advance(m, EPOCH + end_us), 0);
        assert_int_equal(pl_recmix_close(m, EPOCH + end_us), 0);
        if (fd >= 0)
            assert_int_equal(pl_recmix_write_fd(m, fd), 0);
    }
}

static char tmpdir[64];

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* ffprobe's view of the file: its container, codec and duration. */
static void probe(const char *path, char *format, char *codec, double *duration)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries format=format_name,duration:stream=codec_name "
             "-of default=nw=1 '%s'",
             path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[256];
    format[0] = codec[0] = 0;
    *duration = -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "format_name=", 12))
            snprintf(format, 32, "%.31s", line + 12);
        else if (!strncmp(line, "codec_name=", 11))
            snprintf(codec, 32, "%.31s", line + 11);
        else if (!strncmp(line, "duration=", 9))
            *duration = atof(line + 9);
    }
    assert_int_equal(pclose(f), 0);
}

static double rms(const float *x, size_t n, double t0, double t1)
{
    size_t a = (size_t)(t0 * SR), b = (size_t)(t1 * SR);
    assert_true(b <= n);
    double e = 0;
    for (size_t i = a; i < b; i++)
        e += (double)x[i] * x[i];
    return sqrt(e / (double)(b - a));
}

static int open_out(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    return fd;
}

/* Ogg's CRC (no reflection, initial 0, no final xor): the check value of
 * "123456789" for that model is CRC-32/CKSUM's without its final xor. */
static void test_ogg_crc(void **state)
{
    (void)state;
    assert_int_equal(pl_ogg_crc(0, (const uint8_t *)"123456789", 9), 0x765e7680u ^ 0xffffffffu);
    /* A page's CRC, computed over the page with the field zero, makes the
     * CRC over the whole page with it... checked again from scratch. */
    static pl_oggw w;
    pl_oggw_init(&w, 42);
    uint8_t body[600], page[1024];
    memset(body, 0x5a, sizeof(body));
    assert_int_equal(pl_oggw_add(&w, body, sizeof(body)), 0);
    assert_int_equal(pl_oggw_add(&w, body, 255), 0);
    int n = pl_oggw_page(&w, PL_OGG_BOS, 1234, page, sizeof(page));
    /* 600 bytes: 255 255 90; 255 bytes: 255 0. */
    assert_int_equal(n, 27 + 5 + 855);
    assert_int_equal(page[26], 5);
    assert_memory_equal(page + 27, ((uint8_t[]){255, 255, 90, 255, 0}), 5);
    uint32_t crc = (uint32_t)page[22] | (uint32_t)page[23] << 8 | (uint32_t)page[24] << 16 |
                   (uint32_t)page[25] << 24;
    memset(page + 22, 0, 4);
    assert_int_equal(pl_ogg_crc(0, page, (size_t)n), crc);
    assert_int_equal(page[5], PL_OGG_BOS);
    assert_int_equal(page[6], 1234 & 0xff);
    assert_int_equal(page[7], 1234 >> 8);
}

/* 440 Hz from 0 to 6 s, 660 Hz from 2 to 8 s, and a third source sending
 * silence throughout. */
static void tones_scenario(pktlist *l)
{
    add_tone(l, 1, 440, 0.3, 0, 6000000, 40000);
    add_tone(l, 2, 660, 0.3, 2000000, 8000000, 70000);
    add_tone(l, 3, 0, 0, 0, 8000000, 10000);
}

static void test_tones(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof(path), "tones.ogg");
    pktlist l = {0};
    tones_scenario(&l);
    pl_recmix *m = mix_new(NULL);
    int fd = open_out(path);
    feed(m, &l, fd, 8000000);
    close(fd);
    pl_recmix_stats st;
    pl_recmix_get_stats(m, &st);
    assert_int_equal(st.packets, l.n);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.malformed + st.backwards + st.out_of_range + st.no_slot, 0);
    assert_int_equal(st.frames, 400);
    assert_int_equal(st.out_dropped, 0);
    assert_int_equal(st.limited, 0); /* two tones of 0.3 stay under full scale */
    pl_recmix_destroy(m);
    free(l.p);

    char format[32], codec[32];
    double duration;
    probe(path, format, codec, &duration);
    assert_string_equal(format, "ogg");
    assert_string_equal(codec, "opus");
    print_message("# ffprobe duration %.3f s\n", duration);
    assert_true(fabs(duration - 8.0) <= 0.04);

    size_t n;
    float *x = mp_decode_audio(path, &n);
    print_message("# decoded %.3f s\n", (double)n / SR);
    assert_true(fabs((double)n / SR - 8.0) <= 0.04);
    double a1 = mp_tone_amp(x, n, 0.5, 1.5, 440), b1 = mp_tone_amp(x, n, 0.5, 1.5, 660);
    double a2 = mp_tone_amp(x, n, 3, 5, 440), b2 = mp_tone_amp(x, n, 3, 5, 660);
    double a3 = mp_tone_amp(x, n, 6.5, 7.5, 440), b3 = mp_tone_amp(x, n, 6.5, 7.5, 660);
    print_message("# 440/660 Hz: [0.5,1.5] %.3f/%.3f  [3,5] %.3f/%.3f  [6.5,7.5] %.3f/%.3f\n", a1,
                  b1, a2, b2, a3, b3);
    assert_true(a1 > 0.2 && b1 < a1 / 30);
    assert_true(a2 > 0.2 && b2 > 0.2);
    assert_true(b3 > 0.2 && a3 < b3 / 30);
    free(x);
}

static void test_gap_and_late(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof(path), "gap.ogg");
    pktlist all = {0}, l = {0};
    add_tone(&all, 1, 440, 0.3, 0, 6000000, 40000);
    for (size_t i = 0; i < all.n; i++) {
        pkt p = all.p[i];
        if (p.pts_us >= 2000000 && p.pts_us < 4000000)
            continue; /* muted */
        if (p.pts_us == 1000000)
            continue; /* lost */
        /* After the mute, the first 200 ms arrive in one burst at 4.5 s,
         * when the mix (300 ms behind) has reached 4.2 s; what follows
         * waits behind them. */
        if (p.pts_us >= 4000000 && p.arrive_us < 4500000)
            p.arrive_us = 4500000;
        list_add(&l, &p);
    }
    pl_recmix *m = mix_new(NULL);
    int fd = open_out(path);
    feed(m, &l, fd, 6000000);
    close(fd);
    pl_recmix_stats st;
    pl_recmix_get_stats(m, &st);
    print_message("# late %llu concealed %llu\n", (unsigned long long)st.late,
                  (unsigned long long)st.concealed);
    assert_int_equal(st.late, 10); /* 4.00 .. 4.18 */
    assert_int_equal(st.concealed, 1);
    assert_int_equal(st.packets, l.n);
    pl_recmix_destroy(m);
    free(all.p);
    free(l.p);

    size_t n;
    float *x = mp_decode_audio(path, &n);
    assert_true(fabs((double)n / SR - 6.0) <= 0.04);
    double before = mp_tone_amp(x, n, 0.5, 0.98, 440), lost = rms(x, n, 1.0, 1.02);
    double muted = rms(x, n, 2.1, 3.9), late = rms(x, n, 4.01, 4.19);
    double after = mp_tone_amp(x, n, 4.3, 5.5, 440);
    print_message("# 440 Hz before %.3f, rms lost packet %.4f, muted %.5f, late %.5f, "
                  "440 Hz after %.3f\n",
                  before, lost, muted, late, after);
    assert_true(before > 0.2);
    assert_true(lost > 0.05); /* concealed, not a hole */
    assert_true(muted < 0.002);
    assert_true(late < 0.002); /* the late packets are not mixed back in time */
    assert_true(after > 0.2);
    free(x);
}

/* Two loud sources in phase add up to 1.6 times full scale: the limiter
 * turns the mix down instead of clipping it (clipping a sine makes odd
 * harmonics). */
static void test_limiter(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof(path), "loud.ogg");
    pktlist l = {0};
    add_tone(&l, 1, 440, 0.8, 0, 3000000, 40000);
    add_tone(&l, 2, 440, 0.8, 0, 3000000, 40000);
    pl_recmix *m = mix_new(NULL);
    int fd = open_out(path);
    feed(m, &l, fd, 3000000);
    close(fd);
    pl_recmix_stats st;
    pl_recmix_get_stats(m, &st);
    assert_true(st.limited >= 140);
    pl_recmix_destroy(m);
    free(l.p);

    size_t n;
    float *x = mp_decode_audio(path, &n);
    double a = mp_tone_amp(x, n, 1, 2, 440), h3 = mp_tone_amp(x, n, 1, 2, 1320);
    double peak = 0;
    for (size_t i = SR / 2; i < n; i++)
        peak = fmax(peak, fabs(x[i]));
    print_message("# limited %llu frames; 440 Hz %.3f, 1320 Hz %.4f, peak %.3f\n",
                  (unsigned long long)st.limited, a, h3, peak);
    assert_true(a > 0.85 && a < 1.0);
    assert_true(h3 < 0.01);
    assert_true(peak < 1.05);
    free(x);
}

static const pl_recmix_speech *speech_of(const pl_recmix_speech *iv, size_t n, uint32_t source,
                                         int *count)
{
    const pl_recmix_speech *first = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (iv[i].source == source) {
            if (!first)
                first = &iv[i];
            (*count)++;
        }
    return first;
}

static void test_speech(void **state)
{
    (void)state;
    pktlist l = {0};
    tones_scenario(&l);
    /* Speech with a 300 ms pause is one interval; a 60 ms blip is none. */
    add_tone(&l, 4, 300, 0.2, 500000, 2000000, 30000);
    add_tone(&l, 4, 300, 0.2, 2300000, 3000000, 30000);
    add_tone(&l, 5, 300, 0.2, 1000000, 1060000, 30000);
    pl_recmix *m = mix_new(NULL);
    feed(m, &l, -1, -1);
    /* Before close: source 2 still speaks, up to where the mix is. */
    pl_recmix_speech iv[16];
    size_t n = pl_recmix_speech_get(m, iv, 16);
    int c;
    const pl_recmix_speech *s2 = speech_of(iv, n, 2, &c);
    assert_non_null(s2);
    assert_true(s2->open);
    assert_true(pl_recmix_close(m, EPOCH + 8000000) == 0);
    n = pl_recmix_speech_get(m, iv, 16);
    assert_int_equal(pl_recmix_speech_get(m, NULL, 0), n);
    for (size_t i = 0; i < n; i++)
        print_message("# speech source %u [%.3f, %.3f]%s\n", iv[i].source,
                      (double)iv[i].start_us / 1e6, (double)iv[i].end_us / 1e6,
                      iv[i].open ? " open" : "");
    const pl_recmix_speech *s1 = speech_of(iv, n, 1, &c);
    assert_int_equal(c, 1);
    assert_true(llabs(s1->start_us - 0) <= 300000 && llabs(s1->end_us - 6000000) <= 300000);
    assert_false(s1->open);
    s2 = speech_of(iv, n, 2, &c);
    assert_int_equal(c, 1);
    assert_true(llabs(s2->start_us - 2000000) <= 300000 && llabs(s2->end_us - 8000000) <= 300000);
    assert_false(s2->open);
    assert_null(speech_of(iv, n, 3, &c));
    const pl_recmix_speech *s4 = speech_of(iv, n, 4, &c);
    assert_int_equal(c, 1);
    assert_true(llabs(s4->start_us - 500000) <= 300000 && llabs(s4->end_us - 3000000) <= 300000);
    assert_null(speech_of(iv, n, 5, &c));
    assert_int_equal(n, 3);
    pl_recmix_destroy(m);
    free(l.p);
}

/* A recorder killed 15 s into a recording leaves a file that plays for at
 * least 12 s: pages leave as they are completed. */
static void test_crash(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof(path), "crash.ogg");
    int ready[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        pktlist l = {0};
        add_tone(&l, 1, 440, 0.3, 0, 15000000, 40000);
        add_tone(&l, 2, 660, 0.3, 0, 15000000, 60000);
        pl_recmix *m = mix_new(NULL);
        int fd = open_out(path);
        feed(m, &l, fd, -1);
        /* The clock goes on to 15 s; the recorder then waits to die. */
        pl_recmix_advance(m, EPOCH + 15000000);
        if (pl_recmix_write_fd(m, fd) != 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        char c;
        while (read(hold[0], &c, 1) != 0) {
        }
        _exit(2);
    }
    close(ready[1]);
    close(hold[0]);
    mp_kill_when_ready(ready[0], pid);
    close(hold[1]);

    char format[32], codec[32];
    double duration;
    probe(path, format, codec, &duration);
    print_message("# killed at 15 s: ffprobe %s/%s %.3f s\n", format, codec, duration);
    assert_string_equal(codec, "opus");
    assert_true(duration >= 12.0 && duration <= 15.0);
    size_t n;
    float *x = mp_decode_audio(path, &n);
    print_message("# decoded %.3f s\n", (double)n / SR);
    assert_true((double)n / SR >= 12.0);
    assert_true(mp_tone_amp(x, n, 11, 12, 440) > 0.2 && mp_tone_amp(x, n, 11, 12, 660) > 0.2);
    free(x);
}

static void test_bad_input(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof(path), "bad.ogg");
    pl_recmix_config cfg = {.max_sources = 3};
    pl_recmix *m = mix_new(&cfg);
    pktlist l = {0};
    add_tone(&l, 1, 440, 0.3, 0, 2000000, 40000);
    const pkt *good = &l.p[10];
    int64_t now = EPOCH + 500000;
    uint64_t pushes = 0;

    /* Garbage: a code 3 packet of zero frames, and a code 3 packet whose
     * frame count runs past its length. */
    const uint8_t zero_frames[] = {0x03, 0x00};
    const uint8_t too_short[] = {0x03, 0x05, 0x01};
    assert_int_equal(pl_recmix_push(m, 7, 0, zero_frames, sizeof(zero_frames), now), PL_EMALFORMED);
    assert_int_equal(pl_recmix_push(m, 7, 0, too_short, sizeof(too_short), now), PL_EMALFORMED);
    assert_int_equal(pl_recmix_push(m, 7, 0, good->data, 0, now), PL_EMALFORMED);
    assert_int_equal(pl_recmix_push(m, 7, 0, NULL, 10, now), PL_EMALFORMED);
    pushes += 4;
    pl_recmix_stats st;
    pl_recmix_get_stats(m, &st);
    assert_int_equal(st.malformed, 4);
    assert_int_equal(st.sources, 0); /* garbage makes no source */

    /* Out of range: negative, and far ahead of the mix. */
    assert_int_equal(pl_recmix_push(m, 1, -20000, good->data, (size_t)good->len, now), PL_EINVAL);
    assert_int_equal(pl_recmix_push(m, 1, 60000000, good->data, (size_t)good->len, now), PL_EINVAL);
    pushes += 2;

    /* pts backwards. */
    assert_int_equal(pl_recmix_push(m, 1, 400000, good->data, (size_t)good->len, now), 0);
    assert_int_equal(pl_recmix_push(m, 1, 300000, good->data, (size_t)good->len, now), PL_EREPLAY);
    pushes += 2;

    /* Too many sources. */
    assert_int_equal(pl_recmix_push(m, 2, 400000, good->data, (size_t)good->len, now), 0);
    assert_int_equal(pl_recmix_push(m, 3, 400000, good->data, (size_t)good->len, now), 0);
    assert_int_equal(pl_recmix_push(m, 4, 400000, good->data, (size_t)good->len, now), PL_ENOSPC);
    pushes += 3;
    pl_recmix_get_stats(m, &st);
    assert_int_equal(st.out_of_range, 2);
    assert_int_equal(st.backwards, 1);
    assert_int_equal(st.no_slot, 1);
    assert_int_equal(st.sources, 3);

    /* A source that leaves frees its slot once its audio is mixed. */
    assert_int_equal(pl_recmix_remove(m, 3), 0);
    assert_int_equal(pl_recmix_remove(m, 99), PL_ENOTFOUND);
    now = EPOCH + 1000000;
    assert_int_equal(pl_recmix_advance(m, now), 0);
    pl_recmix_get_stats(m, &st);
    assert_int_equal(st.sources, 2);
    assert_int_equal(pl_recmix_push(m, 4, 800000, good->data, (size_t)good->len, now), 0);
    pushes += 1;

    /* Random bytes to random sources at random times: every push is
     * counted one way or another, and nothing breaks (the sanitizer build
     * watches). */
    uint64_t seed = 12345;
    pl_env env = pl_env_seeded(&seed, 7);
    uint8_t junk[300];
    for (int i = 0; i < 3000; i++) {
        size_t len = pl_env_random_u32(&env) % sizeof(junk);
        pl_env_random(&env, junk, len);
        const uint32_t ids[] = {1, 2, 4, 10};
        uint32_t source = ids[pl_env_random_u32(&env) % 4];
        int64_t pts = 1000000 + (int64_t)i * 1000 + (int64_t)(pl_env_random_u32(&env) % 40000);
        now = EPOCH + 1000000 + (int64_t)i * 1000;
        pl_recmix_push(m, source, pts, junk, len, now);
        pushes++;
        if (i % 500 == 0)
            pl_recmix_remove(m, source);
    }
    pl_recmix_get_stats(m, &st);
    print_message("# pushes %llu: packets %llu late %llu malformed %llu backwards %llu range "
                  "%llu no slot %llu\n",
                  (unsigned long long)pushes, (unsigned long long)st.packets,
                  (unsigned long long)st.late, (unsigned long long)st.malformed,
                  (unsigned long long)st.backwards, (unsigned long long)st.out_of_range,
                  (unsigned long long)st.no_slot);
    assert_int_equal(st.packets + st.malformed + st.backwards + st.out_of_range + st.no_slot,
                     pushes);
    assert_true(st.malformed > 0 && st.packets > 0);

    int fd = open_out(path);
    assert_int_equal(pl_recmix_close(m, EPOCH + 5000000), 0);
    assert_int_equal(pl_recmix_close(m, EPOCH + 5000000), PL_ESTATE);
    assert_int_equal(pl_recmix_push(m, 1, 5000000, good->data, (size_t)good->len, now), PL_ESTATE);
    pl_recmix_get_stats(m, &st);
    assert_int_equal(st.after_close, 1);
    assert_int_equal(pl_recmix_write_fd(m, fd), 0);
    close(fd);
    pl_recmix_destroy(m);
    free(l.p);

    /* What the garbage did not get into is still a valid file. */
    char format[32], codec[32];
    double duration;
    probe(path, format, codec, &duration);
    assert_string_equal(codec, "opus");
    assert_true(fabs(duration - 5.0) <= 0.04);
}

/* A caller that does not drain the output loses whole pages, counted:
 * what stays queued is still a run of complete pages. */
static void test_output_full(void **state)
{
    (void)state;
    pl_recmix_config cfg = {.out_cap = PL_OGG_MAX_PAGE};
    pl_recmix *m = mix_new(&cfg);
    pktlist l = {0};
    add_tone(&l, 1, 440, 0.3, 0, 20000000, 40000);
    feed(m, &l, -1, 20000000);
    pl_recmix_stats st;
    pl_recmix_get_stats(m, &st);
    const uint8_t *d;
    size_t n = pl_recmix_output(m, &d);
    print_message("# %llu pages dropped, %zu bytes queued\n", (unsigned long long)st.out_dropped,
                  n);
    assert_true(st.out_dropped > 0);
    assert_true(n <= PL_OGG_MAX_PAGE);
    size_t off = 0, pages = 0;
    while (off < n) {
        assert_true(n - off >= 27);
        assert_memory_equal(d + off, "OggS", 4);
        size_t len = 27 + d[off + 26];
        for (int i = 0; i < d[off + 26]; i++)
            len += d[off + 27 + i];
        assert_true(off + len <= n);
        off += len;
        pages++;
    }
    /* Nothing was consumed: every page queued is there, whole; with the
     * dropped ones they are the headers, 20 s in pages of 500 ms, and the
     * last one. */
    assert_int_equal(pages, st.pages);
    assert_int_equal(st.pages + st.out_dropped, 2 + 40 + 1);
    pl_recmix_destroy(m);
    free(l.p);
}

/* Configuration that cannot work is refused. */
static void test_config(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_recmix *m = NULL;
    pl_recmix_config bad[] = {
        {.channels = 3}, {.max_sources = -1}, {.page_us = 5000000}, {.bitrate = 100}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pl_recmix_create(&env, &bad[i], &m), PL_EINVAL);
    /* Stereo works, and its header says so. */
    pl_recmix_config st = {.channels = 2, .title = "Weekly sync"};
    assert_int_equal(pl_recmix_create(&env, &st, &m), 0);
    const uint8_t *d;
    size_t n = pl_recmix_output(m, &d);
    assert_true(n > 47);
    assert_memory_equal(d, "OggS", 4);
    assert_memory_equal(d + 28, "OpusHead", 8);
    assert_int_equal(d[28 + 9], 2);
    assert_non_null(memmem(d, n, "TITLE=Weekly sync", 17));
    pl_recmix_consume(m, n);
    assert_int_equal(pl_recmix_output(m, &d), 0);
    pl_recmix_destroy(m);

    /* The timeout is when the next frame can be mixed, and silence is
     * mixed as time passes: a page leaves after page_us of it. */
    m = mix_new(NULL);
    pl_recmix_consume(m, pl_recmix_output(m, &d));
    int64_t t = pl_recmix_next_timeout(m);
    assert_int_equal(t, EPOCH + PL_RECMIX_LATENCY_US + FRAME_US);
    assert_int_equal(pl_recmix_advance(m, t - 1), 0);
    pl_recmix_stats s;
    pl_recmix_get_stats(m, &s);
    assert_int_equal(s.frames, 0);
    while (pl_recmix_output(m, &d) == 0) {
        assert_int_equal(pl_recmix_advance(m, pl_recmix_next_timeout(m)), 0);
        assert_true(pl_recmix_next_timeout(m) > t);
        t = pl_recmix_next_timeout(m);
    }
    pl_recmix_get_stats(m, &s);
    /* The page is complete once the packet after it is encoded. */
    assert_int_equal(s.frames, PL_RECMIX_PAGE_US / FRAME_US + 1);
    assert_int_equal(s.mixed_us, PL_RECMIX_PAGE_US + FRAME_US);
    pl_recmix_destroy(m);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/recmix-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ogg_crc),     cmocka_unit_test(test_config),
        cmocka_unit_test(test_tones),       cmocka_unit_test(test_gap_and_late),
        cmocka_unit_test(test_limiter),     cmocka_unit_test(test_speech),
        cmocka_unit_test(test_crash),       cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_output_full),
    };
    return cmocka_run_group_tests_name("recmix", tests, setup, teardown);
}
