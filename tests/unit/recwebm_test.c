/* The recording's WebM writer, end to end: real VP8 frames and Opus packets
 * (libvpx and libopus, through the bot's clips) written, the files read
 * back by the real ffprobe and decoded by the real ffmpeg. */
#include <errno.h>
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

#include "content.h"
#include "mediaprobe.h"
#include "parley/recwebm.h"

#define FPS 30
#define FRAME_US(i) ((int64_t)(i)*1000000 / FPS)
#define AUDIO_US(i) ((int64_t)(i)*20000)
/* Matroska's millisecond timestamps make a video frame time off by up to
 * half a millisecond. */
#define FRAME_S (1.0 / FPS)

static char dir[] = "/tmp/recwebm-XXXXXX";

static int setup_dir(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static pl_clip *clip(unsigned video_frames, unsigned audio_frames, unsigned w, unsigned h)
{
    pl_clip_config cfg = {
        .video_frames = video_frames, .audio_frames = audio_frames, .width = w, .height = h};
    pl_clip *c = pl_clip_create_with(7, &cfg);
    assert_non_null(c);
    return c;
}

/* Writes video frames [0, nv) of vc from v0_us at FPS and audio packets
 * [0, na) of ac from a0_us every 20 ms, in the order they would arrive
 * when each video frame is complete lag_us after its time. */
static void feed(pl_recwebm *w, const pl_clip *vc, size_t nv, int64_t v0_us, const pl_clip *ac,
                 size_t na, int64_t a0_us, int64_t lag_us)
{
    size_t i = 0, j = 0;
    while (i < nv || j < na) {
        int64_t tv = i < nv ? v0_us + FRAME_US(i) + lag_us : INT64_MAX;
        int64_t ta = j < na ? a0_us + AUDIO_US(j) : INT64_MAX;
        if (tv < ta) {
            const pl_clip_frame *f = pl_clip_video(vc, i % pl_clip_video_count(vc));
            assert_int_equal(
                pl_recwebm_write(w, PL_RECWEBM_VIDEO, v0_us + FRAME_US(i), f->data, f->len), PL_OK);
            i++;
        } else {
            const pl_clip_frame *f = pl_clip_audio(ac, j % pl_clip_audio_count(ac));
            assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, ta, f->data, f->len), PL_OK);
            j++;
        }
    }
}

/* Ten seconds of both: the tracks as WebRTC sends them, every frame
 * decoded, the duration, the frame rate, the Opus head. */
static void test_audio_and_video(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "av.webm");
    pl_clip *c = clip(300, 500, 320, 240);
    pl_recwebm *w;
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    feed(w, c, 300, 0, c, 500, 0, 40000);
    pl_recwebm_stats st;
    pl_recwebm_get_stats(w, &st);
    assert_true(st.started);
    assert_int_equal(st.width, 320);
    assert_int_equal(st.height, 240);
    assert_true(st.file_bytes > 0);
    int os_error = -1;
    assert_int_equal(pl_recwebm_close(w, &os_error), PL_OK);
    assert_int_equal(os_error, 0);

    char s[256];
    mp_probe(file, 'v', "codec_name", s, sizeof(s));
    assert_string_equal(s, "vp8");
    assert_int_equal(mp_probe_long(file, 'v', "width"), 320);
    assert_int_equal(mp_probe_long(file, 'v', "height"), 240);
    mp_probe(file, 'v', "r_frame_rate", s, sizeof(s));
    assert_string_equal(s, "30/1");
    mp_probe(file, 'a', "codec_name", s, sizeof(s));
    assert_string_equal(s, "opus");
    assert_int_equal(mp_probe_long(file, 'a', "sample_rate"), 48000);
    assert_int_equal(mp_probe_long(file, 'a', "channels"), 2);
    /* Pre-skip 0: the first packet plays at its own time and nothing of it
     * is cut; 500 packets decode to 500 x 960 samples. */
    assert_true(mp_probe_double(file, 'a', "start_time") == 0.0);
    assert_true(mp_probe_double(file, 'v', "start_time") == 0.0);
    assert_int_equal(mp_decoded_frames(file, 'v'), 300);
    assert_int_equal(mp_decoded_frames(file, 'a'), 500);
    char *samples = malloc(1 << 16);
    assert_non_null(samples);
    assert_int_equal(mp_run(samples, 1 << 16,
                            "ffprobe -v error -select_streams a:0 -show_entries frame=nb_samples "
                            "-of csv=p=0 %s | awk '{s+=$1} END {print s}'",
                            file),
                     0);
    assert_int_equal(strtol(samples, NULL, 10), 500 * 960);
    free(samples);
    /* The audio ends at 10 s, the last video frame at 9.967 s. */
    double d = mp_format_duration(file);
    assert_true(d > 10.0 - FRAME_S && d < 10.0 + FRAME_S);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(c);
}

