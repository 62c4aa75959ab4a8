/* Recordings on a real directory: the manifest and its JSON, creating,
 * updating, finishing, listing and loading; deletion cut short after each
 * of its steps as a crash would, and start-up recovery after it; recordings
 * interrupted while being written; playback paths against hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parley/common.h"
#include "parley/recfiles.h"
#include "parley/recmanifest.h"

typedef struct fx {
    uint64_t seed_state;
    pl_env env;
    char dir[PATH_MAX]; /* the data directory */
    pl_recfiles *rf;
} fx;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->seed_state, 42);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/recfiles-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(pl_recfiles_open(&f->env, f->dir, &f->rf), PL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pl_recfiles_close(f->rf);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void rec_path(fx *f, const char *id, const char *name, char *out)
{
    assert_int_equal(pl_recfiles_path(f->rf, id, name, out, PATH_MAX), PL_OK);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void add_file(fx *f, pl_rec_manifest *m, const char *name, const char *participant,
                     const char *display)
{
    pl_rec_file file = {0};
    snprintf(file.name, sizeof(file.name), "%s", name);
    snprintf(file.participant, sizeof(file.participant), "%s", participant);
    snprintf(file.display_name, sizeof(file.display_name), "%s", display);
    file.kind = participant[0] ? PL_REC_FILE_TRACKS : PL_REC_FILE_MIX;
    assert_int_equal(pl_rec_manifest_add_file(&f->env, m, &file), PL_OK);
}

/* A meeting of room `room` started at `t` with two participants and the
 * mix, created, its files written, finished at t + 60 s unless `open`. */
static void make_meeting(fx *f, const char *room, int64_t t, bool open, pl_rec_manifest *m)
{
    pl_rec_manifest_init(m);
    snprintf(m->room, sizeof(m->room), "%s", room);
    snprintf(m->owner, sizeof(m->owner), "ann");
    m->started_ms = t;
    m->room_access = true;
    assert_int_equal(pl_rec_manifest_add_user(&f->env, m, "ann"), PL_OK);
    assert_int_equal(pl_rec_manifest_add_user(&f->env, m, "bob"), PL_OK);
    assert_int_equal(pl_recfiles_create(f->rf, m), PL_OK);
    add_file(f, m, "p1.webm", "p1", "Ann \"A\" Ånström");
    add_file(f, m, "p2.webm", "p2", "Bob");
    add_file(f, m, "mix.ogg", "", "");
    assert_int_equal(pl_recfiles_update(f->rf, m), PL_OK);
    char path[PATH_MAX];
    rec_path(f, m->id, "p1.webm", path);
    write_file(path, "webm of ann, twenty-six b");
    rec_path(f, m->id, "p2.webm", path);
    write_file(path, "webm of bob");
    rec_path(f, m->id, "mix.ogg", path);
    write_file(path, "ogg");
    pl_rec_speech s = {"p1", 0, 1500};
    assert_int_equal(pl_rec_manifest_add_speech(&f->env, m, &s), PL_OK);
    pl_rec_speech s2 = {"p2", 1200, 4000};
    assert_int_equal(pl_rec_manifest_add_speech(&f->env, m, &s2), PL_OK);
    if (!open)
        assert_int_equal(pl_recfiles_finish(f->rf, m, t + 60000), PL_OK);
    else
        assert_int_equal(pl_recfiles_update(f->rf, m), PL_OK);
}

typedef struct seen {
    int n;
    char ids[16][PL_REC_ID_LEN + 1];
} seen;

static void collect(void *arg, const pl_rec_manifest *m)
{
    seen *s = arg;
    if (s->n < 16)
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", m->id);
    s->n++;
}

static int count_listed(fx *f, const pl_rec_filter *filter)
{
    seen s = {0};
    int n = pl_recfiles_each(f->rf, filter, collect, &s);
    assert_int_equal(n, s.n);
    return n;
}

static void test_ids(void **state)
{
    fx *f = *state;
    pl_recfiles *rf;
    char missing[PATH_MAX + 16], path[16];
    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    assert_int_equal(pl_recfiles_open(&f->env, missing, &rf), PL_EINVAL);
    assert_null(rf);
    assert_int_equal(pl_recfiles_open(&f->env, "", &rf), PL_EINVAL);
    assert_int_equal(pl_recfiles_path(f->rf, "AAAAAAAAAAAAAAAAAAAAAA", NULL, path, sizeof(path)),
                     PL_ENOSPC);
    assert_int_equal(pl_recfiles_path(f->rf, "../x", NULL, path, sizeof(path)), PL_EINVAL);
    assert_int_equal(pl_recfiles_path(f->rf, "AAAAAAAAAAAAAAAAAAAAAA", "../x", path, sizeof(path)),
                     PL_EINVAL);
    char a[PL_REC_ID_LEN + 1], b[PL_REC_ID_LEN + 1];
    assert_int_equal(pl_rec_id_generate(&f->env, a), PL_OK);
    assert_int_equal(pl_rec_id_generate(&f->env, b), PL_OK);
    assert_int_equal(strlen(a), PL_REC_ID_LEN);
    assert_true(pl_rec_id_valid(a));
    assert_true(pl_rec_id_valid(b));
    assert_string_not_equal(a, b);
    assert_false(pl_rec_id_valid("short"));
    assert_false(pl_rec_id_valid("AAAAAAAAAAAAAAAAAAAAA."));
    assert_false(pl_rec_id_valid("AAAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(pl_rec_id_valid(NULL));
    assert_true(pl_rec_file_name_valid("p1.webm"));
    assert_true(pl_rec_file_name_valid("mix.ogg"));
    assert_false(pl_rec_file_name_valid("manifest.json"));
    assert_false(pl_rec_file_name_valid(".hidden"));
    assert_false(pl_rec_file_name_valid("a..b"));
    assert_false(pl_rec_file_name_valid("a/b"));
    assert_false(pl_rec_file_name_valid(""));
}

static void test_manifest_json(void **state)
{
    fx *f = *state;
    pl_rec_manifest m, back;
    pl_rec_manifest_init(&m);
    assert_int_equal(pl_rec_id_generate(&f->env, m.id), PL_OK);
    m.kind = PL_REC_MESSAGE;
    m.state = PL_REC_FINISHED;
    snprintf(m.owner, sizeof(m.owner), "carol");
    snprintf(m.caller, sizeof(m.caller), "carol");
    snprintf(m.callee, sizeof(m.callee), "dave@example.org");
    snprintf(m.call_id, sizeof(m.call_id), "c12ab");
    m.started_ms = 1700000000000;
    m.ended_ms = 1700000120000;
    assert_int_equal(pl_rec_manifest_add_user(&f->env, &m, "carol"), PL_OK);
    assert_int_equal(pl_rec_manifest_add_user(&f->env, &m, "dave@example.org"), PL_OK);
    assert_int_equal(pl_rec_manifest_add_user(&f->env, &m, "carol"), PL_OK);
    assert_int_equal(m.n_users, 2);
    add_file(f, &m, "p7.webm", "p7", "Carol");
    m.files[0].bytes = 123456;
    pl_rec_speech s = {"p7", 10, 119000};
    assert_int_equal(pl_rec_manifest_add_speech(&f->env, &m, &s), PL_OK);
    char *text;
    size_t len;
    assert_int_equal(pl_rec_manifest_to_json(&f->env, &m, &text, &len), PL_OK);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "\"kind\": \"message\""));
    assert_int_equal(pl_rec_manifest_from_json(&f->env, text, len, &back), PL_OK);
    assert_string_equal(back.id, m.id);
    assert_int_equal(back.kind, PL_REC_MESSAGE);
    assert_int_equal(back.state, PL_REC_FINISHED);
    assert_string_equal(back.callee, "dave@example.org");
    assert_string_equal(back.call_id, "c12ab");
    assert_int_equal(back.ended_ms, 1700000120000);
    assert_int_equal(back.n_files, 1);
    assert_int_equal(back.files[0].bytes, 123456);
    assert_string_equal(back.files[0].display_name, "Carol");
    assert_int_equal(back.n_speech, 1);
    assert_int_equal(back.speech[0].end_ms, 119000);
    assert_true(pl_rec_manifest_may_view(&back, "dave@example.org", NULL));
    assert_false(pl_rec_manifest_may_view(&back, "eve", NULL));
    assert_false(pl_rec_manifest_may_view(&back, NULL, ""));
    pl_rec_manifest_clear(&f->env, &back);

    /* Every cut of the text is refused, as is any other manifest. */
    for (size_t cut = 0; cut < len - 1; cut++) {
        assert_int_equal(pl_rec_manifest_from_json(&f->env, text, cut, &back), PL_EMALFORMED);
        pl_rec_manifest_clear(&f->env, &back);
    }
    pl_env_free(&f->env, text);

    m.ended_ms = 0; /* finished without an end */
    assert_int_equal(pl_rec_manifest_to_json(&f->env, &m, &text, &len), PL_EINVAL);
    assert_null(text);
    pl_rec_manifest_clear(&f->env, &m);

    static const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"version\":2,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"meeting\",\"state\":"
        "\"recording\",\"room\":\"r\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":null,"
        "\"access\":{\"users\":[],\"room\":true},\"files\":[],\"speech\":[]}",
        /* a file named out of the directory */
        "{\"version\":1,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"meeting\",\"state\":"
        "\"recording\",\"room\":\"r\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":null,"
        "\"access\":{\"users\":[],\"room\":true},\"files\":[{\"name\":\"../x\",\"kind\":"
        "\"mix\",\"bytes\":0}],\"speech\":[]}",
        /* the same file twice */
        "{\"version\":1,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"meeting\",\"state\":"
        "\"recording\",\"room\":\"r\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":null,"
        "\"access\":{\"users\":[],\"room\":true},\"files\":[{\"name\":\"a\",\"kind\":"
        "\"mix\",\"bytes\":0},{\"name\":\"a\",\"kind\":\"mix\",\"bytes\":0}],\"speech\":[]}",
        /* recording with an end */
        "{\"version\":1,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"meeting\",\"state\":"
        "\"recording\",\"room\":\"r\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":5,"
        "\"access\":{\"users\":[],\"room\":true},\"files\":[],\"speech\":[]}",
        /* a message without its callee */
        "{\"version\":1,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"message\",\"state\":"
        "\"recording\",\"room\":\"\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":null,"
        "\"caller\":\"u\",\"access\":{\"users\":[],\"room\":false},\"files\":[],\"speech\":[]}",
        /* a NUL inside a name */
        "{\"version\":1,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"meeting\",\"state\":"
        "\"recording\",\"room\":\"r\\u0000x\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":"
        "null,\"access\":{\"users\":[],\"room\":true},\"files\":[],\"speech\":[]}",
        /* speech ending before it starts */
        "{\"version\":1,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"meeting\",\"state\":"
        "\"recording\",\"room\":\"r\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":null,"
        "\"access\":{\"users\":[],\"room\":true},\"files\":[],\"speech\":[{\"participant\":"
        "\"p\",\"start_ms\":5,\"end_ms\":4}]}",
        /* negative size */
        "{\"version\":1,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kind\":\"meeting\",\"state\":"
        "\"recording\",\"room\":\"r\",\"owner\":\"u\",\"started_ms\":1,\"ended_ms\":null,"
        "\"access\":{\"users\":[],\"room\":true},\"files\":[{\"name\":\"a\",\"kind\":"
        "\"mix\",\"bytes\":-1}],\"speech\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("# bad manifest %zu\n", i);
        assert_int_equal(pl_rec_manifest_from_json(&f->env, bad[i], strlen(bad[i]), &back),
                         PL_EMALFORMED);
        pl_rec_manifest_clear(&f->env, &back);
    }
    assert_int_equal(pl_rec_manifest_from_json(&f->env, NULL, 0, &back), PL_EMALFORMED);
}

/* Display names come from users: cut at whole characters, and a file whose
 * name is not UTF-8 is refused rather than written as JSON that does not
 * read back. */
static void test_display_names(void **state)
{
    fx *f = *state;
    char long_name[600], dst[PL_REC_DISPLAY_MAX + 1];
    /* "a" then "é" (2 bytes) repeated: byte 256 falls inside a character. */
    size_t n = 0;
    long_name[n++] = 'a';
    while (n + 2 < sizeof(long_name)) {
        long_name[n++] = (char)0xc3;
        long_name[n++] = (char)0xa9;
    }
    long_name[n] = '\0';
    pl_rec_display_name_set(dst, long_name);
    assert_int_equal(strlen(dst), 255);
    pl_rec_display_name_set(dst, "Zoë 🎙");
    assert_string_equal(dst, "Zoë 🎙");
    pl_rec_display_name_set(dst, "ok\xff\xfe rest");
    assert_string_equal(dst, "ok");
    pl_rec_display_name_set(dst, "\xed\xa0\x80"); /* a surrogate */
    assert_string_equal(dst, "");
    pl_rec_display_name_set(dst, "\xc0\xaf"); /* an overlong '/' */
    assert_string_equal(dst, "");
    pl_rec_display_name_set(dst, NULL);
    assert_string_equal(dst, "");

    pl_rec_manifest m;
    pl_rec_manifest_init(&m);
    pl_rec_file file = {.name = "p1.webm", .participant = "p1", .kind = PL_REC_FILE_TRACKS};
    snprintf(file.display_name, sizeof(file.display_name), "bad \xe2\x82");
    assert_int_equal(pl_rec_manifest_add_file(&f->env, &m, &file), PL_EINVAL);
    pl_rec_display_name_set(file.display_name, "bad \xe2\x82");
    assert_string_equal(file.display_name, "bad ");
    assert_int_equal(pl_rec_manifest_add_file(&f->env, &m, &file), PL_OK);
    snprintf(file.name, sizeof(file.name), "../p1.webm");
    assert_int_equal(pl_rec_manifest_add_file(&f->env, &m, &file), PL_EINVAL);
    assert_int_equal(m.n_files, 1);
    pl_rec_speech sp = {"p1", 5, 4};
    assert_int_equal(pl_rec_manifest_add_speech(&f->env, &m, &sp), PL_EINVAL);
    assert_int_equal(pl_rec_manifest_add_user(&f->env, &m, "a/b"), PL_EINVAL);
    assert_int_equal(pl_rec_manifest_add_user(&f->env, &m, ""), PL_EINVAL);
    pl_rec_manifest_clear(&f->env, &m);
}

static void test_create_list_load(void **state)
{
    fx *f = *state;
    pl_rec_manifest a, b, c, got;
    make_meeting(f, "standup", 3000, false, &a);
    make_meeting(f, "standup", 1000, false, &b);
    make_meeting(f, "retro", 2000, true, &c);
    assert_string_not_equal(a.id, b.id);

    seen s = {0};
    assert_int_equal(pl_recfiles_each(f->rf, NULL, collect, &s), 3);
    assert_string_equal(s.ids[0], b.id); /* oldest start first */
    assert_string_equal(s.ids[1], c.id);
    assert_string_equal(s.ids[2], a.id);
    pl_rec_filter room = {.room = "standup"};
    assert_int_equal(count_listed(f, &room), 2);
    pl_rec_filter none = {.room = "nope"};
    assert_int_equal(count_listed(f, &none), 0);
    pl_rec_filter owner = {.owner = "ann"};
    assert_int_equal(count_listed(f, &owner), 3);

    assert_int_equal(pl_recfiles_load(f->rf, a.id, &got), PL_OK);
    assert_int_equal(got.state, PL_REC_FINISHED);
    assert_int_equal(got.ended_ms, 63000);
    assert_int_equal(got.n_files, 3);
    assert_int_equal(pl_rec_manifest_file(&got, "p1.webm")->bytes, 25);
    assert_int_equal(pl_rec_manifest_file(&got, "p2.webm")->bytes, 11);
    assert_int_equal(pl_rec_manifest_bytes(&got), 25 + 11 + 3);
    assert_string_equal(pl_rec_manifest_file(&got, "p1.webm")->display_name, "Ann \"A\" Ånström");
    assert_int_equal(got.n_speech, 2);
    assert_true(pl_rec_manifest_may_view(&got, "bob", NULL));
    assert_true(pl_rec_manifest_may_view(&got, "zed", "standup"));
    assert_false(pl_rec_manifest_may_view(&got, "zed", "retro"));
    pl_rec_manifest_clear(&f->env, &got);
    assert_int_equal(pl_recfiles_load(f->rf, c.id, &got), PL_OK);
    assert_int_equal(got.state, PL_REC_RECORDING);
    pl_rec_manifest_clear(&f->env, &got);
    assert_int_equal(pl_recfiles_load(f->rf, "AAAAAAAAAAAAAAAAAAAAAA", &got), PL_ENOTFOUND);
    assert_int_equal(pl_recfiles_load(f->rf, "../x", &got), PL_ENOTFOUND);

    /* The same id twice is refused; an invalid manifest is not created. */
    pl_rec_manifest dup;
    pl_rec_manifest_init(&dup);
    assert_int_equal(pl_rec_manifest_copy(&f->env, &dup, &a), PL_OK);
    assert_int_equal(pl_recfiles_create(f->rf, &dup), PL_ESTATE);
    pl_rec_manifest_clear(&f->env, &dup);
    pl_rec_manifest_init(&dup); /* no room, no owner */
    assert_int_equal(pl_recfiles_create(f->rf, &dup), PL_EINVAL);
    assert_int_equal(count_listed(f, NULL), 3);

    /* A heads-up, listed for its callee. */
    pl_rec_manifest msg;
    pl_rec_manifest_init(&msg);
    msg.kind = PL_REC_MESSAGE;
    snprintf(msg.owner, sizeof(msg.owner), "carol");
    snprintf(msg.caller, sizeof(msg.caller), "carol");
    snprintf(msg.callee, sizeof(msg.callee), "dave");
    msg.started_ms = 5000;
    assert_int_equal(pl_recfiles_create(f->rf, &msg), PL_OK);
    add_file(f, &msg, "p9.webm", "p9", "Carol");
    assert_int_equal(pl_recfiles_update(f->rf, &msg), PL_OK);
    char path[PATH_MAX];
    rec_path(f, msg.id, "p9.webm", path);
    write_file(path, "hello");
    pl_rec_filter callee = {.callee = "dave"};
    assert_int_equal(count_listed(f, &callee), 0 + 1);
    pl_rec_filter other = {.callee = "ann"};
    assert_int_equal(count_listed(f, &other), 0);
    /* A file listed but never made is dropped when it finishes. */
    add_file(f, &msg, "p10.webm", "p10", "Nobody");
    assert_int_equal(pl_recfiles_finish(f->rf, &msg, 9000), PL_OK);
    assert_int_equal(msg.n_files, 1);
    assert_int_equal(msg.files[0].bytes, 5);
    assert_int_equal(count_listed(f, &callee), 1);

    /* A finished recording missing a file is not listed. */
    rec_path(f, b.id, "p2.webm", path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(count_listed(f, &room), 1);
    assert_int_equal(pl_recfiles_load(f->rf, b.id, &got), PL_ENOTFOUND);

    pl_rec_manifest_clear(&f->env, &a);
    pl_rec_manifest_clear(&f->env, &b);
    pl_rec_manifest_clear(&f->env, &c);
    pl_rec_manifest_clear(&f->env, &msg);
}

/* A manifest is never seen half-written: a temporary left by a crash
 * changes nothing, a torn manifest.json (what a write in place would leave)
 * is not listed and not served. */
static void test_manifest_atomic(void **state)
{
    fx *f = *state;
    pl_rec_manifest a, got;
    make_meeting(f, "r", 1000, false, &a);
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    rec_path(f, a.id, NULL, path);
    snprintf(tmp, sizeof(tmp), "%s/manifest.json.tmp", path);
    write_file(tmp, "{\"version\":1,\"id\":");
    assert_int_equal(count_listed(f, NULL), 1);
    assert_int_equal(pl_recfiles_load(f->rf, a.id, &got), PL_OK);
    assert_int_equal(got.state, PL_REC_FINISHED);
    pl_rec_manifest_clear(&f->env, &got);
    /* An update replaces the manifest by a rename, never writes into it: a
     * reader holding the old one still reads it whole. It also replaces
     * the leftover temporary and leaves none. */
    snprintf(tmp, sizeof(tmp), "%s/manifest.json", path);
    FILE *old = fopen(tmp, "r");
    assert_non_null(old);
    snprintf(a.files[0].display_name, sizeof(a.files[0].display_name), "Renamed");
    assert_int_equal(pl_recfiles_update(f->rf, &a), PL_OK);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, old);
    fclose(old);
    text[n] = '\0';
    assert_int_equal(pl_rec_manifest_from_json(&f->env, text, n, &got), PL_OK);
    assert_string_equal(got.files[0].display_name, "Ann \"A\" Ånström");
    pl_rec_manifest_clear(&f->env, &got);
    assert_int_equal(pl_recfiles_load(f->rf, a.id, &got), PL_OK);
    assert_string_equal(got.files[0].display_name, "Renamed");
    pl_rec_manifest_clear(&f->env, &got);
    snprintf(tmp, sizeof(tmp), "%s/manifest.json.tmp", path);
    assert_false(exists(tmp));

    snprintf(tmp, sizeof(tmp), "%s/manifest.json", path);
    FILE *fp = fopen(tmp, "r+");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), 40), 0);
    fclose(fp);
    assert_int_equal(count_listed(f, NULL), 0);
    int fd;
    assert_int_equal(pl_recfiles_open_url(f->rf, "/recordings/x", &got, &fd, NULL, 0),
                     PL_ENOTFOUND);
    pl_rec_manifest_clear(&f->env, &got);
    /* Recovery leaves what it cannot read (it is not its to delete). */
    assert_int_equal(pl_recfiles_recover(f->rf), 0);
    assert_true(exists(tmp));
    pl_rec_manifest_clear(&f->env, &a);
}

