/* A recording session end to end: participants' real VP8 and Opus as RTP
 * with arrival jitter on a virtual clock (tests/common/recfeed.h), the
 * WebM files and the mix read back by the real ffprobe and ffmpeg. This
 * file: what a meeting's recording does; recorder_errors.c: failing
 * disks, the byte bound and bad input. */
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

/* In recorder_errors.c. */
void test_file_errors(void **state);
void test_write_fails_midway(void **state);
void test_byte_bound(void **state);
void test_bad_input(void **state);

static const double talk_a[] = {1, 8, -1}, talk_b[] = {6, 14, -1}, talk_c[] = {12, 19, -1};
static const double hz3[] = {440, 660, 880};

/* Three participants, 20 s each of VP8 and of Opus that talks in turns:
 * each file has its tracks as sent, for 20 s; the mix has each tone where
 * its participant talked and the speech intervals say when. */
static void test_three_participants(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "three");
    pl_recorder *r = rt_recorder(dir, 0);
    static const char *ids[3] = {"pA", "pB", "pC"};
    const double *talks[3] = {talk_a, talk_b, talk_c};
    rt_sender s[3];
    rt_events l = {0};
    for (int i = 0; i < 3; i++) {
        rt_sender_init(&s[i], ids[i], 10 + 10 * (uint32_t)i, hz3[i], rt_clips[i], talks[i]);
        rt_source(&s[i], 0);
        rt_join(r, &s[i], PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
        rt_send(&l, &s[i], 0, 20 * SEC);
    }
    size_t pushed = 0;
    for (size_t i = 0; i < l.n; i++)
        pushed += l.e[i].op == RT_PKT;
    rt_keyframes k = {0};
    qsort(l.e, l.n, sizeof(rt_ev), rt_by_arrival);
    size_t next = rt_feed_range(r, &l, 0, EPOCH + 10 * SEC, &k);
    rt_run_until(r, EPOCH + 10 * SEC, &k);
    /* Ten seconds in: every file open, on disk as far as it is counted
     * (the mix's pages and the WebM clusters are written as they come);
     * pA has spoken, pB speaks. */
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_summary_get(r, &sum), PL_OK);
    assert_int_equal(sum.n_files, 4);
    for (size_t i = 0; i < sum.n_files; i++) {
        const pl_recorder_file *f = &sum.files[i];
        rt_path(file, sizeof(file), dir, f->name);
        struct stat sb;
        assert_int_equal(stat(file, &sb), 0);
        assert_true(f->open && f->present && f->bytes > 0);
        assert_int_equal(f->bytes, (uint64_t)sb.st_size);
    }
    assert_int_equal(sum.n_speech, 2);
    assert_string_equal(sum.speech[0].participant, "pA");
    assert_true(sum.speech[0].end_ms > 7900 && sum.speech[0].end_ms < 8200);
    assert_string_equal(sum.speech[1].participant, "pB");
    rt_feed_range(r, &l, next, INT64_MAX, &k);
    rt_run_until(r, EPOCH + 20200 * MS, &k);
    assert_int_equal(pl_recorder_stop(r, EPOCH + 20200 * MS, &sum), PL_OK);
    assert_int_equal(sum.error, PL_OK);
    assert_int_equal(sum.n_files, 4);

    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    print_message("# %llu packets, %llu audio and %llu video frames, %llu mixed, %d keyframe "
                  "requests, %llu bytes\n",
                  (unsigned long long)st.packets, (unsigned long long)st.frames[0],
                  (unsigned long long)st.frames[1], (unsigned long long)st.mixed, k.n,
                  (unsigned long long)st.bytes);
    assert_int_equal(st.packets, pushed);
    assert_int_equal(st.frames[0], 3 * 1000);
    assert_int_equal(st.frames[1], 3 * 600);
    assert_int_equal(st.mixed, 3 * 1000);
    assert_int_equal(st.unknown_track + st.malformed + st.file_refused + st.file_failed + st.quota +
                         st.mix_refused + st.moved,
                     0);
    assert_int_equal(st.tracks.gaps + st.tracks.resyncs, 0);
    assert_int_equal(st.files_open, 0);

    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.webm", ids[i]);
        rt_path(file, sizeof(file), dir, name);
        const pl_recorder_file *f = rt_summary_file(&sum, name);
        struct stat sb;
        assert_int_equal(stat(file, &sb), 0);
        assert_true(f->present && !f->open && f->error == PL_OK && !f->mix);
        assert_int_equal(f->bytes, (uint64_t)sb.st_size);
        assert_string_equal(f->participant, ids[i]);
        assert_string_equal(f->display_name, ids[i]);
        assert_int_equal(f->frames[0], 1000);
        assert_int_equal(f->frames[1], 600);
        rt_check_tracks(file, rt_sizes[i][0], rt_sizes[i][1]);
        double d = mp_format_duration(file);
        assert_true(d > 19.0 && d < 21.0);
        assert_int_equal(mp_decoded_frames(file, 'v'), 600);
        assert_int_equal(mp_decoded_frames(file, 'a'), 1000);
        mp_assert_decodes_clean(file);
        /* Its own tone, only its own, while it talks. */
        size_t n;
        float *x = mp_decode_audio(file, &n);
        double mid = (talks[i][0] + talks[i][1]) / 2;
        assert_int_equal(rt_tones(x, n, mid - 2, mid + 2, hz3, 3), 1u << i);
        free(x);
    }

    rt_path(file, sizeof(file), dir, "mix.ogg");
    const pl_recorder_file *mf = rt_summary_file(&sum, "mix.ogg");
    assert_true(mf->mix && mf->present && mf->error == PL_OK && mf->bytes > 0);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(mf->bytes, (uint64_t)sb.st_size);
    double d = mp_format_duration(file);
    assert_true(d > 20.1 && d < 20.3);
    size_t n;
    float *x = mp_decode_audio(file, &n);
    assert_true(n >= (size_t)(20.1 * SR));
    assert_int_equal(rt_tones(x, n, 2, 5.5, hz3, 3), 1u);
    assert_int_equal(rt_tones(x, n, 6.5, 7.5, hz3, 3), 3u);
    assert_int_equal(rt_tones(x, n, 9, 11.5, hz3, 3), 2u);
    assert_int_equal(rt_tones(x, n, 12.5, 13.5, hz3, 3), 6u);
    assert_int_equal(rt_tones(x, n, 15, 18.5, hz3, 3), 4u);
    assert_int_equal(rt_tones(x, n, 19.5, 20, hz3, 3), 0u);
    free(x);

    /* One interval per participant, its talking time within 150 ms. */
    assert_int_equal(sum.n_speech, 3);
    for (int i = 0; i < 3; i++) {
        const pl_recorder_speech *sp = NULL;
        for (size_t j = 0; j < sum.n_speech; j++)
            if (strcmp(sum.speech[j].participant, ids[i]) == 0)
                sp = &sum.speech[j];
        assert_non_null(sp);
        print_message("# %s spoke %lld-%lld ms\n", ids[i], (long long)sp->start_ms,
                      (long long)sp->end_ms);
        assert_true(llabs(sp->start_ms - (long long)(talks[i][0] * 1000)) <= 150);
        assert_true(llabs(sp->end_ms - (long long)(talks[i][1] * 1000)) <= 150);
    }
    pl_recorder_destroy(r);
    for (int i = 0; i < 3; i++)
        opus_encoder_destroy(s[i].enc);
    free(l.e);
}

