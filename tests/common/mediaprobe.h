/* Media files read back by the real ffprobe and ffmpeg (Debian's ffmpeg
 * package), for tests of what Parley writes. Each check is a cmocka
 * assertion. File names are passed to a shell unquoted: only paths the
 * test made itself (mkdtemp), without spaces. A kind is 'a' or 'v', the
 * first stream of that kind. */
#ifndef PARLEY_TEST_MEDIAPROBE_H
#define PARLEY_TEST_MEDIAPROBE_H

#include <stddef.h>
#include <sys/types.h>

/* Runs a shell command and returns its exit status with its standard
 * output in out (cut at cap - 1 bytes, the rest read and dropped). */
int mp_run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One stream entry of ffprobe's show_entries (codec_name, width,
 * start_time, ...), as text, as a number. */
void mp_probe(const char *file, char kind, const char *entry, char *out, size_t cap);
long mp_probe_long(const char *file, char kind, const char *entry);
double mp_probe_double(const char *file, char kind, const char *entry);

/* Frames of a kind that ffprobe decodes (-count_frames). */
long mp_decoded_frames(const char *file, char kind);
int mp_stream_count(const char *file);
/* The container's duration in seconds. */
double mp_format_duration(const char *file);
/* ffmpeg decodes every stream of the file without a single error message. */
void mp_assert_decodes_clean(const char *file);
/* The sizes of the decoded video frames in order, as runs of "WxH*count":
 * "320x240*90 640x480*90". */
void mp_frame_sizes(const char *file, char *out, size_t cap);

/* The crash tests' kill: waits (up to 60 s) for the child writing a
 * file to say it is ready (one byte on fd, closed then), kills it with
 * SIGKILL mid-write and checks that this is how it ended. */
void mp_kill_when_ready(int fd, pid_t pid);

/* The first audio stream decoded by ffmpeg to mono float PCM at 48 kHz;
 * *n samples (free it). */
float *mp_decode_audio(const char *file, size_t *n);
/* Amplitude of a tone of freq Hz in 48 kHz samples x over [t0, t1)
 * seconds (Goertzel). */
double mp_tone_amp(const float *x, size_t n, double t0, double t1, double freq);

#endif