static int entries(const char *dir)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* Deletion cut after each of its steps: the recording is either whole and
 * listed, or not listed at all, and recovery removes what is left. Done on
 * a finished recording and on one being written, whose files the listing
 * does not require, so that the deletion order alone must hold. Returns
 * the number of steps a whole deletion takes. */
static int delete_crash(fx *f, bool open)
{
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s", pl_recfiles_root(f->rf));
    for (int k = 0;; k++) {
        pl_rec_manifest a, got;
        make_meeting(f, "r", 1000, open, &a);
        assert_int_equal(count_listed(f, NULL), 2);
        int done = pl_recfiles_delete_steps(f->rf, a.id, k);
        print_message("# delete %s cut after %d step(s): %d done\n",
                      open ? "while recording" : "finished", k, done);
        assert_true(done >= 0 && done <= k);
        pl_rec_filter r = {.room = "r"};
        if (k == 0) {
            assert_int_equal(count_listed(f, &r), 1);
        } else {
            assert_int_equal(count_listed(f, &r), 0);
            assert_int_equal(pl_recfiles_load(f->rf, a.id, &got), PL_ENOTFOUND);
            char url[128];
            snprintf(url, sizeof(url), "/recordings/%s/p1.webm", a.id);
            int fd;
            assert_int_equal(pl_recfiles_open_url(f->rf, url, &got, &fd, NULL, 0), PL_ENOTFOUND);
            pl_rec_manifest_clear(&f->env, &got);
            /* The recorder's next update finds it gone. */
            assert_int_equal(pl_recfiles_update(f->rf, &a), PL_ENOTFOUND);
        }
        /* A restart: a fresh handle recovers. */
        pl_recfiles_close(f->rf);
        assert_int_equal(pl_recfiles_open(&f->env, f->dir, &f->rf), PL_OK);
        assert_int_equal(pl_recfiles_recover(f->rf), k == 0 && open ? 1 : 0);
        assert_int_equal(count_listed(f, NULL), k == 0 ? 2 : 1);
        if (k == 0)
            assert_int_equal(pl_recfiles_delete(f->rf, a.id), PL_OK);
        assert_int_equal(entries(root), 1); /* the recording that stays */
        pl_rec_manifest_clear(&f->env, &a);
        if (k > 0 && done < k)
            return done;
    }
}