/* Bytes of the file, to look for Matroska elements by their IDs. */
static bool file_has(const char *file, const uint8_t *id, size_t n)
{
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    static uint8_t buf[4 << 20];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, id, n) == 0)
            return true;
    return false;
}

/* A closed file has its cues, which a player seeks with; from 7 s ffmpeg
 * decodes only the last three seconds. */
static void test_cues_and_seek(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "seek.webm");
    pl_clip *c = clip(300, 500, 320, 240);
    pl_recwebm *w;
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    feed(w, c, 300, 0, c, 500, 0, 0);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    static const uint8_t cues[] = {0x1c, 0x53, 0xbb, 0x6b};
    assert_true(file_has(file, cues, sizeof(cues)));
    char out[256];
    assert_int_equal(mp_run(out, sizeof(out),
                            "ffprobe -v error -read_intervals 7%% -select_streams a:0 "
                            "-show_entries packet=pts_time -of csv=p=0 %s | head -n 1",
                            file),
                     0);
    double first = strtod(out, NULL);
    if (!(first >= 6.0 && first <= 7.0))
        fail_msg("the first packet from 7 s is at %s", out);
    pl_clip_destroy(c);
}

/* Video wanted, the first key frame late: its delta frames are dropped
 * (nothing could decode them), the audio before it is kept; the file's
 * timestamps are the recording's (it starts at 1 s) and its picture is
 * the key frame's. */
static void test_waits_for_key_frame(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "late-key.webm");
    pl_clip *vc = clip(60, 100, 640, 360);
    pl_recwebm *w;
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    /* 1.0 s - 1.5 s: audio, and the middle of a stream of video. */
    for (unsigned i = 0; i < 25; i++) {
        const pl_clip_frame *a = pl_clip_audio(vc, i);
        assert_int_equal(
            pl_recwebm_write(w, PL_RECWEBM_AUDIO, 1000000 + AUDIO_US(i), a->data, a->len), PL_OK);
        if (i % 2 == 0) {
            const pl_clip_frame *v = pl_clip_video(vc, 1 + i / 2);
            assert_false(v->keyframe);
            assert_int_equal(
                pl_recwebm_write(w, PL_RECWEBM_VIDEO, 1000000 + FRAME_US(i / 2), v->data, v->len),
                PL_ESTATE);
        }
    }
    pl_recwebm_stats st;
    pl_recwebm_get_stats(w, &st);
    assert_false(st.started);
    assert_int_equal(st.dropped_before_key, 13);
    assert_int_equal(st.written[PL_RECWEBM_AUDIO], 0);
    /* From 1.5 s: the key frame, then both. */
    feed(w, vc, 60, 1500000, NULL, 0, 0, 0);
    pl_recwebm_get_stats(w, &st);
    assert_true(st.started);
    assert_int_equal(st.width, 640);
    assert_int_equal(st.height, 360);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);

    assert_int_equal(mp_probe_long(file, 'v', "width"), 640);
    assert_int_equal(mp_probe_long(file, 'v', "height"), 360);
    assert_true(mp_probe_double(file, 'a', "start_time") == 1.0);
    assert_true(mp_probe_double(file, 'v', "start_time") == 1.5);
    assert_int_equal(mp_decoded_frames(file, 'a'), 25);
    assert_int_equal(mp_decoded_frames(file, 'v'), 60);
    /* The last video frame is at 1.5 s + 59 / 30 s. */
    double d = mp_format_duration(file), end = 1.5 + 59.0 / FPS;
    assert_true(d > end - FRAME_S && d < end + FRAME_S);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(vc);
}

