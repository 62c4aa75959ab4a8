/* What is read from files: the access-token secret, the TURN secret and
 * the TLS certificate, at start and again on SIGHUP. A reload builds the
 * new object apart and swaps it in only when the whole of it is good, so
 * a bad file leaves the server with what it had, and says why. Sessions
 * under way keep what they were admitted with; new hellos and new TLS
 * connections get the new secrets and certificate. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server.h"

/* The access-token secret from auth-secret or auth-secret-file (a trailing
 * newline is not part of it): 0 with *out (NULL: open mode), or -1 with
 * why. */
static int make_auth(const server *srv, pl_auth **out, char *why, size_t n)
{
    const options *o = &srv->opt;
    char buf[PL_AUTH_MAX_SECRET + 1];
    const char *secret = o->auth_secret;
    *out = NULL;
    if (o->auth_secret_file) {
        if (pl_auth_read_secret(o->auth_secret_file, buf, sizeof(buf)) != PL_OK) {
            snprintf(why, n, "cannot read the secret file %s", o->auth_secret_file);
            return -1;
        }
        secret = buf;
    }
    if (!secret)
        return 0;
    int rc = pl_auth_create(&srv->env, (const uint8_t *)secret, strlen(secret), out);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != PL_OK) {
        snprintf(why, n, "the auth secret must be %d to %d bytes", PL_AUTH_MIN_SECRET,
                 PL_AUTH_MAX_SECRET);
        return -1;
    }
    return 0;
}

/* The TURN servers with the secret shared with them: 0 with *out (NULL
 * without turn-url), or -1 with why. */
static int make_turn(const server *srv, pl_turn **out, char *why, size_t n)
{
    const options *o = &srv->opt;
    *out = NULL;
    if (!o->n_turn_urls)
        return 0;
    char buf[PL_TURN_MAX_SECRET + 1];
    if (pl_auth_read_secret(o->turn_secret_file, buf, sizeof(buf)) != PL_OK) {
        snprintf(why, n, "cannot read the TURN secret file %s", o->turn_secret_file);
        return -1;
    }
    int rc = pl_turn_create(&srv->env, (const uint8_t *)buf, strlen(buf), o->turn_ttl, out);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != PL_OK) {
        snprintf(why, n, "the TURN secret in %s must be 1 to %d bytes", o->turn_secret_file,
                 PL_TURN_MAX_SECRET);
        return -1;
    }
    const char *w = NULL;
    for (size_t i = 0; i < o->n_turn_urls; i++)
        if (pl_turn_add_url(*out, o->turn_urls[i], &w) != PL_OK) {
            snprintf(why, n, "--turn-url '%s': %s", o->turn_urls[i], w);
            pl_turn_destroy(*out);
            *out = NULL;
            return -1;
        }
    return 0;
}

int srv_load_secrets(server *srv)
{
    const options *o = &srv->opt;
    char why[512];
    if (make_auth(srv, &srv->auth, why, sizeof(why)) ||
        make_turn(srv, &srv->turn, why, sizeof(why))) {
        fprintf(stderr, "parley: %s\n", why);
        return 1;
    }
    if (!srv->auth) {
        bool loopback = strcmp(o->bind, "127.0.0.1") == 0 || strcmp(o->bind, "::1") == 0 ||
                        strcmp(o->bind, "localhost") == 0;
        /* Open mode on anything but loopback is said out loud: anyone who
         * reaches the port may join any room. */
        if (!loopback)
            fprintf(stderr,
                    "parley: warning: open mode on %s: anyone who reaches this port can "
                    "join any room; use --auth-secret-file\n",
                    o->bind);
    }
    if (srv->turn)
        printf("turn: %zu server%s, credentials for %d s\n", o->n_turn_urls,
               o->n_turn_urls == 1 ? "" : "s", o->turn_ttl);
    return 0;
}

/* Reloaders: each reads its files again and swaps what it made in, or
 * leaves the old in place and says why; 0 when reloaded, 1 with nothing
 * to reload, -1 on error (said in why). */

static int reload_auth(server *srv, char *why, size_t n)
{
    if (!srv->opt.auth_secret_file)
        return 1; /* a secret on the command line cannot have changed */
    pl_auth *fresh;
    if (make_auth(srv, &fresh, why, n))
        return -1;
    pl_sig_set_auth(srv->sig, fresh);
    pl_auth_destroy(srv->auth);
    srv->auth = fresh;
    return 0;
}

static int reload_turn(server *srv, char *why, size_t n)
{
    if (!srv->turn)
        return 1;
    pl_turn *fresh;
    if (make_turn(srv, &fresh, why, n))
        return -1;
    pl_sig_set_turn(srv->sig, fresh);
    pl_turn_destroy(srv->turn);
    srv->turn = fresh;
    return 0;
}

/* The certificate chain and key go into a context of their own first: only
 * when both load and match are they put into the listener's context, which
 * every new connection takes them from (lws serves on this thread only, so
 * no handshake starts in between). */
static int reload_tls(server *srv, char *why, size_t n)
{
    const options *o = &srv->opt;
    if (!o->tls_cert)
        return 1; /* plain, or a self-signed certificate made at start */
    if (!srv->tls_ctx) {
        snprintf(why, n, "the listener's TLS context is unknown");
        return -1;
    }
    char fp[PL_TLS_FINGERPRINT_MAX], msg[512];
    if (pl_tls_check_files(o->tls_cert, o->tls_key, fp, msg, sizeof(msg))) {
        snprintf(why, n, "%s", msg);
        return -1;
    }
    SSL_CTX *trial = SSL_CTX_new(TLS_server_method());
    bool ok = trial && SSL_CTX_use_certificate_chain_file(trial, o->tls_cert) == 1 &&
              SSL_CTX_use_PrivateKey_file(trial, o->tls_key, SSL_FILETYPE_PEM) == 1 &&
              SSL_CTX_check_private_key(trial) == 1;
    SSL_CTX_free(trial);
    if (!ok || SSL_CTX_use_certificate_chain_file(srv->tls_ctx, o->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(srv->tls_ctx, o->tls_key, SSL_FILETYPE_PEM) != 1) {
        snprintf(why, n, "%s or %s could not be loaded (%s)", o->tls_cert, o->tls_key,
                 ERR_reason_error_string(ERR_peek_last_error()));
        ERR_clear_error();
        return -1;
    }
    if (msg[0])
        fprintf(stderr, "parley: warning: %s\n", msg);
    printf("tls: certificate SHA-256 fingerprint %s\n", fp);
    return 0;
}

/* To reload another file on SIGHUP, add its reloader here. */
static const struct {
    const char *what;
    int (*reload)(server *srv, char *why, size_t n);
} reloaders[] = {
    {"tls", reload_tls},
    {"auth", reload_auth},
    {"turn", reload_turn},
};

int srv_reload(server *srv)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof(reloaders) / sizeof(reloaders[0]); i++) {
        char why[512] = "";
        int rc = reloaders[i].reload(srv, why, sizeof(why));
        if (rc < 0) {
            fprintf(stderr, "parley: reload: %s: %s; keeping the one in use\n", reloaders[i].what,
                    why);
            failed++;
        } else if (rc == 0) {
            printf("reload: %s reloaded\n", reloaders[i].what);
        }
    }
    printf("reload: done%s\n", failed ? ", with errors" : "");
    fflush(stdout);
    return failed ? -1 : 0;
}
