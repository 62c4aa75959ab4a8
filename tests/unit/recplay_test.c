/* Who may play a recording: open mode, no token, the token's user listed,
 * its room claim, a token for any room, and the file types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/recplay.h"

static pl_auth_claims claims(const char *sub, const char *room)
{
    pl_auth_claims c;
    memset(&c, 0, sizeof(c));
    snprintf(c.sub, sizeof(c.sub), "%s", sub);
    snprintf(c.room, sizeof(c.room), "%s", room);
    return c;
}

static void test_status(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_rec_manifest m;
    pl_rec_manifest_init(&m);
    snprintf(m.room, sizeof(m.room), "standup");
    assert_int_equal(pl_rec_manifest_add_user(&env, &m, "ann"), PL_OK);

    /* Open mode: the id is the secret, whatever comes with the request. */
    assert_int_equal(pl_rec_play_status(&m, false, NULL), 200);
    pl_auth_claims other = claims("zed", "elsewhere");
    assert_int_equal(pl_rec_play_status(&m, false, &other), 200);

    /* Tokens on: none that verifies is a 401. */
    assert_int_equal(pl_rec_play_status(&m, true, NULL), 401);
    /* A listed user, whatever their room claim. */
    pl_auth_claims ann = claims("ann", "elsewhere");
    assert_int_equal(pl_rec_play_status(&m, true, &ann), 200);
    /* Room access off: the room claim alone is not enough. */
    pl_auth_claims bob = claims("bob", "standup");
    assert_int_equal(pl_rec_play_status(&m, true, &bob), 403);
    m.room_access = true;
    assert_int_equal(pl_rec_play_status(&m, true, &bob), 200);
    assert_int_equal(pl_rec_play_status(&m, true, &other), 403);
    /* A token without a room claim may be in any room, this one too. */
    pl_auth_claims any = claims("carol", "");
    assert_int_equal(pl_rec_play_status(&m, true, &any), 200);
    m.room_access = false;
    assert_int_equal(pl_rec_play_status(&m, true, &any), 403);
    pl_rec_manifest_clear(&env, &m);
}

static void test_content_type(void **state)
{
    (void)state;
    pl_rec_file f;
    memset(&f, 0, sizeof(f));
    f.kind = PL_REC_FILE_TRACKS;
    assert_string_equal(pl_rec_play_content_type(&f), "video/webm");
    f.kind = PL_REC_FILE_MIX;
    assert_string_equal(pl_rec_play_content_type(&f), "audio/ogg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_content_type),
    };
    return cmocka_run_group_tests_name("recplay", tests, NULL, NULL);
}