/* Video wanted, no key frame: a short file closes with its audio alone; a
 * longer wait starts the file with an announced placeholder size, and the
 * key frames that come later keep their own. */
static void test_no_key_frame(void **state)
{
    (void)state;
    char file[256];
    pl_clip *c = clip(60, 200, 320, 240);
    pl_recwebm *w;

    path_of(file, sizeof(file), "camera-off.webm");
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    feed(w, c, 0, 0, c, 50, 0, 0);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_stream_count(file), 1);
    assert_int_equal(mp_decoded_frames(file, 'a'), 50);
    mp_assert_decodes_clean(file);

    /* Past the wait and never on: a video track without a frame, which
     * players skip. */
    path_of(file, sizeof(file), "camera-never.webm");
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    feed(w, c, 0, 0, c, 200, 0, 0);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_stream_count(file), 2);
    assert_int_equal(mp_decoded_frames(file, 'a'), 200);
    mp_assert_decodes_clean(file);

    path_of(file, sizeof(file), "camera-late.webm");
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    pl_recwebm_stats st;
    size_t i = 0;
    for (; i < 200; i++) {
        pl_recwebm_get_stats(w, &st);
        if (st.started)
            break;
        const pl_clip_frame *a = pl_clip_audio(c, i);
        assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, AUDIO_US(i), a->data, a->len),
                         PL_OK);
    }
    /* Started by the packet past the wait, and not before. */
    assert_int_equal(i, PL_RECWEBM_WAIT_US / 20000 + 2);
    /* The camera comes on at 3 s. */
    for (; AUDIO_US(i) < 3000000; i++) {
        const pl_clip_frame *a = pl_clip_audio(c, i);
        assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, AUDIO_US(i), a->data, a->len),
                         PL_OK);
    }
    feed(w, c, 60, 3000000, c, 100, AUDIO_US(i), 0);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_stream_count(file), 2);
    assert_int_equal(mp_probe_long(file, 'v', "width"), PL_RECWEBM_PLACEHOLDER_WIDTH);
    char sizes[256];
    mp_frame_sizes(file, sizes, sizeof(sizes));
    assert_string_equal(sizes, "320x240*60");
    assert_int_equal(mp_decoded_frames(file, 'a'), 250);
    assert_true(mp_probe_double(file, 'a', "start_time") == 0.0);
    assert_true(mp_probe_double(file, 'v', "start_time") == 3.0);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(c);
}

