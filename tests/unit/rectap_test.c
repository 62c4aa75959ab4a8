/* The recording's thread and queue (media/rectap.c) on a virtual clock:
 * two participants' real VP8 and Opus pushed as the worker would, each at
 * its own time (pl_rectap_sync after each), one of them with a simulcast camera of two layers and a screen
 * share. The files are read back by ffprobe: each participant's file has
 * its camera's largest layer, the screen share is left out, the hooks ran
 * in order (each file named before it existed, the summary at the end),
 * and packets after the stop or from unknown transports are counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/rectap.h"
#include "recfeed.h"

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct seen {
    char dir[256];
    int files, done, errors;
    bool file_existed; /* a file hook found its file already there */
    char names[8][PL_RECORDER_FILE_MAX + 1];
    size_t summary_files;
    uint64_t keyframes;
} seen;

static int on_file(void *user, const char *file, const char *participant, const char *display)
{
    seen *s = user;
    (void)participant;
    (void)display;
    char path[512];
    rt_path(path, sizeof(path), s->dir, file);
    struct stat st;
    s->file_existed |= stat(path, &st) == 0;
    if (s->files < 8)
        snprintf(s->names[s->files], sizeof(s->names[0]), "%s", file);
    s->files++;
    return PL_OK;
}

static void on_error(void *user, int error, int os_error)
{
    (void)error;
    (void)os_error;
    ((seen *)user)->errors++;
}

static void on_keyframe(void *user, uint64_t transport, uint32_t ssrc)
{
    (void)transport;
    (void)ssrc;
    ((seen *)user)->keyframes++;
}

static void on_done(void *user, const pl_recorder_summary *sum, int64_t end_us)
{
    seen *s = user;
    (void)end_us;
    s->done++;
    s->summary_files = sum->n_files;
}

/* Where each test sender's packets come from, as the router says it. */
typedef struct origin {
    uint32_t key;
    uint64_t transport;
    const char *mid;
    bool video, screen;
    uint8_t rank, n_layers;
} origin;

/* The recording thread's clock: virtual, set by the test before each
 * push (the thread reads it from its side). */
static _Atomic int64_t vclock;

static int64_t virtual_now(void *user)
{
    (void)user;
    return atomic_load(&vclock);
}

static void play(pl_rectap *t, rt_events *l, const origin *o, size_t n_o, int64_t start)
{
    qsort(l->e, l->n, sizeof(rt_ev), rt_by_arrival);
    for (size_t i = 0; i < l->n; i++) {
        const rt_ev *e = &l->e[i];
        int64_t at = start + (e->at - EPOCH);
        /* Each packet goes in at its own time, and the thread has placed
         * it before the clock moves on. */
        atomic_store(&vclock, at);
        for (size_t k = 0; k < n_o; k++) {
            if (o[k].key != e->key || e->op != RT_PKT)
                continue;
            pl_rectap_packet p = {.transport = o[k].transport,
                                  .ssrc = pl_get_u32(e->b + 8),
                                  .video = o[k].video,
                                  .screen = o[k].screen,
                                  .rank = o[k].rank,
                                  .n_layers = o[k].n_layers,
                                  .at_us = at};
            snprintf(p.mid, sizeof(p.mid), "%s", o[k].mid);
            pl_rectap_push(t, &p, e->b, e->len);
        }
        pl_rectap_sync(t);
    }
    l->n = 0;
}

