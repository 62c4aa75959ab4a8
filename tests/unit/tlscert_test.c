/* Certificates for the HTTPS/WSS listener: what a self-signed one names and
 * how long it lasts, that it loads the way lws loads it from memory, and
 * the plain-words refusals of an operator's files. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "parley/common.h"
#include "parley/tlscert.h"

static X509 *parse_cert(const pl_tls_cert *c)
{
    const unsigned char *p = c->cert_der;
    X509 *x = d2i_X509(NULL, &p, (long)c->cert_len);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *parse_key(const pl_tls_cert *c)
{
    const unsigned char *p = c->key_der;
    EVP_PKEY *k = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)c->key_len);
    assert_non_null(k);
    return k;
}

/* The subjectAltName entries as "DNS:name" / "IP:text", comma-joined. */
static void san_text(X509 *x, char *out, size_t cap)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(names);
    out[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        char text[256] = "";
        if (g->type == GEN_DNS)
            snprintf(text, sizeof(text), "%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        else if (g->type == GEN_IPADD)
            assert_non_null(inet_ntop(g->d.iPAddress->length == 4 ? AF_INET : AF_INET6,
                                      g->d.iPAddress->data, text, sizeof(text)));
        else
            fail_msg("unexpected name type %d", g->type);
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s:%s", i ? "," : "", g->type == GEN_DNS ? "DNS" : "IP",
                 text);
    }
    GENERAL_NAMES_free(names);
}

static void test_self_signed_names_and_validity(void **state)
{
    (void)state;
    /* Wildcards, duplicates (also in another spelling) and a name that
     * could smuggle syntax into the extension are left out. */
    const char *names[] = {"localhost", "127.0.0.1", "::1",      "0.0.0.0",        "::", NULL,
                           "192.0.2.7", "192.0.2.7", "0:0::0:1", "bad,IP:1.2.3.4", ""};
    pl_tls_cert c;
    assert_int_equal(pl_tls_cert_self_signed(names, sizeof(names) / sizeof(names[0]), 30, &c),
                     PL_OK);
    X509 *x = parse_cert(&c);
    char san[512];
    san_text(x, san, sizeof(san));
    assert_string_equal(san, "DNS:localhost,IP:127.0.0.1,IP:::1,IP:192.0.2.7");

    /* Valid now, for 30 days from now (starting an hour early). */
    int days = 0, secs = 0;
    assert_int_equal(X509_cmp_current_time(X509_get0_notBefore(x)), -1);
    assert_true(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)));
    assert_true(days == 30 || (days == 29 && secs > 86400 - 60));
    assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), NULL));
    assert_int_equal(days, 0);
    assert_in_range(secs, 3600, 3660);

    /* A leaf signed by its own key, which the DER key is. */
    EVP_PKEY *k = parse_key(&c);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
    assert_int_equal(X509_check_private_key(x, k), 1);
    assert_int_equal(X509_check_ca(x), 0);
    assert_int_equal(EVP_PKEY_get_bits(k), 256);

    /* The fingerprint is the SHA-256 of the DER, as browsers show it. */
    unsigned char md[32];
    unsigned n = 0;
    assert_int_equal(EVP_Digest(c.cert_der, c.cert_len, md, &n, EVP_sha256(), NULL), 1);
    char want[PL_TLS_FINGERPRINT_MAX];
    for (unsigned i = 0; i < n; i++)
        snprintf(want + (i ? 3 * i - 1 : 0), sizeof(want) - (i ? 3 * i - 1 : 0),
                 i ? ":%02X" : "%02X", md[i]);
    assert_string_equal(c.fingerprint, want);
    assert_int_equal(strlen(c.fingerprint), 95);

    /* Loaded into a TLS context the way lws loads a certificate and key
     * from memory (DER, the key tried as RSA first, then EC). */
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate_ASN1(ctx, (int)c.cert_len, c.cert_der), 1);
    if (SSL_CTX_use_PrivateKey_ASN1(EVP_PKEY_RSA, ctx, c.key_der, (long)c.key_len) != 1)
        assert_int_equal(SSL_CTX_use_PrivateKey_ASN1(EVP_PKEY_EC, ctx, c.key_der, (long)c.key_len),
                         1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    SSL_CTX_free(ctx);

    EVP_PKEY_free(k);
    X509_free(x);
    pl_tls_cert_clear(&c);
    assert_null(c.key_der);
    pl_tls_cert_clear(&c); /* twice is harmless */
}