/* Files of one kind; the other kind is refused and counted. */
static void test_one_track(void **state)
{
    (void)state;
    char file[256];
    pl_clip *c = clip(90, 150, 320, 240);
    pl_recwebm *w;
    pl_recwebm_stats st;

    path_of(file, sizeof(file), "audio.webm");
    assert_int_equal(pl_recwebm_open(file, true, false, &w), PL_OK);
    pl_recwebm_get_stats(w, &st);
    assert_true(st.started); /* nothing to wait for */
    feed(w, c, 0, 0, c, 150, 0, 0);
    const pl_clip_frame *v = pl_clip_video(c, 0);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, v->data, v->len), PL_EINVAL);
    pl_recwebm_get_stats(w, &st);
    assert_int_equal(st.dropped_invalid, 1);
    assert_int_equal(st.written[PL_RECWEBM_AUDIO], 150);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_stream_count(file), 1);
    char s[64];
    mp_probe(file, 'a', "codec_name", s, sizeof(s));
    assert_string_equal(s, "opus");
    assert_int_equal(mp_decoded_frames(file, 'a'), 150);
    double d = mp_format_duration(file);
    assert_true(d > 3.0 - 0.001 && d < 3.0 + 0.001);
    mp_assert_decodes_clean(file);

    path_of(file, sizeof(file), "video.webm");
    assert_int_equal(pl_recwebm_open(file, false, true, &w), PL_OK);
    feed(w, c, 90, 0, c, 0, 0, 0);
    const pl_clip_frame *a = pl_clip_audio(c, 0);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, a->data, a->len), PL_EINVAL);
    pl_recwebm_get_stats(w, &st);
    assert_int_equal(st.written[PL_RECWEBM_VIDEO], 90);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_stream_count(file), 1);
    mp_probe(file, 'v', "codec_name", s, sizeof(s));
    assert_string_equal(s, "vp8");
    assert_int_equal(mp_decoded_frames(file, 'v'), 90);
    d = mp_format_duration(file);
    assert_true(d > 3.0 - 2 * FRAME_S && d < 3.0 + FRAME_S);
    mp_assert_decodes_clean(file);

    /* Not one frame (the delta frames wait for a key frame): no file, as
     * players do not read one without a block. */
    path_of(file, sizeof(file), "video-none.webm");
    assert_int_equal(pl_recwebm_open(file, false, true, &w), PL_OK);
    v = pl_clip_video(c, 1);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, v->data, v->len), PL_ESTATE);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_ENOTFOUND);
    assert_int_equal(access(file, F_OK), -1);
    path_of(file, sizeof(file), "audio-none.webm");
    assert_int_equal(pl_recwebm_open(file, true, false, &w), PL_OK);
    assert_int_equal(access(file, F_OK), 0);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_ENOTFOUND);
    assert_int_equal(access(file, F_OK), -1);
    pl_clip_destroy(c);
}

/* A simulcast layer switch: a key frame of another size mid-file is written
 * as it is, and ffmpeg decodes across it at each frame's own size. */
static void test_layer_switch(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "switch.webm");
    pl_clip *low = clip(90, 300, 320, 240), *high = clip(90, 0, 640, 480);
    pl_recwebm *w;
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    feed(w, low, 90, 0, low, 150, 0, 20000);
    feed(w, high, 90, 3000000, low, 150, 3000000, 20000);
    pl_recwebm_stats st;
    pl_recwebm_get_stats(w, &st);
    assert_int_equal(st.width, 640);
    assert_int_equal(st.height, 480);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    char sizes[256];
    mp_frame_sizes(file, sizes, sizeof(sizes));
    assert_string_equal(sizes, "320x240*90 640x480*90");
    assert_int_equal(mp_probe_long(file, 'v', "width"), 320);
    assert_int_equal(mp_decoded_frames(file, 'a'), 300);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(low);
    pl_clip_destroy(high);
}

/* A muted microphone, then a camera turned off: the other kind is not held
 * back waiting for it (no more than half a second), so it reaches the disk
 * as it comes; and the file plays across both gaps. */
static void test_muted_track(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "muted.webm");
    pl_clip *c = clip(360, 400, 320, 240);
    pl_recwebm *w;
    pl_recwebm_stats st;
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    /* 0-2 s both, 2-6 s video alone. */
    feed(w, c, 60, 0, c, 100, 0, 0);
    size_t v = 60, a = 100;
    for (; v < 180; v++) {
        const pl_clip_frame *f = pl_clip_video(c, v);
        assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, FRAME_US(v), f->data, f->len),
                         PL_OK);
    }
    pl_recwebm_get_stats(w, &st);
    assert_true(st.written[PL_RECWEBM_VIDEO] >= 180 - FPS / 2 - 1);
    assert_int_equal(st.written[PL_RECWEBM_AUDIO], 100);
    /* The microphone comes back at 6 s: 6-8 s both, 8-12 s audio alone. */
    for (a = 300; a < 600; a++) {
        int64_t ta = AUDIO_US(a);
        for (; v < 240 && FRAME_US(v) <= ta; v++) {
            const pl_clip_frame *f = pl_clip_video(c, v);
            assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, FRAME_US(v), f->data, f->len),
                             PL_OK);
        }
        const pl_clip_frame *f = pl_clip_audio(c, a % 400);
        assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, ta, f->data, f->len), PL_OK);
    }
    pl_recwebm_get_stats(w, &st);
    assert_int_equal(st.written[PL_RECWEBM_VIDEO], 240);
    assert_true(st.written[PL_RECWEBM_AUDIO] >= 100 + 300 - 50 / 2 - 1);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_decoded_frames(file, 'v'), 240);
    assert_int_equal(mp_decoded_frames(file, 'a'), 100 + 300);
    double d = mp_format_duration(file);
    assert_true(d > 12.0 - FRAME_S && d < 12.0 + FRAME_S);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(c);
}