static void test_delete_crash(void **state)
{
    fx *f = *state;
    pl_rec_manifest keep;
    make_meeting(f, "stays", 500, false, &keep);
    /* rename, manifest, three files, the directory */
    assert_int_equal(delete_crash(f, false), 6);
    assert_int_equal(delete_crash(f, true), 6);
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s", pl_recfiles_root(f->rf));
    assert_int_equal(pl_recfiles_delete(f->rf, keep.id), PL_OK);
    assert_int_equal(pl_recfiles_delete(f->rf, keep.id), PL_ENOTFOUND);
    assert_int_equal(pl_recfiles_delete(f->rf, "../../etc"), PL_ENOTFOUND);
    assert_int_equal(entries(root), 0);
    pl_rec_manifest_clear(&f->env, &keep);
}

/* A crash between making a recording's directory and writing its first
 * manifest: not listed, removed at start-up. */
static void test_create_crash(void **state)
{
    fx *f = *state;
    char id[PL_REC_ID_LEN + 1], path[PATH_MAX];
    assert_int_equal(pl_rec_id_generate(&f->env, id), PL_OK);
    rec_path(f, id, NULL, path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(count_listed(f, NULL), 0);
    /* Names that are not recordings are left alone. */
    char other[PATH_MAX];
    snprintf(other, sizeof(other), "%s/README", pl_recfiles_root(f->rf));
    write_file(other, "operator's note");
    assert_int_equal(pl_recfiles_recover(f->rf), 0);
    assert_false(exists(path));
    assert_true(exists(other));
}

static void test_recover_interrupted(void **state)
{
    fx *f = *state;
    pl_rec_manifest a, done, got;
    make_meeting(f, "r", 1000, true, &a);
    make_meeting(f, "r", 2000, false, &done);
    /* A file the manifest names but the recorder never made. */
    add_file(f, &a, "p3.webm", "p3", "Late");
    assert_int_equal(pl_recfiles_update(f->rf, &a), PL_OK);
    char path[PATH_MAX];
    rec_path(f, a.id, "p2.webm", path);
    write_file(path, "webm of bob, longer now");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;

    pl_recfiles_close(f->rf);
    assert_int_equal(pl_recfiles_open(&f->env, f->dir, &f->rf), PL_OK);
    assert_int_equal(pl_recfiles_recover(f->rf), 1);
    assert_int_equal(pl_recfiles_load(f->rf, a.id, &got), PL_OK);
    assert_int_equal(got.state, PL_REC_INTERRUPTED);
    assert_true(got.ended_ms >= mtime);
    assert_int_equal(got.n_files, 3);
    assert_null(pl_rec_manifest_file(&got, "p3.webm"));
    assert_int_equal(pl_rec_manifest_file(&got, "p2.webm")->bytes, 23);
    assert_int_equal(pl_rec_manifest_file(&got, "p1.webm")->bytes, 25);
    assert_int_equal(got.n_speech, 2);
    pl_rec_manifest_clear(&f->env, &got);
    assert_int_equal(pl_recfiles_load(f->rf, done.id, &got), PL_OK);
    assert_int_equal(got.state, PL_REC_FINISHED);
    assert_int_equal(got.ended_ms, 62000);
    pl_rec_manifest_clear(&f->env, &got);
    /* Nothing more to do the second time. */
    assert_int_equal(pl_recfiles_recover(f->rf), 0);
    pl_rec_manifest_clear(&f->env, &a);
    pl_rec_manifest_clear(&f->env, &done);
}

static void test_open_url(void **state)
{
    fx *f = *state;
    pl_rec_manifest a, got;
    make_meeting(f, "r", 1000, false, &a);
    char url[256], path[PATH_MAX];
    int fd;

    snprintf(url, sizeof(url), "/recordings/%s/p1.webm", a.id);
    assert_int_equal(pl_recfiles_open_url(f->rf, url, &got, &fd, path, sizeof(path)), PL_OK);
    char buf[64] = {0};
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 25);
    assert_string_equal(buf, "webm of ann, twenty-six b");
    close(fd);
    assert_string_equal(got.id, a.id);
    char want[PATH_MAX];
    rec_path(f, a.id, "p1.webm", want);
    assert_string_equal(path, want);
    pl_rec_manifest_clear(&f->env, &got);
    char tiny[8];
    assert_int_equal(pl_recfiles_open_url(f->rf, url, &got, &fd, tiny, sizeof(tiny)), PL_ENOSPC);
    assert_int_equal(fd, -1);
    pl_rec_manifest_clear(&f->env, &got);

    /* Hostile files inside the recording: a symlink out, a FIFO, a
     * directory, each named in the manifest. */
    char outside[PATH_MAX + 16];
    snprintf(outside, sizeof(outside), "%s/secret", f->dir);
    write_file(outside, "secret");
    rec_path(f, a.id, "link.webm", path);
    assert_int_equal(symlink(outside, path), 0);
    rec_path(f, a.id, "fifo.webm", path);
    assert_int_equal(mkfifo(path, 0600), 0);
    rec_path(f, a.id, "dir.webm", path);
    assert_int_equal(mkdir(path, 0700), 0);
    rec_path(f, a.id, "unlisted.webm", path);
    write_file(path, "not in the manifest");
    add_file(f, &a, "link.webm", "p4", "");
    add_file(f, &a, "fifo.webm", "p5", "");
    add_file(f, &a, "dir.webm", "p6", "");
    a.state = PL_REC_RECORDING; /* so that the listing does not ask them to be files */
    a.ended_ms = 0;
    assert_int_equal(pl_recfiles_update(f->rf, &a), PL_OK);
    /* And a recording directory that is a symlink to another one. */
    char alias_id[PL_REC_ID_LEN + 1] = "ZZZZZZZZZZZZZZZZZZZZZZ";
    char alias[PATH_MAX], target[PATH_MAX];
    rec_path(f, alias_id, NULL, alias);
    rec_path(f, a.id, NULL, target);
    assert_int_equal(symlink(target, alias), 0);

    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const char *id = a.id;
    char hostile[32][256];
    const char *fmts[] = {
        "/recordings/%s/link.webm",
        "/recordings/%s/fifo.webm",
        "/recordings/%s/dir.webm",
        "/recordings/%s/unlisted.webm",
        "/recordings/%s/manifest.json",
        "/recordings/%s/manifest.json.tmp",
        "/recordings/%s/",
        "/recordings/%s",
        "/recordings/%s/../%s/p1.webm",
        "/recordings/%s/..%%2Fsecret",
        "/recordings/%s/..%%2fsecret",
        "/recordings/%s/%%2e%%2e/secret",
        "/recordings/%s/p1.webm%%00.txt",
        "/recordings/%s/p1.webm/",
        "/recordings/%s//p1.webm",
        "/recordings/%s/./p1.webm",
        "/recordings/%s/..",
        "/recordings/%s/p1.webm?x=1",
        "/recordings/%s\\p1.webm",
        "/recordings/%s/sub/p1.webm",
        "/Recordings/%s/p1.webm",
        "recordings/%s/p1.webm",
        "//recordings/%s/p1.webm",
        "/recordings//%s/p1.webm",
        "/x/recordings/%s/p1.webm",
        "/recordings/%s/.p1.webm",
    };
    size_t n = sizeof(fmts) / sizeof(fmts[0]);
    for (size_t i = 0; i < n; i++)
        snprintf(hostile[i], sizeof(hostile[i]), fmts[i], id, id);
    snprintf(hostile[n++], sizeof(hostile[0]), "/recordings/%s/p1.webm", alias_id);
    snprintf(hostile[n++], sizeof(hostile[0]), "/recordings/../secret");
    snprintf(hostile[n++], sizeof(hostile[0]), "/recordings/%s/%s", id, longname);
    snprintf(hostile[n++], sizeof(hostile[0]), "/recordings/AAAAAAAAAAAAAAAAAAAAAA/p1.webm");
    snprintf(hostile[n++], sizeof(hostile[0]), "/recordings/%.21s/p1.webm", id);
    hostile[n++][0] = '\0';
    for (size_t i = 0; i < n; i++) {
        print_message("# refuses %s\n", hostile[i]);
        fd = 123;
        assert_int_equal(pl_recfiles_open_url(f->rf, hostile[i], &got, &fd, path, sizeof(path)),
                         PL_ENOTFOUND);
        assert_int_equal(fd, -1);
        pl_rec_manifest_clear(&f->env, &got);
    }
    assert_int_equal(pl_recfiles_open_url(f->rf, NULL, &got, &fd, NULL, 0), PL_ENOTFOUND);
    pl_rec_manifest_clear(&f->env, &got);
    /* The recording's own files still play. */
    snprintf(url, sizeof(url), "/recordings/%s/mix.ogg", id);
    assert_int_equal(pl_recfiles_open_url(f->rf, url, &got, &fd, NULL, 0), PL_OK);
    close(fd);
    pl_rec_manifest_clear(&f->env, &got);
    /* The symlinked recording directory is not listed either. */
    assert_int_equal(count_listed(f, NULL), 1);
    pl_rec_manifest_clear(&f->env, &a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_display_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_list_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_url, setup, teardown),
    };
    return cmocka_run_group_tests_name("recfiles", tests, NULL, NULL);
}
