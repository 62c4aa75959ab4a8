#include "parley/ice.h"

#include <stdio.h>
#include <string.h>

#include "parley/stun.h"

#define SEC 1000000LL
#define TX_SLOTS 8
#define TX_SLOT_SIZE 256
#define VALIDATED_MAX 4
#define CONSENT_PENDING 4
/* RFC 8489 RTO; shorter first retransmission than the RFC's 500 ms since
 * the server is on the same path the media will take. */
#define RTO_INITIAL_US 250000
#define RTO_MAX_US 3000000
/* Candidate priority of our checks: peer-reflexive type preference 110,
 * highest local preference, component 1 (RFC 8445 5.1.2.1). */
#define CHECK_PRIORITY ((110u << 24) | (65535u << 8) | 255u)

typedef struct tx_slot {
    pl_addr to;
    size_t len;
    uint8_t data[TX_SLOT_SIZE];
} tx_slot;

typedef struct check {
    pl_addr to;
    uint8_t tid[12];
    int64_t next_send;
    int64_t rto;
    bool active;
} check;

struct pl_ice {
    pl_env env;
    enum pl_ice_role role;
    enum pl_ice_state state;
    enum pl_ice_failure failure;
    char ufrag[PL_ICE_UFRAG_MAX + 1];
    char pwd[PL_ICE_PWD_MAX + 1];
    char remote_ufrag[PL_ICE_UFRAG_MAX + 1];
    char remote_pwd[PL_ICE_PWD_MAX + 1];
    uint64_t tie_breaker;
    int64_t consent_timeout, connect_timeout, keepalive;

    int64_t started_at;
    int64_t last_consent;
    bool has_selected;
    pl_addr selected;
    pl_addr validated[VALIDATED_MAX];
    size_t n_validated, next_validated;

    /* Controlling role. */
    check checks[PL_ICE_MAX_CANDIDATES];
    size_t n_checks;
    int64_t next_keepalive;
    uint8_t consent_tids[CONSENT_PENDING][12];
    size_t next_consent_tid;

    tx_slot tx[TX_SLOTS];
    size_t tx_head, tx_count;
    pl_ice_stats stats;
};

static void random_ice_string(const pl_env *env, char *out, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t r[PL_ICE_PWD_MAX];
    pl_env_random(env, r, n);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[r[i] & 63];
    out[n] = '\0';
}

/* ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 5.4). */
static bool valid_ice_string(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

pl_ice *pl_ice_create(const pl_env *env, const pl_ice_config *cfg)
{
    if ((cfg->ufrag && !valid_ice_string(cfg->ufrag, 4, PL_ICE_UFRAG_MAX)) ||
        (cfg->pwd && !valid_ice_string(cfg->pwd, 22, PL_ICE_PWD_MAX)))
        return NULL;
    pl_ice *ice = pl_env_alloc(env, sizeof(*ice));
    if (!ice)
        return NULL;
    ice->env = *env;
    ice->role = cfg->role;
    ice->state = PL_ICE_NEW;
    if (cfg->ufrag)
        strcpy(ice->ufrag, cfg->ufrag);
    else
        random_ice_string(env, ice->ufrag, 8);
    if (cfg->pwd)
        strcpy(ice->pwd, cfg->pwd);
    else
        random_ice_string(env, ice->pwd, 24);
    uint8_t tb[8];
    pl_env_random(env, tb, sizeof(tb));
    for (int i = 0; i < 8; i++)
        ice->tie_breaker = ice->tie_breaker << 8 | tb[i];
    ice->consent_timeout = cfg->consent_timeout_us > 0 ? cfg->consent_timeout_us : 30 * SEC;
    ice->connect_timeout = cfg->connect_timeout_us > 0 ? cfg->connect_timeout_us : 30 * SEC;
    ice->keepalive = cfg->keepalive_us > 0 ? cfg->keepalive_us : 5 * SEC;
    return ice;
}

void pl_ice_destroy(pl_ice *ice)
{
    if (ice)
        pl_env_free(&ice->env, ice);
}

const char *pl_ice_local_ufrag(const pl_ice *ice)
{
    return ice->ufrag;
}

const char *pl_ice_local_pwd(const pl_ice *ice)
{
    return ice->pwd;
}

int pl_ice_set_remote(pl_ice *ice, const char *ufrag, const char *pwd)
{
    if (!valid_ice_string(ufrag, 4, PL_ICE_UFRAG_MAX) || !valid_ice_string(pwd, 22, PL_ICE_PWD_MAX))
        return PL_EINVAL;
    strcpy(ice->remote_ufrag, ufrag);
    strcpy(ice->remote_pwd, pwd);
    return PL_OK;
}

int pl_ice_restart(pl_ice *ice, int64_t now_us, const char *local_ufrag, const char *local_pwd,
                   const char *remote_ufrag, const char *remote_pwd)
{
    if (ice->role != PL_ICE_LITE)
        return PL_EUNSUPPORTED;
    if (ice->state == PL_ICE_FAILED)
        return PL_ESTATE;
    if (!valid_ice_string(local_ufrag, 4, PL_ICE_UFRAG_MAX) ||
        !valid_ice_string(local_pwd, 22, PL_ICE_PWD_MAX) ||
        !valid_ice_string(remote_ufrag, 4, PL_ICE_UFRAG_MAX) ||
        !valid_ice_string(remote_pwd, 22, PL_ICE_PWD_MAX))
        return PL_EINVAL;
    strcpy(ice->ufrag, local_ufrag);
    strcpy(ice->pwd, local_pwd);
    strcpy(ice->remote_ufrag, remote_ufrag);
    strcpy(ice->remote_pwd, remote_pwd);
    if (ice->state == PL_ICE_CONNECTED)
        ice->last_consent = now_us;
    return PL_OK;
}

int pl_ice_add_remote_candidate(pl_ice *ice, const pl_addr *addr)
{
    if (ice->role != PL_ICE_CONTROLLING)
        return PL_ESTATE;
    if (ice->n_checks == PL_ICE_MAX_CANDIDATES)
        return PL_ENOSPC;
    check *c = &ice->checks[ice->n_checks++];
    memset(c, 0, sizeof(*c));
    c->to = *addr;
    return PL_OK;
}

static void new_tid(pl_ice *ice, uint8_t tid[12])
{
    pl_env_random(&ice->env, tid, 12);
}

static int64_t jittered(pl_ice *ice, int64_t base)
{
    /* 0.8x .. 1.2x, so that many transports do not check in lockstep. */
    uint32_t r = pl_env_random_u32(&ice->env) % 4001;
    return base * (8000 + (int64_t)r) / 10000;
}

static void start_checks(pl_ice *ice, int64_t now)
{
    for (size_t i = 0; i < ice->n_checks; i++) {
        check *c = &ice->checks[i];
        c->active = true;
        c->next_send = now;
        c->rto = RTO_INITIAL_US;
        new_tid(ice, c->tid);
    }
}

int pl_ice_start(pl_ice *ice, int64_t now_us)
{
    if (ice->state != PL_ICE_NEW)
        return PL_ESTATE;
    if (ice->role == PL_ICE_CONTROLLING && (!ice->remote_ufrag[0] || ice->n_checks == 0))
        return PL_ESTATE;
    ice->state = PL_ICE_CHECKING;
    ice->started_at = now_us;
    if (ice->role == PL_ICE_CONTROLLING)
        start_checks(ice, now_us);
    return PL_OK;
}

static uint8_t *tx_push(pl_ice *ice, const pl_addr *to, size_t *cap)
{
    if (ice->tx_count == TX_SLOTS) {
        ice->stats.transmit_dropped++;
        return NULL;
    }
    tx_slot *s = &ice->tx[(ice->tx_head + ice->tx_count) % TX_SLOTS];
    s->to = *to;
    s->len = 0;
    *cap = sizeof(s->data);
    return s->data;
}

static void tx_commit(pl_ice *ice, int len)
{
    if (len <= 0)
        return;
    ice->tx[(ice->tx_head + ice->tx_count) % TX_SLOTS].len = (size_t)len;
    ice->tx_count++;
}

int pl_ice_poll_transmit(pl_ice *ice, uint8_t *out, size_t cap, pl_addr *to)
{
    if (ice->tx_count == 0)
        return PL_EAGAIN;
    tx_slot *s = &ice->tx[ice->tx_head];
    if (s->len > cap)
        return PL_ENOSPC;
    memcpy(out, s->data, s->len);
    *to = s->to;
    ice->tx_head = (ice->tx_head + 1) % TX_SLOTS;
    ice->tx_count--;
    return (int)s->len;
}

static void send_error(pl_ice *ice, const pl_stun_msg *req, const pl_addr *to, uint16_t code,
                       const char *reason, bool with_integrity)
{
    size_t cap;
    uint8_t *p = tx_push(ice, to, &cap);
    if (!p)
        return;
    pl_wbuf w = pl_wbuf_make(p, cap);
    pl_stun_begin(&w, PL_STUN_ERROR, PL_STUN_METHOD_BINDING, req->tid);
    pl_stun_add_error(&w, code, reason);
    tx_commit(ice, with_integrity
                       ? pl_stun_finish(&w, (const uint8_t *)ice->pwd, strlen(ice->pwd), true)
                       : pl_stun_finish(&w, NULL, 0, true));
}

static void send_check(pl_ice *ice, const pl_addr *to, const uint8_t tid[12], bool nominate)
{
    size_t cap;
    uint8_t *p = tx_push(ice, to, &cap);
    if (!p)
        return;
    char username[2 * PL_ICE_UFRAG_MAX + 2];
    size_t ulen =
        (size_t)snprintf(username, sizeof(username), "%s:%s", ice->remote_ufrag, ice->ufrag);
    pl_wbuf w = pl_wbuf_make(p, cap);
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, username, ulen);
    pl_stun_add_u32(&w, PL_STUN_ATTR_PRIORITY, CHECK_PRIORITY);
    pl_stun_add_u64(&w, PL_STUN_ATTR_ICE_CONTROLLING, ice->tie_breaker);
    if (nominate)
        pl_stun_add_flag(&w, PL_STUN_ATTR_USE_CANDIDATE);
    tx_commit(ice,
              pl_stun_finish(&w, (const uint8_t *)ice->remote_pwd, strlen(ice->remote_pwd), true));
}

