/* The acknowledged bitrate (bwe_int.h): what feedback said arrived, over
 * a window of arrivals, and whether it arrived at the pace it was sent. */
#include "bwe_int.h"

/* Arrivals spread over at most this times the span their packets were
 * sent over kept pace with the sender. */
#define KEPT_PACE_SLACK 1.1

void bwe_acked_add(acked *a, int64_t arrival_us, int64_t send_us, uint32_t size, bool probe)
{
    if (a->started && arrival_us < a->newest_us - ACKED_WINDOW_US)
        return; /* reported late, and older than the window */
    if (!a->started) {
        a->started = true;
        a->first_us = a->newest_us = arrival_us;
        a->newest_send_us = send_us;
    }
    if (arrival_us > a->newest_us)
        a->newest_us = arrival_us;
    if (send_us > a->newest_send_us)
        a->newest_send_us = send_us;
    if (a->n == ACKED_RING) {
        a->bytes -= a->size[a->head];
        a->head = (a->head + 1) % ACKED_RING;
        a->n--;
    }
    size_t i = (a->head + a->n) % ACKED_RING;
    a->arrival_us[i] = arrival_us;
    a->send_us[i] = send_us;
    a->probe[i] = probe;
    a->size[i] = size;
    a->bytes += size;
    a->n++;
    while (a->n && a->arrival_us[a->head] < a->newest_us - ACKED_WINDOW_US) {
        a->bytes -= a->size[a->head];
        a->head = (a->head + 1) % ACKED_RING;
        a->n--;
    }
}

/* Bytes over the window, or over what has arrived so far when that is
 * shorter; 0 before there is enough to tell. */
uint64_t bwe_acked_rate(const acked *a)
{
    if (!a->started)
        return 0;
    int64_t span = a->newest_us - a->first_us;
    if (span < ACKED_MIN_SPAN_US)
        return 0;
    if (span > ACKED_WINDOW_US)
        span = ACKED_WINDOW_US;
    /* A ring too small for the window covers less of it. */
    if (a->n == ACKED_RING && a->newest_us - a->arrival_us[a->head] < span)
        span = a->newest_us - a->arrival_us[a->head];
    if (span <= 0)
        return 0;
    return a->bytes * 8u * 1000000u / (uint64_t)span;
}

/* The packets acknowledged over the last span_us of arrivals arrived no
 * more spread out than they were sent: the path carried the rate they
 * were sent at, so no queue of the relay's own making grew meanwhile.
 * Probe clusters are left out: they are sent above the path's rate on
 * purpose, and measured on their own. */
bool bwe_acked_kept_pace(const acked *a, int64_t span_us)
{
    int64_t newest = INT64_MIN;
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (a->head + k) % ACKED_RING;
        if (!a->probe[i] && a->arrival_us[i] > newest)
            newest = a->arrival_us[i];
    }
    int64_t send_lo = INT64_MAX, send_hi = INT64_MIN, arr_lo = INT64_MAX, arr_hi = INT64_MIN;
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (a->head + k) % ACKED_RING;
        if (a->probe[i] || a->arrival_us[i] < newest - span_us)
            continue;
        send_lo = a->send_us[i] < send_lo ? a->send_us[i] : send_lo;
        send_hi = a->send_us[i] > send_hi ? a->send_us[i] : send_hi;
        arr_lo = a->arrival_us[i] < arr_lo ? a->arrival_us[i] : arr_lo;
        arr_hi = a->arrival_us[i] > arr_hi ? a->arrival_us[i] : arr_hi;
    }
    if (send_lo == INT64_MAX)
        return false;
    int64_t send_span = send_hi - send_lo;
    return send_span >= ACKED_MIN_SPAN_US &&
           (double)(arr_hi - arr_lo) <= KEPT_PACE_SLACK * (double)send_span;
}
