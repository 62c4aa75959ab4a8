#include "parley/recplay.h"

int pl_rec_play_status(const pl_rec_manifest *m, bool tokens_required, const pl_auth_claims *claims)
{
    if (!tokens_required)
        return 200;
    if (!claims)
        return 401;
    const char *room = claims->room[0] ? claims->room : m->room;
    return pl_rec_manifest_may_view(m, claims->sub, room) ? 200 : 403;
}

const char *pl_rec_play_content_type(const pl_rec_file *f)
{
    return f->kind == PL_REC_FILE_MIX ? "audio/ogg" : "video/webm";
}