static void remember_validated(pl_ice *ice, const pl_addr *from)
{
    if (pl_ice_is_validated(ice, from))
        return;
    ice->validated[ice->next_validated] = *from;
    ice->next_validated = (ice->next_validated + 1) % VALIDATED_MAX;
    if (ice->n_validated < VALIDATED_MAX)
        ice->n_validated++;
}

static void select_address(pl_ice *ice, int64_t now, const pl_addr *addr)
{
    if (!ice->has_selected || !pl_addr_equal(&ice->selected, addr)) {
        ice->selected = *addr;
        ice->has_selected = true;
        ice->stats.selections++;
    }
    ice->last_consent = now;
    ice->state = PL_ICE_CONNECTED;
}

static int handle_request(pl_ice *ice, int64_t now, const pl_addr *from, const pl_stun_msg *m)
{
    if (!m->username || !m->has_integrity) {
        ice->stats.rejected_bad++;
        send_error(ice, m, from, 400, "Bad Request", false);
        return PL_EAUTH;
    }
    /* USERNAME is "<our ufrag>:<their ufrag>" (RFC 8445 7.2.2). */
    size_t ul = strlen(ice->ufrag);
    if (m->username_len <= ul || memcmp(m->username, ice->ufrag, ul) != 0 ||
        m->username[ul] != ':') {
        ice->stats.dropped_ufrag++;
        return PL_EAUTH;
    }
    if (pl_stun_check_integrity(m, (const uint8_t *)ice->pwd, strlen(ice->pwd)) != PL_OK) {
        ice->stats.rejected_auth++;
        send_error(ice, m, from, 401, "Unauthorized", false);
        return PL_EAUTH;
    }
    if (m->n_unknown > 0) {
        ice->stats.rejected_bad++;
        send_error(ice, m, from, 420, "Unknown Attribute", true);
        return PL_EUNSUPPORTED;
    }
    /* A lite agent is always controlled: a peer claiming to be controlled
     * too is a role conflict the peer must resolve (RFC 8445 7.3.1.1). */
    bool conflict = ice->role == PL_ICE_LITE
                        ? m->has_controlled
                        : m->has_controlling && ice->tie_breaker >= m->controlling;
    if (conflict) {
        ice->stats.role_conflicts++;
        send_error(ice, m, from, 487, "Role Conflict", true);
        return PL_ESTATE;
    }

    size_t cap;
    uint8_t *p = tx_push(ice, from, &cap);
    if (p) {
        pl_wbuf w = pl_wbuf_make(p, cap);
        pl_stun_begin(&w, PL_STUN_SUCCESS, PL_STUN_METHOD_BINDING, m->tid);
        pl_stun_add_xor_address(&w, PL_STUN_ATTR_XOR_MAPPED_ADDRESS, m->tid, from);
        tx_commit(ice, pl_stun_finish(&w, (const uint8_t *)ice->pwd, strlen(ice->pwd), true));
    }
    ice->stats.requests_ok++;
    remember_validated(ice, from);

    if (ice->role == PL_ICE_LITE && ice->state != PL_ICE_FAILED) {
        if (m->use_candidate)
            select_address(ice, now, from); /* also follows a client's new address */
        else
            pl_ice_note_traffic(ice, now, from); /* RFC 7675 consent refresh */
    }
    return PL_OK;
}

