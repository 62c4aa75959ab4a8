/* Webhook POSTs with libcurl's easy interface: one handle per receiver,
 * kept between events so that a receiver that keeps its connection alive
 * is not reconnected for each one. Time limits keep a receiver that never
 * answers from holding its queue forever; a stop flag ends a transfer at
 * shutdown. */
#include "webhook_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* A receiver answers within this, or the attempt failed and is retried. */
#define CONNECT_TIMEOUT_MS 5000
#define TIMEOUT_MS 10000

struct wh_http {
    CURL *curl;
    const atomic_bool *stop;
};

int wh_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void wh_http_global_cleanup(void)
{
    curl_global_cleanup();
}

/* The receiver's answer is not read: its status says it all. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *user)
{
    (void)ptr, (void)user;
    return size * nmemb;
}

static int progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load((const atomic_bool *)user) ? 1 : 0;
}

wh_http *wh_http_create(const char *url, const atomic_bool *stop)
{
    wh_http *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->stop = stop;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* timeouts on a thread: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "parley-webhooks/1");
    /* A redirect would send the event somewhere nobody configured. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

void wh_http_destroy(wh_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

int wh_http_post(wh_http *h, const char *body, size_t len, const char *signature, char *err,
                 size_t errcap)
{
    char sig_header[128];
    snprintf(sig_header, sizeof(sig_header), "X-Parley-Signature: %s", signature);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, sig_header);
    /* No "Expect: 100-continue" round trip before the body. */
    headers = curl_slist_append(headers, "Expect:");
    char why[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, why);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(h->curl);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errcap, "%s", why[0] ? why : curl_easy_strerror(rc));
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    return (int)status;
}
