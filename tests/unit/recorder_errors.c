/* The recorder when things go wrong: files that cannot be created or
 * stop being written, the byte bound, bad input (the cases of
 * recorder_test.c's group). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mediaprobe.h"
#include "parley/recorder.h"
#include "parley/rtp.h"
#include "recfeed.h"

static const double hz2[] = {440, 660};

/* A file that cannot be created (a directory is in its way): the error is
 * the participant's file's and the recording's; its video is a counted
 * drop, its audio still mixed; the others are whole. A recording whose
 * directory is gone reports every file and goes on without crashing. */
void test_file_errors(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "errors");
    rt_path(file, sizeof(file), dir, "pX.webm");
    assert_int_equal(mkdir(file, 0755), 0);
    pl_recorder *r = rt_recorder(dir, 0);
    rt_sender x, y;
    rt_sender_init(&x, "pX", 10, 440, rt_clips[0], rt_talk_all);
    rt_sender_init(&y, "pY", 20, 660, rt_clips[1], rt_talk_all);
    rt_source(&x, 0);
    rt_source(&y, 0);
    errno = 0;
    assert_int_equal(
        pl_recorder_add_participant(r, "pX", "X", PL_RECORDER_AUDIO | PL_RECORDER_VIDEO), PL_EIO);
    assert_int_equal(errno, EISDIR);
    int os_error = 0;
    assert_int_equal(pl_recorder_error(r, &os_error), PL_EIO);
    assert_int_equal(os_error, EISDIR);
    assert_int_equal(pl_recorder_add_track(r, "pX", x.akey, PL_RECFRAME_OPUS), PL_OK);
    assert_int_equal(pl_recorder_add_track(r, "pX", x.vkey, PL_RECFRAME_VP8), PL_OK);
    rt_join(r, &y, PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
    rt_events l = {0};
    rt_send(&l, &x, 0, 5 * SEC);
    rt_send(&l, &y, 0, 5 * SEC);
    /* pX's video is refused, everything else taken. */
    qsort(l.e, l.n, sizeof(rt_ev), rt_by_arrival);
    uint64_t refused = 0;
    for (size_t i = 0; i < l.n; i++) {
        rt_run_until(r, l.e[i].at, NULL);
        int rc = pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at);
        if (l.e[i].key == x.vkey) {
            assert_int_equal(rc, PL_EIO);
            refused++;
        } else {
            assert_int_equal(rc, PL_OK);
        }
    }
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 5200 * MS, &sum), PL_OK);
    assert_int_equal(sum.error, PL_EIO);
    const pl_recorder_file *fx = rt_summary_file(&sum, "pX.webm");
    assert_true(!fx->present && fx->error == PL_EIO && fx->os_error == EISDIR);
    const pl_recorder_file *fy = rt_summary_file(&sum, "pY.webm");
    assert_true(fy->present && fy->error == PL_OK);
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.files_failed, 1);
    /* Its video packets at push, its audio frames after the mix. */
    assert_int_equal(st.file_failed, refused + 250);
    assert_int_equal(st.mixed, 2 * 250);
    rt_path(file, sizeof(file), dir, "pY.webm");
    assert_int_equal(mp_decoded_frames(file, 'v'), 150);
    mp_assert_decodes_clean(file);
    rt_path(file, sizeof(file), dir, "mix.ogg");
    size_t n;
    float *pcm = mp_decode_audio(file, &n);
    assert_int_equal(rt_tones(pcm, n, 1, 4.5, hz2, 2), 3u);
    free(pcm);
    pl_recorder_destroy(r);

    /* No directory at all. */
    rt_path(file, sizeof(file), dir, "gone");
    pl_recorder_config cfg = {.dir = file, .epoch_us = EPOCH};
    pl_env env = pl_env_default();
    assert_int_equal(pl_recorder_create(&env, &cfg, &r), PL_OK);
    assert_int_equal(pl_recorder_error(r, &os_error), PL_EIO);
    assert_int_equal(os_error, ENOENT);
    assert_int_equal(pl_recorder_add_participant(r, "pX", "X", PL_RECORDER_AUDIO), PL_EIO);
    assert_int_equal(pl_recorder_add_track(r, "pX", x.akey, PL_RECFRAME_OPUS), PL_OK);
    l.n = 0;
    rt_send_audio(&l, &x, 5 * SEC, 7 * SEC);
    for (size_t i = 0; i < l.n; i++) {
        rt_run_until(r, l.e[i].at, NULL);
        assert_int_equal(pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at), PL_OK);
    }
    assert_int_equal(pl_recorder_stop(r, EPOCH + 7 * SEC, &sum), PL_OK);
    assert_int_equal(sum.n_files, 2);
    for (size_t i = 0; i < sum.n_files; i++)
        assert_true(!sum.files[i].present && sum.files[i].error == PL_EIO &&
                    sum.files[i].os_error == ENOENT);
    /* The mix went on without its file: the speech is there. */
    assert_int_equal(sum.n_speech, 1);
    pl_recorder_destroy(r);
    opus_encoder_destroy(x.enc);
    opus_encoder_destroy(y.enc);
    free(l.e);
}