void pl_ice_note_traffic(pl_ice *ice, int64_t now_us, const pl_addr *from)
{
    /* The controlling side asks for consent itself (RFC 7675): only its
     * own checks' answers count there. */
    if (ice->role == PL_ICE_LITE && ice->state == PL_ICE_CONNECTED &&
        pl_addr_equal(&ice->selected, from))
        ice->last_consent = now_us;
}

static int handle_response(pl_ice *ice, int64_t now, const pl_addr *from, const pl_stun_msg *m)
{
    if (ice->role != PL_ICE_CONTROLLING || ice->state == PL_ICE_FAILED) {
        ice->stats.responses_dropped++;
        return PL_ESTATE;
    }
    check *match = NULL;
    for (size_t i = 0; i < ice->n_checks; i++)
        if (ice->checks[i].active && memcmp(ice->checks[i].tid, m->tid, 12) == 0)
            match = &ice->checks[i];
    bool consent = false;
    for (size_t i = 0; !match && i < CONSENT_PENDING; i++)
        consent = consent || memcmp(ice->consent_tids[i], m->tid, 12) == 0;
    if (!match && !consent) {
        ice->stats.responses_dropped++;
        return PL_ENOTFOUND;
    }
    /* Responses are authenticated with the password of the agent we asked. */
    if (pl_stun_check_integrity(m, (const uint8_t *)ice->remote_pwd, strlen(ice->remote_pwd)) !=
        PL_OK) {
        ice->stats.responses_dropped++;
        return PL_EAUTH;
    }
    if (match && !pl_addr_equal(&match->to, from)) {
        ice->stats.responses_dropped++;
        return PL_EAUTH; /* RFC 8445 7.2.5.2.1: non-symmetric */
    }
    if (consent && (!ice->has_selected || !pl_addr_equal(&ice->selected, from))) {
        ice->stats.responses_dropped++;
        return PL_EAUTH;
    }
    if (m->cls == PL_STUN_ERROR) {
        /* A 487 would mean the server is controlling too, which a lite
         * server never is; keep retransmitting until the connect timeout. */
        ice->stats.responses_dropped++;
        return PL_EAUTH;
    }
    ice->stats.responses_ok++;
    remember_validated(ice, from);
    if (match && ice->state != PL_ICE_CONNECTED) {
        /* USE-CANDIDATE went with the check, so a success nominates. */
        for (size_t i = 0; i < ice->n_checks; i++)
            ice->checks[i].active = false;
        select_address(ice, now, from);
        ice->next_keepalive = now + jittered(ice, ice->keepalive);
    } else {
        ice->last_consent = now;
    }
    return PL_OK;
}

int pl_ice_handle_stun(pl_ice *ice, int64_t now_us, const pl_addr *from, const uint8_t *data,
                       size_t len)
{
    pl_stun_msg m;
    if (pl_stun_decode(&m, data, len) != PL_OK || m.method != PL_STUN_METHOD_BINDING) {
        ice->stats.rejected_bad++;
        return PL_EMALFORMED;
    }
    switch (m.cls) {
    case PL_STUN_REQUEST:
        return handle_request(ice, now_us, from, &m);
    case PL_STUN_SUCCESS:
    case PL_STUN_ERROR:
        return handle_response(ice, now_us, from, &m);
    case PL_STUN_INDICATION:
        /* A keepalive (RFC 8445 11). It carries no credentials, so it
         * proves less than a check: whoever can send from the selected
         * address keeps the transport alive with it. But libnice keeps a
         * pair alive with nothing else, a lite server cannot ask for more,
         * and all it keeps is a transport to an address that once proved
         * the password. */
        ice->stats.indications++;
        pl_ice_note_traffic(ice, now_us, from);
        return PL_OK;
    }
    return PL_EMALFORMED;
}