static void test_self_signed_refusals(void **state)
{
    (void)state;
    pl_tls_cert c;
    const char *wild[] = {"0.0.0.0", "::", "not a name"};
    assert_int_equal(pl_tls_cert_self_signed(wild, 3, 30, &c), PL_EINVAL);
    assert_null(c.cert_der);
    const char *one[] = {"localhost"};
    assert_int_equal(pl_tls_cert_self_signed(one, 1, 0, &c), PL_EINVAL);
    assert_int_equal(pl_tls_cert_self_signed(NULL, 0, 30, &c), PL_EINVAL);
    assert_int_equal(pl_tls_cert_self_signed(one, 1, 30, NULL), PL_EINVAL);
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (x)
        assert_int_equal(PEM_write_X509(f, x), 1);
    if (k)
        assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static void test_check_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/parley-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cert[64], key[64], other_key[64], expired[64], missing[64], msg[512];
    char fp[PL_TLS_FINGERPRINT_MAX];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(other_key, sizeof(other_key), "%s/other.pem", dir);
    snprintf(expired, sizeof(expired), "%s/expired.pem", dir);
    snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
    const char *names[] = {"localhost"};
    pl_tls_cert a, b;
    assert_int_equal(pl_tls_cert_self_signed(names, 1, 30, &a), PL_OK);
    assert_int_equal(pl_tls_cert_self_signed(names, 1, 30, &b), PL_OK);
    X509 *x = parse_cert(&a);
    EVP_PKEY *ka = parse_key(&a), *kb = parse_key(&b);
    write_pem(cert, x, NULL);
    write_pem(key, NULL, ka);
    write_pem(other_key, NULL, kb);

    assert_int_equal(pl_tls_check_files(cert, key, fp, msg, sizeof(msg)), PL_OK);
    assert_string_equal(fp, a.fingerprint);
    assert_string_equal(msg, "");

    assert_int_equal(pl_tls_check_files(cert, other_key, fp, msg, sizeof(msg)), PL_EAUTH);
    assert_non_null(strstr(msg, "does not belong to the certificate"));
    assert_non_null(strstr(msg, other_key));
    assert_string_equal(fp, "");
    assert_int_equal(pl_tls_check_files(missing, key, fp, msg, sizeof(msg)), PL_EINVAL);
    assert_non_null(strstr(msg, "No such file"));
    assert_int_equal(pl_tls_check_files(key, key, fp, msg, sizeof(msg)), PL_EINVAL);
    assert_non_null(strstr(msg, "holds no PEM certificate"));
    assert_int_equal(pl_tls_check_files(cert, cert, fp, msg, sizeof(msg)), PL_EINVAL);
    assert_non_null(strstr(msg, "holds no PEM private key"));

    /* An expired certificate is served, with a warning. */
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), -60));
    assert_true(X509_sign(x, ka, EVP_sha256()) > 0);
    write_pem(expired, x, NULL);
    assert_int_equal(pl_tls_check_files(expired, key, fp, msg, sizeof(msg)), PL_OK);
    assert_non_null(strstr(msg, "has expired"));
    assert_int_equal(strlen(fp), 95);

    X509_free(x);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    pl_tls_cert_clear(&a);
    pl_tls_cert_clear(&b);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_signed_names_and_validity),
        cmocka_unit_test(test_self_signed_refusals),
        cmocka_unit_test(test_check_files),
    };
    return cmocka_run_group_tests_name("tlscert", tests, NULL, NULL);
}