/* A disk that fills in the middle (a file size limit, in a child): the
 * file that reaches it fails with EFBIG and stays readable; the other
 * participant's file and the mix, smaller, are whole. */
void test_write_fails_midway(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "midway");
    rt_sender big, small;
    rt_sender_init(&big, "pBig", 10, 440, rt_clips[0], rt_talk_all);
    rt_sender_init(&small, "pSmall", 20, 660, NULL, rt_talk_all);
    rt_source(&big, 0);
    rt_source(&small, 0);
    rt_events l = {0};
    rt_send(&l, &big, 0, 10 * SEC);
    rt_send(&l, &small, 0, 10 * SEC);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rt_in_child = true;
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {.rlim_cur = 300 * 1024, .rlim_max = 300 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            exit(10);
        pl_recorder *r = rt_recorder(dir, 0);
        rt_join(r, &big, PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
        rt_join(r, &small, PL_RECORDER_AUDIO);
        qsort(l.e, l.n, sizeof(rt_ev), rt_by_arrival);
        for (size_t i = 0; i < l.n; i++) {
            rt_run_until(r, l.e[i].at, NULL);
            int rc = pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at);
            if (rc != PL_OK && !(rc == PL_EIO && l.e[i].key == big.vkey))
                exit(11);
        }
        int os_error;
        if (pl_recorder_error(r, &os_error) != PL_EIO || os_error != EFBIG)
            exit(12);
        pl_recorder_summary sum;
        if (pl_recorder_stop(r, EPOCH + 10200 * MS, &sum) != PL_OK)
            exit(13);
        for (size_t i = 0; i < sum.n_files; i++) {
            const pl_recorder_file *f = &sum.files[i];
            bool is_big = strcmp(f->name, "pBig.webm") == 0;
            if (!f->present ||
                (is_big ? f->error != PL_EIO || f->os_error != EFBIG : f->error != PL_OK))
                exit(14);
        }
        pl_recorder_stats st;
        pl_recorder_stats_get(r, &st);
        if (st.files_failed != 1 || st.frames[0] < 500)
            exit(15);
        pl_recorder_destroy(r);
        exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rt_path(file, sizeof(file), dir, "pBig.webm");
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    long video = mp_decoded_frames(file, 'v');
    print_message("# pBig.webm: %lld bytes, %ld video frames\n", (long long)sb.st_size, video);
    assert_true(sb.st_size <= 300 * 1024);
    assert_true(video >= FPS && video < 300);
    rt_path(file, sizeof(file), dir, "pSmall.webm");
    assert_int_equal(mp_decoded_frames(file, 'a'), 500);
    mp_assert_decodes_clean(file);
    rt_path(file, sizeof(file), dir, "mix.ogg");
    double d = mp_format_duration(file);
    assert_true(d > 10.1 && d < 10.3);
    mp_assert_decodes_clean(file);
    opus_encoder_destroy(big.enc);
    opus_encoder_destroy(small.enc);
    free(l.e);
}

/* A byte bound: past it every file is finished where it is (whole, with
 * its cues), the error says PL_ENOSPC, and what comes after is a counted
 * drop. */