/* Video that completes long after the audio of its time (0.8 s: a slow
 * uplink, retransmissions): the audio does not wait for it, the video is
 * written late but whole, and the file decodes. */
static void test_late_video(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "late-video.webm");
    pl_clip *c = clip(150, 250, 320, 240);
    pl_recwebm *w;
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);
    feed(w, c, 150, 0, c, 250, 0, 800000);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_decoded_frames(file, 'v'), 150);
    assert_int_equal(mp_decoded_frames(file, 'a'), 250);
    assert_true(mp_probe_double(file, 'v', "start_time") == 0.0);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(c);
}

/* Killed without closing, fifteen seconds in: ffprobe and ffmpeg still
 * read at least the first twelve. */
static void test_killed_writer(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "killed.webm");
    pl_clip *c = clip(450, 750, 320, 240);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        pl_recwebm *w;
        if (pl_recwebm_open(file, true, true, &w) != PL_OK)
            _exit(1);
        feed(w, c, 450, 0, c, 750, 0, 40000);
        char done = 'x';
        if (write(pfd[1], &done, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(pfd[1]);
    mp_kill_when_ready(pfd[0], pid);

    long video = mp_decoded_frames(file, 'v'), audio = mp_decoded_frames(file, 'a');
    print_message("# killed at 15 s: %ld video frames (%.2f s), %ld audio packets (%.2f s)\n",
                  video, (double)video / FPS, audio, audio * 0.02);
    assert_true(video >= 12 * FPS);
    assert_true(audio >= 12 * 50);
    char out[256];
    assert_int_equal(mp_run(out, sizeof(out),
                            "ffprobe -v error -select_streams a:0 -show_entries packet=pts_time "
                            "-of csv=p=0 %s | tail -n 1",
                            file),
                     0);
    assert_true(strtod(out, NULL) >= 12.0);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(c);
}

/* A full disk (/dev/full takes no byte): the error comes back from open,
 * write and close as PL_EIO with ENOSPC, and nothing more is tried. */
static void test_disk_full(void **state)
{
    (void)state;
    pl_clip *c = clip(2, 10, 320, 240);
    pl_recwebm *w = NULL;
    /* Audio only: the header is written at once. */
    errno = 0;
    assert_int_equal(pl_recwebm_open("/dev/full", true, false, &w), PL_EIO);
    assert_int_equal(errno, ENOSPC);
    assert_null(w);

    /* With video, the header waits for the key frame. */
    assert_int_equal(pl_recwebm_open("/dev/full", true, true, &w), PL_OK);
    const pl_clip_frame *a = pl_clip_audio(c, 0), *v = pl_clip_video(c, 0);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, a->data, a->len), PL_OK);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, v->data, v->len), PL_EIO);
    pl_recwebm_stats st;
    pl_recwebm_get_stats(w, &st);
    assert_int_equal(st.os_error, ENOSPC);
    for (unsigned i = 1; i < 10; i++) {
        a = pl_clip_audio(c, i);
        assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, AUDIO_US(i), a->data, a->len),
                         PL_EIO);
    }
    pl_recwebm_get_stats(w, &st);
    assert_int_equal(st.dropped_after_error, 9);
    int os_error = 0;
    assert_int_equal(pl_recwebm_close(w, &os_error), PL_EIO);
    assert_int_equal(os_error, ENOSPC);
    pl_clip_destroy(c);
}

/* A write that fails in the middle of the file (a file size limit, as a
 * quota or a full disk would): PL_EIO from then on, from close too, and
 * what was written before stays readable. In a child, whose limit and
 * exit (the leak check of a sanitizer build) are its own. */