/* pD mutes (nothing sent from 5 s to 10 s, its clocks running); pE's
 * media reconnects (new tracks, new keys and SSRCs after a second
 * without); pF's source changes under the same keys without a pause; so
 * does pH's, whose first second came 300 ms late, which placed its first
 * source late: the new one, placed by its arrival, would overlap it. pG,
 * audio only, leaves at 10 s and comes back at 11 s. Each file keeps one
 * timeline and decodes cleanly; pG's return is a second file. */
static void test_mute_and_reconnect(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "reconnect");
    pl_recorder *r = rt_recorder(dir, 0);
    rt_sender d, e, f, g, h;
    rt_sender_init(&d, "pD", 10, 440, rt_clips[0], rt_talk_all);
    rt_sender_init(&e, "pE", 20, 660, rt_clips[1], rt_talk_all);
    rt_sender_init(&f, "pF", 30, 880, rt_clips[2], rt_talk_all);
    rt_sender_init(&g, "pG", 40, 550, NULL, rt_talk_all);
    rt_sender_init(&h, "pH", 60, 770, rt_clips[0], rt_talk_all);
    h.slow_until = 1 * SEC;
    rt_sender *all[5] = {&d, &e, &f, &g, &h};
    rt_events l = {0};
    for (int i = 0; i < 5; i++) {
        rt_source(all[i], 0);
        rt_join(r, all[i], i == 3 ? PL_RECORDER_AUDIO : PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
    }
    const int64_t end = 15 * SEC;
    rt_send(&l, &d, 0, 5 * SEC);
    rt_send(&l, &d, 10 * SEC, end);
    rt_send(&l, &e, 0, 8 * SEC);
    rt_op(&l, 8500 * MS, RT_RM_TRACK, NULL, e.akey, 0);
    rt_op(&l, 8500 * MS, RT_RM_TRACK, NULL, e.vkey, 0);
    e.akey = 120;
    e.vkey = 121;
    rt_op(&l, 8600 * MS, RT_ADD_TRACK, "pE", e.akey, PL_RECFRAME_OPUS);
    rt_op(&l, 8600 * MS, RT_ADD_TRACK, "pE", e.vkey, PL_RECFRAME_VP8);
    rt_source(&e, 9 * SEC);
    rt_send(&l, &e, 9 * SEC, end);
    rt_send(&l, &f, 0, 8 * SEC);
    rt_source(&f, 8 * SEC);
    rt_send(&l, &f, 8 * SEC, end);
    rt_send(&l, &g, 0, 10 * SEC);
    rt_op(&l, 10200 * MS, RT_RM_PART, "pG", 0, 0);
    rt_op(&l, 10900 * MS, RT_ADD_PART, "pG", 0, PL_RECORDER_AUDIO);
    rt_op(&l, 10900 * MS, RT_ADD_TRACK, "pG", g.akey, PL_RECFRAME_OPUS);
    rt_send(&l, &g, 11 * SEC, end);
    rt_send(&l, &h, 0, 8 * SEC);
    rt_source(&h, 8 * SEC);
    rt_send(&l, &h, 8 * SEC, end);
    rt_feed(r, &l, NULL);
    /* The tracks follow their new sources. */
    assert_int_equal(pl_recorder_track_source(r, f.akey), f.assrc);
    assert_int_equal(pl_recorder_track_source(r, f.vkey), f.vssrc);
    assert_int_equal(pl_recorder_track_source(r, e.vkey), e.vssrc);
    assert_int_equal(pl_recorder_track_source(r, 10000), 0);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + end + 100 * MS, &sum), PL_OK);
    assert_int_equal(sum.error, PL_OK);
    /* pD, pE, pF, pG, pG's second, pH, the mix. */
    assert_int_equal(sum.n_files, 7);
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    print_message("# moved %llu, source changes %llu, resyncs %llu, replaced %llu\n",
                  (unsigned long long)st.moved, (unsigned long long)st.tracks.source_changes,
                  (unsigned long long)st.tracks.resyncs,
                  (unsigned long long)st.tracks.replaced_frames);
    assert_int_equal(st.tracks.source_changes, 4); /* pF's and pH's audio and video */
    assert_true(st.moved > 0);                     /* pH's new source */
    assert_int_equal(
        st.file_refused + st.file_failed + st.malformed + st.unknown_track + st.misplaced, 0);

    double gap_at, gap;
    size_t n;
    /* pD: a gap of five seconds in both, where it was muted. */
    rt_path(file, sizeof(file), dir, "pD.webm");
    gap = rt_one_timeline(file, 'a', &gap_at, &n);
    print_message("# pD audio: %zu packets, gap %.3f s at %.3f\n", n, gap, gap_at);
    assert_true(gap > 4.9 && gap < 5.1 && gap_at > 4.9 && gap_at < 5.1);
    assert_int_equal(n, 500);
    gap = rt_one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap > 4.9 && gap < 5.1 && gap_at > 4.9 && gap_at < 5.1);
    assert_int_equal(n, 300);
    rt_check_tracks(file, rt_sizes[0][0], rt_sizes[0][1]);
    mp_assert_decodes_clean(file);

    /* pE: a second without, then on, in the same file. */
    rt_path(file, sizeof(file), dir, "pE.webm");
    gap = rt_one_timeline(file, 'a', &gap_at, &n);
    print_message("# pE audio: %zu packets, gap %.3f s at %.3f\n", n, gap, gap_at);
    assert_true(gap > 0.9 && gap < 1.1 && gap_at > 7.9 && gap_at < 8.1);
    assert_int_equal(n, 700);
    gap = rt_one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap > 0.9 && gap < 1.1);
    assert_int_equal(n, 420);
    double dur = mp_format_duration(file);
    assert_true(dur > 14.5 && dur < 15.5);
    mp_assert_decodes_clean(file);

    /* pF: no pause at all across its change of source. */
    rt_path(file, sizeof(file), dir, "pF.webm");
    gap = rt_one_timeline(file, 'a', &gap_at, &n);
    print_message("# pF audio: %zu packets, longest gap %.3f s\n", n, gap);
    assert_true(gap < 0.1);
    assert_true(n >= 745 && n <= 750);
    gap = rt_one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap < 0.1);
    mp_assert_decodes_clean(file);

    /* pH: the same, its new source moved after the old one. */
    rt_path(file, sizeof(file), dir, "pH.webm");
    gap = rt_one_timeline(file, 'a', &gap_at, &n);
    print_message("# pH audio: %zu packets, longest gap %.3f s\n", n, gap);
    assert_true(gap < 0.1);
    assert_true(n >= 745 && n <= 750);
    gap = rt_one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap < 0.1);
    mp_assert_decodes_clean(file);

    /* pG: its first file to 10 s, its second from 11 s. */
    rt_path(file, sizeof(file), dir, "pG.webm");
    assert_int_equal(mp_stream_count(file), 1);
    rt_one_timeline(file, 'a', &gap_at, &n);
    assert_int_equal(n, 500);
    mp_assert_decodes_clean(file);
    rt_path(file, sizeof(file), dir, "pG.2.webm");
    const pl_recorder_file *g2 = rt_summary_file(&sum, "pG.2.webm");
    assert_string_equal(g2->participant, "pG");
    assert_true(g2->present && g2->error == PL_OK);
    double start = mp_probe_double(file, 'a', "start_time");
    assert_true(start > 10.95 && start < 11.1);
    rt_one_timeline(file, 'a', &gap_at, &n);
    assert_int_equal(n, 200);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    for (int i = 0; i < 5; i++)
        opus_encoder_destroy(all[i]->enc);
    free(l.e);
}

