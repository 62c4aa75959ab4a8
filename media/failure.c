#include "parley/failure.h"

static const struct {
    const char *name, *text;
} reasons[PL_FAILURE_COUNT] = {
    [PL_FAILURE_NONE] = {"none", "no failure"},
    [PL_FAILURE_NO_CHECK] = {"no_check", "no ICE connectivity check ever arrived"},
    [PL_FAILURE_NO_NOMINATION] = {"no_nomination", "ICE checks arrived but none nominated a pair"},
    [PL_FAILURE_DTLS_TIMEOUT] = {"dtls_timeout", "ICE connected but the DTLS handshake timed out"},
    [PL_FAILURE_FINGERPRINT] = {"fingerprint",
                                "the DTLS certificate does not match the SDP fingerprint"},
    [PL_FAILURE_SRTP_PROFILE] = {"srtp_profile", "no DTLS-SRTP protection profile in common"},
    [PL_FAILURE_DTLS_ALERT] = {"dtls_alert", "the DTLS handshake failed or a fatal alert arrived"},
    [PL_FAILURE_CONSENT] =
        {"consent", "ICE consent lost: nothing from the selected address for the consent period"},
    [PL_FAILURE_SETUP] = {"setup", "the transport could not be set up"},
};

const char *pl_failure_name(enum pl_failure f)
{
    return (unsigned)f < PL_FAILURE_COUNT ? reasons[f].name : "unknown";
}

const char *pl_failure_text(enum pl_failure f)
{
    return (unsigned)f < PL_FAILURE_COUNT ? reasons[f].text : "unknown failure";
}