void test_byte_bound(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "bound");
    const uint64_t bound = 150 * 1024;
    pl_recorder *r = rt_recorder(dir, bound);
    rt_sender a;
    rt_sender_init(&a, "pQ", 10, 440, rt_clips[0], rt_talk_all);
    rt_source(&a, 0);
    rt_join(r, &a, PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
    rt_events l = {0};
    rt_send(&l, &a, 0, 6 * SEC);
    qsort(l.e, l.n, sizeof(rt_ev), rt_by_arrival);
    int video_refused = 0;
    for (size_t i = 0; i < l.n; i++) {
        rt_run_until(r, l.e[i].at, NULL);
        int rc = pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at);
        if (rc == PL_ENOSPC)
            video_refused++;
        else
            assert_int_equal(rc, PL_OK);
    }
    int os_error = -1;
    assert_int_equal(pl_recorder_error(r, &os_error), PL_ENOSPC);
    assert_int_equal(os_error, 0);
    assert_true(video_refused > 0);
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.files_open, 0);
    assert_true(st.quota > (uint64_t)video_refused);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 6 * SEC, &sum), PL_OK);
    uint64_t total = 0;
    for (size_t i = 0; i < sum.n_files; i++) {
        assert_int_equal(sum.files[i].error, PL_ENOSPC);
        assert_true(sum.files[i].present);
        total += sum.files[i].bytes;
    }
    print_message("# %llu bytes written for a bound of %llu\n", (unsigned long long)total,
                  (unsigned long long)bound);
    assert_true(total >= bound && total < bound + 128 * 1024);
    rt_path(file, sizeof(file), dir, "pQ.webm");
    double d = mp_format_duration(file);
    assert_true(d > 0.5 && d < 3.0);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    opus_encoder_destroy(a.enc);
    free(l.e);
}

