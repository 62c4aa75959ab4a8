/* The certificate of the HTTPS/WSS listener: one generated at start for
 * testing on a LAN (--tls-self-signed), or an operator's PEM files checked
 * before the listener takes them (--tls-cert, --tls-key). Browsers need a
 * secure context for the camera and microphone anywhere but on localhost,
 * so a LAN meeting needs TLS even without a real certificate. */
#ifndef PARLEY_TLSCERT_H
#define PARLEY_TLSCERT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "AB:CD:..." of a SHA-256 digest, with its terminator. */
#define PL_TLS_FINGERPRINT_MAX 96

typedef struct pl_tls_cert {
    unsigned char *cert_der; /* X.509 certificate */
    size_t cert_len;
    unsigned char *key_der; /* its ECDSA P-256 private key (RFC 5915) */
    size_t key_len;
    char fingerprint[PL_TLS_FINGERPRINT_MAX]; /* SHA-256 of cert_der */
} pl_tls_cert;

/* Makes a self-signed certificate valid from an hour ago for `days` days,
 * for the host names and IP addresses in names[0..n) (subjectAltName;
 * browsers ignore the common name). Unspecified addresses (0.0.0.0, ::),
 * duplicates and names that are neither an address nor a DNS name are left
 * out. 0, PL_EINVAL when no name remains, or PL_ECRYPTO. */
int pl_tls_cert_self_signed(const char *const *names, size_t n, int days, pl_tls_cert *out);
/* Frees what pl_tls_cert_self_signed made, wiping the key. */
void pl_tls_cert_clear(pl_tls_cert *c);

/* Checks an operator's PEM files before they are served: the certificate
 * file (the server's certificate first, then any chain) and a private key
 * without a passphrase that belongs to it. On success returns 0 with the
 * certificate's SHA-256 fingerprint, and msg holds a warning ("" if none:
 * e.g. the certificate has expired). On failure returns a negative PL_E*
 * code and msg says what is wrong, naming the file. */
int pl_tls_check_files(const char *cert_path, const char *key_path,
                       char fingerprint[PL_TLS_FINGERPRINT_MAX], char *msg, size_t msg_cap);

#ifdef __cplusplus
}
#endif
#endif