/* A VP8 packet lost: the track is asked a key frame for, at most every
 * 500 ms, from when its frame is given up until the next key frame;
 * then no more. The frames between are not in the file, which decodes. */
static void test_keyframe_requests(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "keyframe");
    pl_recorder *r = rt_recorder(dir, 0);
    rt_sender v;
    rt_sender_init(&v, "pV", 50, 0, rt_clips[0], NULL);
    rt_source(&v, 0);
    rt_join(r, &v, PL_RECORDER_VIDEO);
    rt_events l = {0};
    rt_send_video(&l, &v, 0, 5 * SEC);
    /* The first packet of frame 10 (a delta frame) never arrives. */
    uint32_t ts10 = v.vbase + 10 * 3000;
    size_t lost = SIZE_MAX;
    for (size_t i = 0; i < l.n && lost == SIZE_MAX; i++) {
        pl_rtp_header h;
        assert_int_equal(pl_rtp_parse(l.e[i].b, l.e[i].len, &h), 0);
        if (h.timestamp == ts10)
            lost = i;
    }
    assert_true(lost != SIZE_MAX);
    memmove(&l.e[lost], &l.e[lost + 1], (l.n - lost - 1) * sizeof(rt_ev));
    l.n--;
    rt_keyframes k = {0};
    rt_feed(r, &l, &k);
    rt_run_until(r, EPOCH + 6 * SEC, &k);
    int after = 0;
    int64_t last = 0;
    for (int i = 0; i < k.n; i++) {
        print_message("# keyframe request at %.3f s\n", (double)(k.at[i] - EPOCH) / SEC);
        assert_int_equal(k.key[i], v.vkey);
        assert_int_equal(k.ssrc[i], v.vssrc);
        if (k.at[i] < EPOCH + 300 * MS)
            continue; /* the start, before the first key frame was out */
        /* From the loss (0.33 s, given up 0.5 s later) to the key frame
         * at 2 s. */
        assert_true(k.at[i] > EPOCH + 800 * MS && k.at[i] < EPOCH + 2100 * MS);
        if (after)
            assert_true(k.at[i] - last >= PL_RECORDER_PLI_US);
        last = k.at[i];
        after++;
    }
    assert_true(after >= 2 && after <= 3);
    assert_false(pl_recorder_poll_keyframe(r, EPOCH + 7 * SEC, NULL, NULL));
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.tracks.incomplete_frames, 1);
    assert_int_equal(st.tracks.undecodable_frames, 49);
    assert_int_equal(st.keyframe_requests, (uint64_t)k.n);
    assert_int_equal(pl_recorder_stop(r, EPOCH + 6 * SEC, NULL), PL_OK);
    rt_path(file, sizeof(file), dir, "pV.webm");
    assert_int_equal(mp_stream_count(file), 1);
    assert_int_equal(mp_decoded_frames(file, 'v'), 150 - 50);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    opus_encoder_destroy(v.enc);
    free(l.e);
}

