/* The media worker's command queue (inside media/, not public): commands
 * from any thread, checked and copied when they are queued, woken through
 * an eventfd, and taken by the worker thread in arrival order. */
#ifndef PARLEY_MEDIA_CMDQ_H
#define PARLEY_MEDIA_CMDQ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/rectap.h"
#include "parley/track.h"

enum pl_cmd_kind {
    PL_CMD_ADD,
    PL_CMD_REMOVE,
    PL_CMD_RESTART,
    PL_CMD_TRACKS,
    PL_CMD_ROUTES,
    PL_CMD_RECORD,
    PL_CMD_KEYFRAME
};

typedef struct pl_cmd {
    struct pl_cmd *next;
    enum pl_cmd_kind kind;
    uint64_t id;
    char local_ufrag[PL_ICE_CRED_MAX + 1], local_pwd[PL_ICE_CRED_MAX + 1];
    char remote_ufrag[PL_ICE_CRED_MAX + 1], remote_pwd[PL_ICE_CRED_MAX + 1];
    char fp_alg[PL_FP_ALG_MAX + 1], fp[PL_FP_MAX + 1];
    size_t n;
    pl_track tracks[PL_MAX_TRACKS];
    pl_route routes[PL_MAX_ROUTES];
    pl_rectap *tap; /* PL_CMD_RECORD: a reference the command holds; NULL stops */
    uint32_t ssrc;  /* PL_CMD_KEYFRAME */
} pl_cmd;

typedef struct pl_cmdq {
    pl_env env;
    pthread_mutex_t lock; /* guards head only */
    pl_cmd *head;         /* newest first */
    int wake_fd;          /* an eventfd, readable while commands wait */
} pl_cmdq;

int pl_cmdq_init(pl_cmdq *q, const pl_env *env);
/* Frees the commands still queued and closes the eventfd. */
void pl_cmdq_destroy(pl_cmdq *q);
/* Makes the eventfd readable (a command, or a stop request). */
void pl_cmdq_wake(pl_cmdq *q);
/* Every queued command, oldest first (free each with pl_cmdq_free, which
 * drops a reference the command still holds). */
pl_cmd *pl_cmdq_take(pl_cmdq *q);
void pl_cmdq_free(pl_cmdq *q, pl_cmd *c);

/* Queue one command: PL_EINVAL for strings or counts over the limits of
 * parley/track.h, PL_ENOMEM. */
int pl_cmdq_add_transport(pl_cmdq *q, uint64_t id, const char *local_ufrag, const char *local_pwd,
                          const char *remote_ufrag, const char *remote_pwd, const char *fp_alg,
                          const char *fp);
int pl_cmdq_restart_ice(pl_cmdq *q, uint64_t id, const char *local_ufrag, const char *local_pwd,
                        const char *remote_ufrag, const char *remote_pwd);
int pl_cmdq_remove(pl_cmdq *q, uint64_t id);
int pl_cmdq_set_tracks(pl_cmdq *q, uint64_t id, const pl_track *tracks, size_t n);
int pl_cmdq_set_routes(pl_cmdq *q, uint64_t id, const pl_route *routes, size_t n);
/* Takes a reference to tap (when not NULL) for the command. */
int pl_cmdq_record(pl_cmdq *q, uint64_t id, pl_rectap *tap);
int pl_cmdq_keyframe(pl_cmdq *q, uint64_t id, uint32_t ssrc);

#endif