static void test_two_participants(void **state)
{
    (void)state;
    seen s = {0};
    rt_dir(s.dir, sizeof(s.dir), "tap");
    int64_t start = mono();
    atomic_store(&vclock, start);
    pl_rectap_config cfg = {.clock = virtual_now,
                            .recorder = {.dir = s.dir, .epoch_us = start},
                            .hooks = {.user = &s,
                                      .file = on_file,
                                      .error = on_error,
                                      .keyframe = on_keyframe,
                                      .done = on_done}};
    pl_env env = pl_env_default();
    pl_rectap *t = NULL;
    assert_int_equal(pl_rectap_start(&env, &cfg, &t), PL_OK);
    assert_int_equal(
        pl_rectap_add_participant(t, "pa", "Ann", PL_RECORDER_AUDIO | PL_RECORDER_VIDEO, 11),
        PL_OK);
    assert_int_equal(
        pl_rectap_add_participant(t, "pb", "Bob", PL_RECORDER_AUDIO | PL_RECORDER_VIDEO, 12),
        PL_OK);
    assert_int_equal(pl_rectap_add_participant(t, "", "x", PL_RECORDER_AUDIO, 13), PL_EINVAL);

    /* pa: audio, a two-layer camera (clip 2 the small layer, clip 0 the
     * large one), a screen share (clip 1); pb: audio and clip 1. */
    rt_sender a, a_small, a_screen, b;
    static const double talk[] = {0, 100, -1};
    rt_sender_init(&a, "pa", 10, 440, rt_clips[0], talk);
    rt_sender_init(&a_small, "pa", 20, 440, rt_clips[2], talk);
    rt_sender_init(&a_screen, "pa", 30, 440, rt_clips[1], talk);
    rt_sender_init(&b, "pb", 40, 660, rt_clips[1], talk);
    rt_sender *all[4] = {&a, &a_small, &a_screen, &b};
    for (int i = 0; i < 4; i++)
        rt_source(all[i], 0);
    rt_events l = {0};
    rt_send(&l, &a, 0, 3 * SEC);
    rt_send_video(&l, &a_small, 0, 3 * SEC);
    rt_send_video(&l, &a_screen, 0, 3 * SEC);
    rt_send(&l, &b, 0, 3 * SEC);
    /* Keys 99: a transport nobody has. */
    const origin o[] = {
        {10, 11, "0", false, false, 0, 1}, {11, 11, "1", true, false, 1, 2},
        {21, 11, "1", true, false, 0, 2},  {31, 11, "2", true, true, 0, 1},
        {40, 12, "0", false, false, 0, 1}, {41, 12, "1", true, false, 0, 1},
        {41, 99, "1", true, false, 0, 1},
    };
    play(t, &l, o, sizeof(o) / sizeof(o[0]), start);
    pl_rectap_stop(t);
    /* After the stop: refused, no crash. */
    assert_int_equal(pl_rectap_add_participant(t, "pc", "Cy", PL_RECORDER_AUDIO, 14), PL_ESTATE);
    pl_rectap_retain(t); /* as a worker that still taps a transport */
    pl_rectap_destroy(t);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.errors, 0);
    assert_false(s.file_existed);
    assert_int_equal(s.files, 2);
    assert_string_equal(s.names[0], "pa.webm");
    assert_string_equal(s.names[1], "pb.webm");
    assert_int_equal(s.summary_files, 3); /* and mix.ogg */
    pl_rectap_stats st;
    pl_rectap_stats_get(t, &st);
    assert_true(st.unknown_transport > 60);
    /* The screen share, and the small layer once the large one flows. */
    assert_true(st.not_recorded > 80);
    assert_int_equal(st.queue_full, 0);
    assert_true(st.recorder.frames[1] > 150);
    uint64_t queued = st.queued;
    uint8_t pkt[64] = {0x80, 111};
    pl_rectap_packet late = {.transport = 11, .at_us = atomic_load(&vclock)};
    pl_rectap_push(t, &late, pkt, sizeof(pkt)); /* after the stop: dropped */
    pl_rectap_stats_get(t, &st);
    assert_int_equal(st.queued, queued);
    pl_rectap_release(t);

    char file[512];
    rt_path(file, sizeof(file), s.dir, "pa.webm");
    rt_check_tracks(file, rt_sizes[0][0], rt_sizes[0][1]);
    rt_path(file, sizeof(file), s.dir, "pb.webm");
    rt_check_tracks(file, rt_sizes[1][0], rt_sizes[1][1]);
    for (int i = 0; i < 4; i++)
        rt_sender_free(all[i]);
    free(l.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_participants),
    };
    return cmocka_run_group_tests(tests, rt_setup, rt_teardown);
}