/* A camera's first frame sent 380 ms after it was taken, just before the
 * frame taken 433 ms after it (a browser's camera starting, its frames
 * between dropped), and ten seconds on its clock jumping 10 s ahead with
 * no pause: the video stays with the audio throughout, within the
 * arrival jitter, and no frame is dropped. */
static void test_video_follows_arrival(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "arrival");
    pl_recorder *r = rt_recorder(dir, 0);
    rt_sender s;
    rt_sender_init(&s, "pL", 70, 880, rt_clips[1], rt_talk_all);
    rt_source(&s, 0);
    rt_join(r, &s, PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
    rt_events l = {0};
    rt_send_audio(&l, &s, 0, 20 * SEC);
    size_t first = l.n;
    rt_send_video(&l, &s, 0, 1);
    for (size_t i = first; i < l.n; i++)
        l.e[i].at += 380 * MS;
    s.vsrc_t0 = 13 * SEC / 30; /* the clip from its key frame again */
    rt_send_video(&l, &s, s.vsrc_t0, 10 * SEC);
    s.vbase += 10 * 90000;
    rt_send_video(&l, &s, 10 * SEC, 20 * SEC);
    rt_feed(r, &l, NULL);
    assert_int_equal(pl_recorder_stop(r, EPOCH + 20200 * MS, NULL), PL_OK);
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    print_message("# moved %llu, resyncs %llu, placed earlier %llu\n", (unsigned long long)st.moved,
                  (unsigned long long)st.tracks.resyncs, (unsigned long long)st.tracks.earlier);
    assert_int_equal(st.frames[1], 1 + 600 - 13);
    assert_int_equal(st.misplaced + st.tracks.undecodable_frames, 0);
    assert_int_equal(st.tracks.resyncs, 1);
    assert_int_equal(st.tracks.earlier, 1);

    rt_path(file, sizeof(file), dir, "pL.webm");
    static double v[1024], a[1024];
    size_t nv = rt_packet_times(file, 'v', v, 1024), na = rt_packet_times(file, 'a', a, 1024);
    assert_int_equal(nv, 1 + 600 - 13);
    assert_int_equal(na, 1000);
    /* Arrival is 30 to 70 ms after sending, and Matroska rounds to 1 ms:
     * the first frame where it arrived, each one after within that of
     * when it was taken, as each audio packet is. */
    print_message("# first frame at %.3f s, the next at %.3f s\n", v[0], v[1]);
    assert_true(v[0] >= 0.409 && v[0] <= 0.451);
    for (size_t i = 1; i < nv; i++) {
        double taken = (double)(13 + i - 1) / 30;
        if (!(v[i] - taken >= 0.029 && v[i] - taken <= 0.071))
            fail_msg("frame %zu taken at %.3f s is at %.3f s", i, taken, v[i]);
    }
    for (size_t i = 0; i < na; i++)
        assert_true(a[i] - (double)i / 50 >= 0.029 && a[i] - (double)i / 50 <= 0.071);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    opus_encoder_destroy(s.enc);
    free(l.e);
}