/* Bad input is a clear error and a counted drop; the files are fine. */
void test_bad_input(void **state)
{
    (void)state;
    char dir[256], file[512], name[128];
    rt_dir(dir, sizeof(dir), "bad");
    pl_env env = pl_env_default();
    pl_recorder *r = NULL;
    pl_recorder_config cfg = {.epoch_us = EPOCH};
    assert_int_equal(pl_recorder_create(&env, &cfg, &r), PL_EINVAL);
    r = rt_recorder(dir, 0);

    /* Names. */
    static const char *bad_ids[] = {"",
                                    "../x",
                                    "a/b",
                                    ".x",
                                    "a b",
                                    "manifest",
                                    "x..y",
                                    "p@q",
                                    ("0123456789012345678901234567890123456789012345678901234567890"
                                     "1234")};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        assert_int_equal(pl_recorder_file_name(r, bad_ids[i], name, sizeof(name)), PL_EINVAL);
        assert_int_equal(pl_recorder_add_participant(r, bad_ids[i], "x", PL_RECORDER_AUDIO),
                         PL_EINVAL);
    }
    assert_int_equal(pl_recorder_file_name(r, "p1", name, sizeof(name)), PL_OK);
    assert_string_equal(name, "p1.webm");
    assert_int_equal(pl_recorder_file_name(r, "p1", name, 4), PL_ENOSPC);
    assert_int_equal(pl_recorder_add_participant(r, "p1", "x", 0), PL_EINVAL);
    assert_int_equal(pl_recorder_add_participant(r, "p1", "x", 4), PL_EINVAL);
    /* A display name cut at a whole character (é is two bytes). */
    char longname[400];
    memset(longname, 'a', 255);
    memcpy(longname + 255, "\xc3\xa9tc", 4);
    longname[259] = '\0';
    assert_int_equal(pl_recorder_add_participant(r, "p1", longname, PL_RECORDER_AUDIO), PL_OK);
    assert_int_equal(pl_recorder_add_participant(r, "p1", "x", PL_RECORDER_AUDIO), PL_ESTATE);
    assert_int_equal(pl_recorder_file_name(r, "p1", name, sizeof(name)), PL_OK);
    assert_string_equal(name, "p1.2.webm");

    /* Tracks. */
    assert_int_equal(pl_recorder_add_track(r, "nobody", 1, PL_RECFRAME_OPUS), PL_ENOTFOUND);
    assert_int_equal(pl_recorder_add_track(r, "p1", 1, (pl_recframe_codec)9), PL_EINVAL);
    assert_int_equal(pl_recorder_add_track(r, "p1", 1, PL_RECFRAME_VP8), PL_EINVAL);
    assert_int_equal(pl_recorder_add_track(r, "p1", 1, PL_RECFRAME_OPUS), PL_OK);
    assert_int_equal(pl_recorder_add_track(r, "p1", 2, PL_RECFRAME_OPUS), PL_ESTATE);
    assert_int_equal(pl_recorder_add_participant(r, "p2", "y", PL_RECORDER_AUDIO), PL_OK);
    assert_int_equal(pl_recorder_add_track(r, "p2", 1, PL_RECFRAME_OPUS), PL_EINVAL);
    assert_int_equal(pl_recorder_remove_track(r, 77, EPOCH), PL_ENOTFOUND);
    assert_int_equal(pl_recorder_remove_participant(r, "nobody", EPOCH), PL_ENOTFOUND);

    /* Packets: real ones with garbage between. */
    rt_sender s;
    rt_sender_init(&s, "p1", 1, 440, NULL, rt_talk_all);
    rt_source(&s, 0);
    rt_events l = {0};
    rt_send_audio(&l, &s, 0, 2 * SEC);
    static const uint8_t short_pkt[] = {0x80, 0x6f, 0x00};
    uint8_t v0[40] = {0x00, 0x6f}; /* RTP version 0 */
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)rt_rand();
    /* Version 2, padding, extension, 15 CSRCs, and an extension block
     * longer than the packet. */
    junk[0] = 0xbf;
    junk[74] = junk[75] = 0xff;
    qsort(l.e, l.n, sizeof(rt_ev), rt_by_arrival);
    for (size_t i = 0; i < l.n; i++) {
        int64_t now = l.e[i].at;
        rt_run_until(r, now, NULL);
        assert_int_equal(pl_recorder_push(r, 1, l.e[i].b, l.e[i].len, now), PL_OK);
        if (i % 10 == 0) {
            assert_int_equal(pl_recorder_push(r, 999, l.e[i].b, l.e[i].len, now), PL_ENOTFOUND);
            assert_int_equal(pl_recorder_push(r, 1, short_pkt, sizeof(short_pkt), now),
                             PL_EMALFORMED);
            assert_int_equal(pl_recorder_push(r, 1, v0, sizeof(v0), now), PL_EMALFORMED);
            assert_int_equal(pl_recorder_push(r, 1, junk, sizeof(junk), now), PL_EMALFORMED);
            assert_int_equal(pl_recorder_push(r, 1, NULL, 10, now), PL_EMALFORMED);
        }
    }
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.unknown_track, 10);
    assert_int_equal(st.malformed, 40);
    assert_int_equal(st.packets, 100 + 50);
    assert_int_equal(st.frames[0], 100);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 2100 * MS, &sum), PL_OK);
    assert_int_equal(pl_recorder_push(r, 1, l.e[0].b, l.e[0].len, EPOCH + 3 * SEC), PL_ESTATE);
    assert_int_equal(pl_recorder_advance(r, EPOCH + 3 * SEC), PL_ESTATE);
    assert_int_equal(pl_recorder_add_participant(r, "p3", "z", PL_RECORDER_AUDIO), PL_ESTATE);
    assert_int_equal(pl_recorder_stop(r, EPOCH + 3 * SEC, NULL), PL_ESTATE);
    assert_int_equal(pl_recorder_next_timeout(r), INT64_MAX);
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.after_stop, 1);

    const pl_recorder_file *f1 = rt_summary_file(&sum, "p1.webm");
    assert_int_equal(strlen(f1->display_name), 255); /* the é did not fit whole */
    /* p2 sent nothing: its file is gone, and says so. */
    const pl_recorder_file *f2 = rt_summary_file(&sum, "p2.webm");
    assert_false(f2->present);
    rt_path(file, sizeof(file), dir, "p2.webm");
    assert_int_equal(access(file, F_OK), -1);
    rt_path(file, sizeof(file), dir, "p1.webm");
    assert_int_equal(mp_decoded_frames(file, 'a'), 100);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    pl_recorder_destroy(NULL);

    /* Distinct ids are bounded; one who left keeps its slot, and its
     * return is its next file. */
    pl_recorder_config two = {.dir = dir, .epoch_us = EPOCH, .no_mix = true, .max_participants = 2};
    assert_int_equal(pl_recorder_create(&env, &two, &r), PL_OK);
    assert_int_equal(pl_recorder_add_participant(r, "a", "A", PL_RECORDER_AUDIO), PL_OK);
    assert_int_equal(pl_recorder_add_participant(r, "b", "B", PL_RECORDER_AUDIO), PL_OK);
    assert_int_equal(pl_recorder_remove_participant(r, "b", EPOCH), PL_OK);
    assert_int_equal(pl_recorder_add_participant(r, "c", "C", PL_RECORDER_AUDIO), PL_ENOSPC);
    assert_int_equal(pl_recorder_add_participant(r, "b", "B", PL_RECORDER_AUDIO), PL_OK);
    assert_int_equal(pl_recorder_stop(r, EPOCH + SEC, &sum), PL_OK);
    assert_int_equal(sum.n_files, 3);
    assert_string_equal(sum.files[2].name, "b.2.webm");
    pl_recorder_destroy(r);
    opus_encoder_destroy(s.enc);
    free(l.e);
}