static void test_write_error_midway(void **state)
{
    (void)state;
    char file[256];
    path_of(file, sizeof(file), "limited.webm");
    pl_clip *c = clip(300, 500, 320, 240);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {.rlim_cur = 200 * 1024, .rlim_max = 200 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            exit(10);
        pl_recwebm *w;
        if (pl_recwebm_open(file, true, true, &w) != PL_OK)
            exit(11);
        size_t i = 0, j = 0, failed = 0;
        while (i < 300 || j < 500) {
            int rc;
            if (i < 300 && FRAME_US(i) <= AUDIO_US(j)) {
                const pl_clip_frame *f = pl_clip_video(c, i);
                rc = pl_recwebm_write(w, PL_RECWEBM_VIDEO, FRAME_US(i), f->data, f->len);
                i++;
            } else {
                const pl_clip_frame *f = pl_clip_audio(c, j);
                rc = pl_recwebm_write(w, PL_RECWEBM_AUDIO, AUDIO_US(j), f->data, f->len);
                j++;
            }
            if (rc == PL_EIO)
                failed++;
            else if (rc != PL_OK || failed)
                exit(12); /* an error other than PL_EIO, or success after one */
        }
        pl_recwebm_stats st;
        pl_recwebm_get_stats(w, &st);
        if (!failed || st.os_error != EFBIG || st.dropped_after_error != failed - 1)
            exit(13);
        int os_error = 0;
        if (pl_recwebm_close(w, &os_error) != PL_EIO || os_error != EFBIG)
            exit(14);
        pl_clip_destroy(c);
        exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_true(sb.st_size <= 200 * 1024);
    /* 700 kbit/s: the first second and more is there. */
    long video = mp_decoded_frames(file, 'v');
    print_message("# %lld bytes: %ld video frames\n", (long long)sb.st_size, video);
    assert_true(video >= FPS);
    pl_clip_destroy(c);
}

/* Bad input: each a clear error and a counted drop, and the file is still
 * fine. */
static void test_bad_input(void **state)
{
    (void)state;
    char file[256];
    pl_recwebm *w = NULL;
    assert_int_equal(pl_recwebm_open(NULL, true, true, &w), PL_EINVAL);
    path_of(file, sizeof(file), "bad.webm");
    assert_int_equal(pl_recwebm_open(file, false, false, &w), PL_EINVAL);
    char missing[256];
    path_of(missing, sizeof(missing), "no/such/dir.webm");
    errno = 0;
    assert_int_equal(pl_recwebm_open(missing, true, true, &w), PL_EIO);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(pl_recwebm_close(NULL, NULL), PL_OK);
    /* A name that looks like a URL is a file name. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(pl_recwebm_open("http:x.webm", true, false, &w), PL_OK);
    assert_int_equal(access("http:x.webm", F_OK), 0);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_ENOTFOUND);
    assert_int_equal(access("http:x.webm", F_OK), -1);
    assert_int_equal(chdir(cwd), 0);

    pl_clip *c = clip(60, 100, 320, 240);
    const pl_clip_frame *key = pl_clip_video(c, 0), *delta = pl_clip_video(c, 1);
    const pl_clip_frame *a = pl_clip_audio(c, 0);
    assert_int_equal(pl_recwebm_write(NULL, PL_RECWEBM_AUDIO, 0, a->data, a->len), PL_EINVAL);
    assert_int_equal(pl_recwebm_open(file, true, true, &w), PL_OK);

    /* Invalid. */
    assert_int_equal(pl_recwebm_write(w, (pl_recwebm_kind)7, 0, a->data, a->len), PL_EINVAL);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, NULL, 10), PL_EINVAL);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, a->data, 0), PL_EINVAL);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, key->data, 0), PL_EINVAL);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, -1, a->data, a->len), PL_EINVAL);
    /* Oversized. */
    uint8_t *big = calloc(1, PL_RECWEBM_MAX_VIDEO + 1);
    assert_non_null(big);
    memcpy(big, key->data, key->len);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, big, PL_RECWEBM_MAX_VIDEO + 1),
                     PL_EINVAL);
    big[0] = 0xf8; /* an Opus TOC: CELT 20 ms, one frame */
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, big, PL_RECWEBM_MAX_AUDIO + 1),
                     PL_EINVAL);
    free(big);
    /* Not Opus. */
    static const uint8_t no_count[] = {0xfb, 0x00};             /* code 3, zero frames */
    static const uint8_t odd_pair[] = {0xf9, 0x01};             /* code 1, odd length */
    static const uint8_t too_long[] = {0xfb, 0x07, 0x00, 0x00}; /* 7 x 20 ms > 120 ms */
    static const uint8_t cut_pair[] = {0xfa, 0xfc};             /* code 2, size byte cut */
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, no_count, sizeof(no_count)),
                     PL_EMALFORMED);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, odd_pair, sizeof(odd_pair)),
                     PL_EMALFORMED);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, too_long, sizeof(too_long)),
                     PL_EMALFORMED);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, 0, cut_pair, sizeof(cut_pair)),
                     PL_EMALFORMED);
    /* Not VP8: a key frame without its start code or size, a first
     * partition longer than the frame, two bytes. */
    uint8_t bad_key[32];
    memcpy(bad_key, key->data, sizeof(bad_key));
    bad_key[3] = 0x00;
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, bad_key, sizeof(bad_key)),
                     PL_EMALFORMED);
    memcpy(bad_key, key->data, sizeof(bad_key));
    bad_key[6] = bad_key[7] = 0x00;
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, bad_key, sizeof(bad_key)),
                     PL_EMALFORMED);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, key->data, 32), PL_EMALFORMED);
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, delta->data, 2), PL_EMALFORMED);
    /* A delta frame before any key frame. */
    assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, 0, delta->data, delta->len), PL_ESTATE);

    /* Two seconds of good media with backwards frames among them. */
    size_t backwards = 0;
    for (size_t i = 0, j = 0; i < 60 || j < 100;) {
        if (i < 60 && FRAME_US(i) <= AUDIO_US(j)) {
            const pl_clip_frame *f = pl_clip_video(c, i);
            assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_VIDEO, FRAME_US(i), f->data, f->len),
                             PL_OK);
            if (i % 20 == 10) {
                assert_int_equal(
                    pl_recwebm_write(w, PL_RECWEBM_VIDEO, FRAME_US(i) - 1, f->data, f->len),
                    PL_EINVAL);
                backwards++;
            }
            i++;
        } else {
            const pl_clip_frame *f = pl_clip_audio(c, j);
            assert_int_equal(pl_recwebm_write(w, PL_RECWEBM_AUDIO, AUDIO_US(j), f->data, f->len),
                             PL_OK);
            if (j % 20 == 10) {
                assert_int_equal(
                    pl_recwebm_write(w, PL_RECWEBM_AUDIO, AUDIO_US(j) - 20000, f->data, f->len),
                    PL_EINVAL);
                backwards++;
            }
            j++;
        }
    }
    pl_recwebm_stats st;
    pl_recwebm_get_stats(w, &st);
    assert_int_equal(st.dropped_invalid, 5);
    assert_int_equal(st.dropped_oversized, 2);
    assert_int_equal(st.dropped_malformed, 8);
    assert_int_equal(st.dropped_before_key, 1);
    assert_int_equal(st.dropped_backwards, backwards);
    assert_int_equal(st.dropped_after_error, 0);
    assert_int_equal(pl_recwebm_close(w, NULL), PL_OK);
    assert_int_equal(mp_decoded_frames(file, 'v'), 60);
    assert_int_equal(mp_decoded_frames(file, 'a'), 100);
    mp_assert_decodes_clean(file);
    pl_clip_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audio_and_video),     cmocka_unit_test(test_cues_and_seek),
        cmocka_unit_test(test_waits_for_key_frame), cmocka_unit_test(test_no_key_frame),
        cmocka_unit_test(test_one_track),           cmocka_unit_test(test_layer_switch),
        cmocka_unit_test(test_muted_track),         cmocka_unit_test(test_late_video),
        cmocka_unit_test(test_killed_writer),       cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_write_error_midway),  cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