/* SIGKILLed fifteen seconds in: ffprobe and ffmpeg read at least twelve
 * seconds of every participant's file; the mix, which went on through
 * two more seconds without packets, has at least sixteen. */
static void test_killed(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "killed");
    rt_sender s[3];
    rt_events l = {0};
    static const char *ids[3] = {"kA", "kB", "kC"};
    for (int i = 0; i < 3; i++) {
        rt_sender_init(&s[i], ids[i], 10 + 10 * (uint32_t)i, hz3[i], rt_clips[i], rt_talk_all);
        rt_source(&s[i], 0);
        rt_send(&l, &s[i], 0, 15 * SEC);
    }
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rt_in_child = true;
        close(pfd[0]);
        pl_recorder *r = rt_recorder(dir, 0);
        for (int i = 0; i < 3; i++)
            rt_join(r, &s[i], PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
        rt_feed(r, &l, NULL);
        /* Two seconds without a packet: the mix goes on by the clock. */
        rt_run_until(r, EPOCH + 17 * SEC, NULL);
        char done = 'x';
        if (write(pfd[1], &done, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(pfd[1]);
    mp_kill_when_ready(pfd[0], pid);

    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.webm", ids[i]);
        rt_path(file, sizeof(file), dir, name);
        long video = mp_decoded_frames(file, 'v'), audio = mp_decoded_frames(file, 'a');
        print_message("# %s: %ld video frames, %ld audio packets\n", name, video, audio);
        assert_true(video >= 12 * FPS);
        assert_true(audio >= 12 * 50);
        mp_assert_decodes_clean(file);
    }
    rt_path(file, sizeof(file), dir, "mix.ogg");
    size_t n;
    float *x = mp_decode_audio(file, &n);
    double probed = mp_format_duration(file);
    print_message("# mix.ogg: %.2f s decoded, %.2f s for ffprobe\n", (double)n / SR, probed);
    assert_true(n >= 16 * SR);
    assert_true(probed >= 16.0);
    assert_int_equal(rt_tones(x, n, 2, 11, hz3, 3), 7u);
    free(x);
    mp_assert_decodes_clean(file);
    for (int i = 0; i < 3; i++)
        opus_encoder_destroy(s[i].enc);
    free(l.e);
}

/* A heads-up's recording: no mix, so no mix.ogg and no speech; the one
 * participant's audio-only file. */
static void test_no_mix(void **state)
{
    (void)state;
    char dir[256], file[512];
    rt_dir(dir, sizeof(dir), "nomix");
    pl_recorder_config cfg = {.dir = dir, .epoch_us = EPOCH, .no_mix = true};
    pl_env env = pl_env_default();
    pl_recorder *r = NULL;
    assert_int_equal(pl_recorder_create(&env, &cfg, &r), PL_OK);
    rt_sender s;
    rt_sender_init(&s, "caller", 10, 440, NULL, rt_talk_all);
    rt_source(&s, 0);
    rt_join(r, &s, PL_RECORDER_AUDIO);
    rt_events l = {0};
    rt_send_audio(&l, &s, 0, 3 * SEC);
    rt_feed(r, &l, NULL);
    /* Nothing waits for time but the held packets. */
    assert_true(pl_recorder_next_timeout(r) > EPOCH + 3 * SEC);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 3100 * MS, &sum), PL_OK);
    assert_int_equal(sum.n_files, 1);
    assert_string_equal(sum.files[0].name, "caller.webm");
    assert_int_equal(sum.n_speech, 0);
    rt_path(file, sizeof(file), dir, "mix.ogg");
    assert_int_equal(access(file, F_OK), -1);
    rt_path(file, sizeof(file), dir, "caller.webm");
    assert_int_equal(mp_stream_count(file), 1);
    assert_int_equal(mp_decoded_frames(file, 'a'), 150);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    opus_encoder_destroy(s.enc);
    free(l.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_participants),
        cmocka_unit_test(test_mute_and_reconnect),
        cmocka_unit_test(test_keyframe_requests),
        cmocka_unit_test(test_video_follows_arrival),
        cmocka_unit_test(test_killed),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_write_fails_midway),
        cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_no_mix),
    };
    return cmocka_run_group_tests(tests, rt_setup, rt_teardown);
}
