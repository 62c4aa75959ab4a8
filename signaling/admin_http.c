/* The admin listener: a second lws vhost, off the public port, serving
 * /stats, /metrics and the admin API (docs/admin.md) to operators and
 * their tools. With a token configured every request must carry it as
 * `Authorization: Bearer`; without one the listener must be on loopback
 * (main.c refuses to start otherwise). Actions go to the signaling core
 * (pl_sig_admin_*), which tells the participants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "parley/adminroute.h"
#include "server.h"

#define BODY_MAX 1024

/* Per request (lws per_session_data_size): the route, waiting for its
 * body when it has one. */
typedef struct admin_req {
    pl_admin_route route;
    unsigned status; /* an error to answer with; 0: the route's answer */
    size_t len;
    bool too_big;
    char body[BODY_MAX + 1];
} admin_req;

int srv_http_respond(struct lws *wsi, unsigned status, const char *type, const char *body,
                     size_t len)
{
    unsigned char hdr[LWS_PRE + 512], *p = hdr + LWS_PRE, *end = hdr + sizeof(hdr);
    if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p, end))
        return -1;
    if (status == HTTP_STATUS_UNAUTHORIZED &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                    (const unsigned char *)"Bearer realm=\"parley-admin\"", 27, &p,
                                    end))
        return -1;
    if (lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
        return -1;
    if (len) {
        unsigned char *buf = malloc(LWS_PRE + len);
        if (!buf)
            return -1;
        memcpy(buf + LWS_PRE, body, len);
        int n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
        free(buf);
        if (n != (int)len)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int respond_json(struct lws *wsi, unsigned status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return -1;
    int rc = srv_http_respond(wsi, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

static int error(struct lws *wsi, unsigned status, const char *code, const char *message)
{
    return respond_json(wsi, status,
                        json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

int srv_admin_load_token(server *srv)
{
    const options *o = &srv->opt;
    bool loopback = strcmp(o->admin_bind, "127.0.0.1") == 0 || strcmp(o->admin_bind, "::1") == 0 ||
                    strcmp(o->admin_bind, "localhost") == 0;
    if (!o->admin_token_file) {
        if (!loopback) {
            fprintf(stderr,
                    "parley: the admin listener on %s needs --admin-token-file: it can remove "
                    "participants and close rooms\n",
                    o->admin_bind);
            return 1;
        }
        return 0;
    }
    char buf[PL_AUTH_MAX_SECRET + 1];
    if (pl_auth_read_secret(o->admin_token_file, buf, sizeof(buf)) != PL_OK || !buf[0]) {
        fprintf(stderr, "parley: cannot read a token from %s (one line, 1 to %d bytes)\n",
                o->admin_token_file, PL_AUTH_MAX_SECRET);
        OPENSSL_cleanse(buf, sizeof(buf));
        return 1;
    }
    /* Kept as a digest only: comparing digests takes the same time whatever
     * the length or content of what a client sent. */
    unsigned n = 0;
    EVP_Digest(buf, strlen(buf), srv->admin_token_sha256, &n, EVP_sha256(), NULL);
    OPENSSL_cleanse(buf, sizeof(buf));
    srv->admin_token = true;
    return 0;
}

static bool authorized(struct lws *wsi, const server *srv)
{
    if (!srv->admin_token)
        return true;
    char auth[PL_AUTH_MAX_SECRET + 64];
    int n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    static const char scheme[] = "Bearer ";
    if (n <= (int)sizeof(scheme) - 1 || strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0)
        return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    const char *token = auth + sizeof(scheme) - 1;
    EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
    bool ok = len == 32 && CRYPTO_memcmp(md, srv->admin_token_sha256, 32) == 0;
    OPENSSL_cleanse(auth, sizeof(auth));
    return ok;
}

static enum pl_admin_method method_of(struct lws *wsi)
{
    char *uri;
    int len;
    switch (lws_http_get_uri_and_method(wsi, &uri, &len)) {
    case LWSHUMETH_GET:
        return PL_ADMIN_GET;
    case LWSHUMETH_POST:
        return PL_ADMIN_POST;
    case LWSHUMETH_PUT:
        return PL_ADMIN_PUT;
    case LWSHUMETH_DELETE:
        return PL_ADMIN_DELETE;
    default:
        return PL_ADMIN_OTHER;
    }
}

static int not_found(struct lws *wsi, int rc, const char *what)
{
    if (rc == PL_ENOTFOUND)
        return error(wsi, HTTP_STATUS_NOT_FOUND, "not_found", what);
    return error(wsi, HTTP_STATUS_BAD_REQUEST, "bad_request", pl_strerror(rc));
}

static int set_limit(struct lws *wsi, server *srv, const admin_req *r)
{
    json_error_t jerr;
    json_t *body = r->too_big ? NULL : json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *v = json_object_get(body, "max_participants");
    json_int_t max = json_is_integer(v) ? json_integer_value(v) : 0;
    json_decref(body);
    if (max < 1 || max > 100000)
        return error(wsi, HTTP_STATUS_BAD_REQUEST, "bad_request",
                     "the body must be {\"max_participants\":N} with N from 1 to 100000");
    int rc = pl_sig_admin_set_limit(srv->sig, r->route.room, (size_t)max);
    if (rc != PL_OK)
        return not_found(wsi, rc, "no such room");
    return respond_json(wsi, HTTP_STATUS_OK,
                        json_pack("{s:s,s:I}", "room", r->route.room, "max_participants", max));
}

static int record(struct lws *wsi, server *srv, const admin_req *r)
{
    json_error_t jerr;
    json_t *body = r->too_big ? NULL : json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *v = json_object_get(body, "record");
    bool valid = json_is_boolean(v), on = json_is_true(v);
    json_decref(body);
    if (!valid)
        return error(wsi, HTTP_STATUS_BAD_REQUEST, "bad_request",
                     "the body must be {\"record\":true} or {\"record\":false}");
    char id[PL_SIG_RECORDING_ID_MAX + 1] = "";
    int rc = pl_sig_admin_record(srv->sig, r->route.room, on, id);
    if (rc == PL_ENOTFOUND)
        return error(wsi, HTTP_STATUS_NOT_FOUND, "not_found", "no such room");
    if (rc == PL_ENOSPC)
        return error(wsi, HTTP_STATUS_CONFLICT, "quota",
                     "the server's recordings bound leaves no room for another");
    if (rc != PL_OK)
        return error(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                     "the recording could not start (see the server's log)");
    json_t *m = json_pack("{s:s,s:b}", "room", r->route.room, "recording", on);
    if (m && on)
        json_object_set_new(m, "recording_id", json_string(id));
    return respond_json(wsi, HTTP_STATUS_OK, m);
}

static int dispatch(struct lws *wsi, server *srv, admin_req *r)
{
    const pl_admin_route *rt = &r->route;
    int rc;
    switch (rt->action) {
    case PL_ADMIN_STATS:
        return srv_serve_stats(wsi, srv);
    case PL_ADMIN_METRICS:
        return srv_serve_metrics(wsi, srv);
    case PL_ADMIN_ROOMS: {
        char *text = pl_sig_admin_rooms(srv->sig);
        if (!text)
            return error(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        rc = srv_http_respond(wsi, HTTP_STATUS_OK, "application/json", text, strlen(text));
        free(text);
        return rc;
    }
    case PL_ADMIN_CLOSE_ROOM:
        rc = pl_sig_admin_close_room(srv->sig, rt->room);
        return rc ? not_found(wsi, rc, "no such room")
                  : respond_json(wsi, HTTP_STATUS_OK, json_pack("{s:s}", "closed", rt->room));
    case PL_ADMIN_SET_LIMIT:
        return set_limit(wsi, srv, r);
    case PL_ADMIN_REMOVE:
        rc = pl_sig_admin_remove(srv->sig, rt->room, rt->participant);
        return rc ? not_found(wsi, rc, "no such participant in that room")
                  : respond_json(
                        wsi, HTTP_STATUS_OK,
                        json_pack("{s:s,s:s}", "room", rt->room, "removed", rt->participant));
    case PL_ADMIN_RECORDINGS:
        return srv_recordings_admin_list(wsi, srv, rt->room);
    case PL_ADMIN_RECORD:
        return record(wsi, srv, r);
    case PL_ADMIN_DELETE_RECORDING:
        rc = srv_recordings_admin_delete(srv, rt->recording);
        return rc ? not_found(wsi, rc, "no such recording")
                  : respond_json(wsi, HTTP_STATUS_OK, json_pack("{s:s}", "deleted", rt->recording));
    case PL_ADMIN_DRAIN: {
        /* The first SIGTERM's path (lifecycle.c), taken after this round. */
        int none = 0;
        atomic_compare_exchange_strong(&srv->terms, &none, 1);
        return respond_json(wsi, HTTP_STATUS_OK, json_pack("{s:b}", "draining", true));
    }
    case PL_ADMIN_MUTE:
    case PL_ADMIN_UNMUTE: {
        bool muted = rt->action == PL_ADMIN_MUTE;
        rc = pl_sig_admin_mute(srv->sig, rt->room, rt->participant, rt->track, muted);
        return rc ? not_found(wsi, rc, "no such track of that participant in that room")
                  : respond_json(wsi, HTTP_STATUS_OK,
                                 json_pack("{s:s,s:s,s:s,s:b}", "room", rt->room, "participant",
                                           rt->participant, "track", rt->track, "muted", muted));
    }
    }
    return -1;
}

/* Refused or answered at once, unless a body is on its way: then the
 * answer waits for its end, so that the body is never read as the next
 * request on the connection. */
static int answer(struct lws *wsi, server *srv, admin_req *r)
{
    switch (r->status) {
    case HTTP_STATUS_UNAUTHORIZED:
        return error(wsi, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
                     "this listener wants Authorization: Bearer <admin token>");
    case HTTP_STATUS_METHOD_NOT_ALLOWED:
        return error(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                     "this path does not take that method");
    case HTTP_STATUS_NOT_FOUND:
        return error(wsi, HTTP_STATUS_NOT_FOUND, "not_found", "no such path");
    default:
        if (r->too_big)
            return error(wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "bad_request",
                         "the body is over 1 KiB");
        return dispatch(wsi, srv, r);
    }
}

/* The token first: without it, nothing says which paths exist. */
static int on_request(struct lws *wsi, server *srv, admin_req *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    int rc = pl_admin_route_parse(method_of(wsi), path, &r->route);
    if (!authorized(wsi, srv))
        r->status = HTTP_STATUS_UNAUTHORIZED;
    else if (rc == PL_EUNSUPPORTED)
        r->status = HTTP_STATUS_METHOD_NOT_ALLOWED;
    else if (rc != PL_OK)
        r->status = HTTP_STATUS_NOT_FOUND;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        char cl[24] = "";
        lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
        if (atol(cl) > 0)
            return 0; /* LWS_CALLBACK_HTTP_BODY_COMPLETION answers */
    }
    return answer(wsi, srv, r);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    admin_req *r = user;
    server *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_request(wsi, srv, r, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (r->status)
            return 0; /* refused: read to its end, not kept */
        if (r->len + len > BODY_MAX)
            r->too_big = true;
        else {
            memcpy(r->body + r->len, in, len);
            r->len += len;
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return answer(wsi, srv, r);
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"parley.admin", callback, sizeof(admin_req), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int srv_admin_start(server *srv, const struct lws_context_creation_info *public_info)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.vhost_name = "admin";
    info.port = srv->opt.admin_port;
    info.iface = srv->opt.admin_bind;
    info.protocols = protocols;
    info.headers = public_info->headers;
    /* TLS as on the public port, with the same certificate: a token never
     * crosses a network in the clear when the server has one. */
    info.ssl_cert_filepath = public_info->ssl_cert_filepath;
    info.ssl_private_key_filepath = public_info->ssl_private_key_filepath;
    info.server_ssl_cert_mem = public_info->server_ssl_cert_mem;
    info.server_ssl_cert_mem_len = public_info->server_ssl_cert_mem_len;
    info.server_ssl_private_key_mem = public_info->server_ssl_private_key_mem;
    info.server_ssl_private_key_mem_len = public_info->server_ssl_private_key_mem_len;
    info.ssl_options_set = public_info->ssl_options_set;
    info.alpn = public_info->alpn;
    /* lws takes a vhost's certificate only with this option on it too. */
    info.options = public_info->options;
    struct lws_vhost *vh = lws_create_vhost(srv->ctx, &info);
    if (!vh) {
        fprintf(stderr, "parley: cannot listen for admin on %s:%d\n", srv->opt.admin_bind,
                srv->opt.admin_port);
        return 1;
    }
    srv->admin_port = lws_get_vhost_listen_port(vh);
    bool tls = srv->opt.tls_cert || srv->opt.tls_self_signed;
    printf("admin listening on %s://%s:%d%s\n", tls ? "https" : "http", srv->opt.admin_bind,
           srv->admin_port, srv->admin_token ? " (bearer token required)" : "");
    return 0;
}
