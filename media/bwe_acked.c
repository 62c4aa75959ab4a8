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

/* The packets acknowledged over the last span_us of arrivals, probe
 * clusters left out (they are sent above the path's rate on purpose, and
 * measured on their own): their send and arrival spans and their bytes
 * after the first (the first one's arrival opens the span). */
typedef struct recent {
    int64_t send_span_us, arrival_span_us;
    uint64_t bytes;
    bool any;
} recent;

static recent recent_of(const acked *a, int64_t span_us)
{
    int64_t newest = INT64_MIN;
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (a->head + k) % ACKED_RING;
        if (!a->probe[i] && a->arrival_us[i] > newest)
            newest = a->arrival_us[i];
    }
    int64_t send_lo = INT64_MAX, send_hi = INT64_MIN, arr_lo = INT64_MAX, arr_hi = INT64_MIN;
    uint64_t bytes = 0;
    uint32_t first_size = 0;
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (a->head + k) % ACKED_RING;
        if (a->probe[i] || a->arrival_us[i] < newest - span_us)
            continue;
        send_lo = a->send_us[i] < send_lo ? a->send_us[i] : send_lo;
        send_hi = a->send_us[i] > send_hi ? a->send_us[i] : send_hi;
        if (a->arrival_us[i] < arr_lo) {
            arr_lo = a->arrival_us[i];
            first_size = a->size[i];
        }
        arr_hi = a->arrival_us[i] > arr_hi ? a->arrival_us[i] : arr_hi;
        bytes += a->size[i];
    }
    if (send_lo == INT64_MAX)
        return (recent){0};
    return (recent){.send_span_us = send_hi - send_lo,
                    .arrival_span_us = arr_hi - arr_lo,
                    .bytes = bytes - first_size,
                    .any = true};
}

/* The packets acknowledged over the last span_us of arrivals arrived no
 * more spread out than they were sent: the path carried the rate they
 * were sent at, so no queue of the relay's own making grew meanwhile. */
bool bwe_acked_kept_pace(const acked *a, int64_t span_us)
{
    recent r = recent_of(a, span_us);
    return r.any && r.send_span_us >= ACKED_MIN_SPAN_US &&
           (double)r.arrival_span_us <= KEPT_PACE_SLACK * (double)r.send_span_us;
}

/* The rate the packets acknowledged over the last span_us of arrivals
 * arrived at, over their own arrival span: when a queue spread them out,
 * the rate the bottleneck let through. The window's rate also counts the
 * gaps of an application-limited sender, which says nothing of the path
 * (one such window took a subscriber behind 600 kbit/s to 88 kbit/s and
 * paused its video). 0 when too few arrived to tell. */
uint64_t bwe_acked_delivered_rate(const acked *a, int64_t span_us)
{
    recent r = recent_of(a, span_us);
    if (!r.any || r.arrival_span_us < ACKED_MIN_DELIVERED_US)
        return 0;
    return r.bytes * 8u * 1000000u / (uint64_t)r.arrival_span_us;
}