void pl_ice_path_closed(pl_ice *ice, const pl_addr *addr)
{
    for (size_t i = 0; i < ice->n_validated; i++)
        if (pl_addr_equal(&ice->validated[i], addr))
            memset(&ice->validated[i], 0, sizeof(ice->validated[i])); /* matches nothing */
    if (ice->role == PL_ICE_LITE && ice->state == PL_ICE_CONNECTED && ice->has_selected &&
        pl_addr_equal(&ice->selected, addr)) {
        ice->state = PL_ICE_FAILED;
        ice->failure = PL_ICE_FAIL_CONSENT;
    }
}

void pl_ice_handle_timeout(pl_ice *ice, int64_t now_us)
{
    if (ice->state == PL_ICE_CHECKING && now_us - ice->started_at >= ice->connect_timeout) {
        ice->state = PL_ICE_FAILED;
        /* A controlling agent selects on its first answer, so only a lite
         * one can have heard the peer and still be checking. */
        bool heard = ice->role == PL_ICE_LITE && ice->stats.requests_ok > 0;
        ice->failure = heard ? PL_ICE_FAIL_NO_NOMINATION : PL_ICE_FAIL_NO_CHECK;
        return;
    }
    if (ice->state == PL_ICE_CONNECTED && now_us - ice->last_consent >= ice->consent_timeout) {
        ice->state = PL_ICE_FAILED;
        ice->failure = PL_ICE_FAIL_CONSENT;
        return;
    }
    if (ice->role != PL_ICE_CONTROLLING)
        return;
    if (ice->state == PL_ICE_CHECKING) {
        for (size_t i = 0; i < ice->n_checks; i++) {
            check *c = &ice->checks[i];
            if (!c->active || c->next_send > now_us)
                continue;
            if (c->rto > RTO_INITIAL_US) /* not the first send */
                ice->stats.retransmits++;
            send_check(ice, &c->to, c->tid, true);
            c->next_send = now_us + c->rto;
            c->rto = c->rto * 2 > RTO_MAX_US ? RTO_MAX_US : c->rto * 2;
        }
    } else if (ice->state == PL_ICE_CONNECTED && now_us >= ice->next_keepalive) {
        /* Consent checks are fresh transactions, not retransmissions
         * (RFC 7675 5.1); any answered one within the window keeps consent. */
        uint8_t *tid = ice->consent_tids[ice->next_consent_tid];
        ice->next_consent_tid = (ice->next_consent_tid + 1) % CONSENT_PENDING;
        new_tid(ice, tid);
        /* Nominating again is a no-op for an unchanged path, and it is what
         * moves a lite agent to the client's new address after a NAT
         * rebinding or a network change (the lite side only switches on
         * USE-CANDIDATE). */
        send_check(ice, &ice->selected, tid, true);
        ice->next_keepalive = now_us + jittered(ice, ice->keepalive);
    }
}

int64_t pl_ice_next_timeout(const pl_ice *ice)
{
    int64_t t = INT64_MAX;
    if (ice->state == PL_ICE_CHECKING) {
        t = ice->started_at + ice->connect_timeout;
        for (size_t i = 0; ice->role == PL_ICE_CONTROLLING && i < ice->n_checks; i++)
            if (ice->checks[i].active && ice->checks[i].next_send < t)
                t = ice->checks[i].next_send;
    } else if (ice->state == PL_ICE_CONNECTED) {
        t = ice->last_consent + ice->consent_timeout;
        if (ice->role == PL_ICE_CONTROLLING && ice->next_keepalive < t)
            t = ice->next_keepalive;
    }
    return t;
}

enum pl_ice_state pl_ice_state(const pl_ice *ice)
{
    return ice->state;
}

enum pl_ice_failure pl_ice_failure(const pl_ice *ice)
{
    return ice->failure;
}

bool pl_ice_selected(const pl_ice *ice, pl_addr *out)
{
    if (ice->has_selected && out)
        *out = ice->selected;
    return ice->has_selected;
}

bool pl_ice_is_validated(const pl_ice *ice, const pl_addr *addr)
{
    for (size_t i = 0; i < ice->n_validated; i++)
        if (pl_addr_equal(&ice->validated[i], addr))
            return true;
    return false;
}

const pl_ice_stats *pl_ice_stats_get(const pl_ice *ice)
{
    return &ice->stats;
}
