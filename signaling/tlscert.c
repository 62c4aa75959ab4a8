/* Certificates for the HTTPS/WSS listener (tlscert.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "parley/common.h"
#include "parley/tlscert.h"

#define MAX_NAMES 16
#define ENTRY_MAX 260 /* "DNS:" and a name of at most 253 characters */

static void format_fingerprint(X509 *x, char out[PL_TLS_FINGERPRINT_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    size_t pos = 0;
    out[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &n) != 1)
        return;
    for (unsigned i = 0; i < n && pos + 3 < PL_TLS_FINGERPRINT_MAX; i++)
        pos +=
            (size_t)snprintf(out + pos, PL_TLS_FINGERPRINT_MAX - pos, i ? ":%02X" : "%02X", md[i]);
}

static bool all_zero(const unsigned char *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i])
            return false;
    return true;
}

/* The subjectAltName entry for a name, or "" when it cannot be one. IP
 * addresses are written back in canonical form so duplicates show. Names
 * are restricted to what a host name may hold: the entries are joined into
 * OpenSSL's comma-separated configuration syntax. */
static void san_entry(const char *name, char out[ENTRY_MAX])
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    out[0] = '\0';
    int family = inet_pton(AF_INET, name, a) == 1    ? AF_INET
                 : inet_pton(AF_INET6, name, a) == 1 ? AF_INET6
                                                     : 0;
    if (family) {
        /* A wildcard bind address names no host a browser could ask for. */
        if (!all_zero(a, family == AF_INET ? 4 : 16) && inet_ntop(family, a, text, sizeof(text)))
            snprintf(out, ENTRY_MAX, "IP:%s", text);
        return;
    }
    size_t len = strlen(name);
    if (len == 0 || len > 253)
        return;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return;
    snprintf(out, ENTRY_MAX, "DNS:%s", name);
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

static bool build(X509 *x, EVP_PKEY *key, int days, const char *san)
{
    X509_NAME *name = X509_NAME_new();
    BIGNUM *serial = BN_new();
    unsigned char rnd[16] = {0};
    bool ok = name && serial && RAND_bytes(rnd, sizeof(rnd)) == 1;
    rnd[0] &= 0x7f; /* serials are positive */
    ok = ok && BN_bin2bn(rnd, sizeof(rnd), serial) &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) && X509_set_version(x, 2);
    /* An hour early: the phone on the LAN may run a little behind. */
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600L) &&
         X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L);
    ok = ok &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"Parley self-signed", -1, -1, 0) &&
         X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) && X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    memset(&ctx, 0, sizeof(ctx));
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    /* A leaf, not a CA: Firefox reports a CA certificate in a server's
     * place as an error of its own, on top of the unknown issuer. */
    ok = ok && add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") &&
         add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") &&
         add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
         add_ext(x, &ctx, NID_subject_alt_name, san) && X509_sign(x, key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    BN_free(serial);
    return ok;
}

int pl_tls_cert_self_signed(const char *const *names, size_t n, int days, pl_tls_cert *out)
{
    if (!out)
        return PL_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!names || days < 1)
        return PL_EINVAL;
    char entries[MAX_NAMES][ENTRY_MAX];
    char san[MAX_NAMES * (ENTRY_MAX + 1)] = "";
    size_t used = 0, pos = 0;
    for (size_t i = 0; i < n && used < MAX_NAMES; i++) {
        if (!names[i])
            continue;
        san_entry(names[i], entries[used]);
        bool dup = !entries[used][0];
        for (size_t k = 0; k < used && !dup; k++)
            dup = strcmp(entries[k], entries[used]) == 0;
        if (dup)
            continue;
        pos +=
            (size_t)snprintf(san + pos, sizeof(san) - pos, "%s%s", used ? "," : "", entries[used]);
        used++;
    }
    if (!used)
        return PL_EINVAL;

    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = key ? X509_new() : NULL;
    bool ok = x && build(x, key, days, san);
    int cert_len = ok ? i2d_X509(x, &out->cert_der) : -1;
    int key_len = cert_len > 0 ? i2d_PrivateKey(key, &out->key_der) : -1;
    ok = cert_len > 0 && key_len > 0;
    if (ok) {
        out->cert_len = (size_t)cert_len;
        out->key_len = (size_t)key_len;
        format_fingerprint(x, out->fingerprint);
    }
    X509_free(x);
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!ok) {
        pl_tls_cert_clear(out);
        return PL_ECRYPTO;
    }
    return PL_OK;
}

void pl_tls_cert_clear(pl_tls_cert *c)
{
    if (!c)
        return;
    OPENSSL_free(c->cert_der);
    OPENSSL_clear_free(c->key_der, c->key_len);
    memset(c, 0, sizeof(*c));
}

/* Without it OpenSSL would prompt on the terminal for an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *user)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)user;
    return -1;
}

__attribute__((format(printf, 4, 5))) static int say(char *msg, size_t cap, int rc, const char *fmt,
                                                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return rc;
}

int pl_tls_check_files(const char *cert_path, const char *key_path,
                       char fingerprint[PL_TLS_FINGERPRINT_MAX], char *msg, size_t msg_cap)
{
    fingerprint[0] = '\0';
    msg[0] = '\0';
    FILE *f = fopen(cert_path, "r");
    if (!f)
        return say(msg, msg_cap, PL_EINVAL, "cannot open the certificate %s: %s", cert_path,
                   strerror(errno));
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x) {
        ERR_clear_error();
        return say(msg, msg_cap, PL_EINVAL, "%s holds no PEM certificate", cert_path);
    }
    f = fopen(key_path, "r");
    if (!f) {
        X509_free(x);
        return say(msg, msg_cap, PL_EINVAL, "cannot open the private key %s: %s", key_path,
                   strerror(errno));
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    int rc = PL_OK;
    if (!key)
        rc = say(msg, msg_cap, PL_EINVAL,
                 "%s holds no PEM private key, or one protected by a passphrase "
                 "(not supported)",
                 key_path);
    else if (X509_check_private_key(x, key) != 1)
        rc = say(msg, msg_cap, PL_EAUTH, "the private key %s does not belong to the certificate %s",
                 key_path, cert_path);
    /* Served anyway, as browsers let their user decide; but say so now
     * rather than leave the operator to read it off a browser's warning. */
    else if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        say(msg, msg_cap, PL_OK, "the certificate %s has expired", cert_path);
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        say(msg, msg_cap, PL_OK, "the certificate %s is not valid yet", cert_path);
    if (rc == PL_OK)
        format_fingerprint(x, fingerprint);
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(x);
    return rc;
}
