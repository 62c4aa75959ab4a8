/* The /stats page: the counters of the signaling core and the workers, for
 * operators, tests and tools/bench (on the admin listener). */
#include <stdio.h>

#include "server.h"

/* Every worker's counters added up. Worker counters are atomics: no
 * locking needed. */
void srv_worker_totals(const server *srv, pl_worker_stats *out)
{
    pl_worker_stats t = {0};
    for (int i = 0; i < srv->n_workers; i++) {
        pl_worker_stats w;
        pl_worker_stats_get(srv->workers[i], &w);
        t.transports += w.transports;
        t.datagrams_in += w.datagrams_in;
        t.datagrams_out += w.datagrams_out;
        t.bytes_in += w.bytes_in;
        t.bytes_out += w.bytes_out;
        t.cpu_ns += w.cpu_ns;
        t.dropped_unknown_source += w.dropped_unknown_source;
        t.dropped_by_transport += w.dropped_by_transport;
        t.rtp_in += w.rtp_in;
        t.rtcp_in += w.rtcp_in;
        t.rtp_forwarded += w.rtp_forwarded;
        t.keyframe_requests += w.keyframe_requests;
        t.retransmissions += w.retransmissions;
        t.nacks_sent += w.nacks_sent;
        t.transports_failed += w.transports_failed;
        t.dropped_unknown_ssrc += w.dropped_unknown_ssrc;
        t.dropped_rtx_early += w.dropped_rtx_early;
        t.feedback_sent += w.feedback_sent;
        t.layer_switches += w.layer_switches;
        t.layer_keyframe_requests += w.layer_keyframe_requests;
        t.remb_sent += w.remb_sent;
        t.downlink_feedback += w.downlink_feedback;
        t.pacer_refused += w.pacer_refused;
        t.pacer_rtx_dropped += w.pacer_rtx_dropped;
        t.probes += w.probes;
        t.padding_packets += w.padding_packets;
        t.padding_bytes += w.padding_bytes;
        t.nack_repeats += w.nack_repeats;
        t.nack_keyframes += w.nack_keyframes;
        t.allocations += w.allocations;
        t.videos_paused += w.videos_paused;
        t.video_pauses += w.video_pauses;
        t.alloc_probes += w.alloc_probes;
        t.video_flushes += w.video_flushes;
        t.dynacast_updates += w.dynacast_updates;
        t.layers_paused_at_publisher += w.layers_paused_at_publisher;
        /* Percentiles do not add up across workers: the worst is shown. */
        t.relay_samples += w.relay_samples;
        t.relay_p50_us = w.relay_p50_us > t.relay_p50_us ? w.relay_p50_us : t.relay_p50_us;
        t.relay_p99_us = w.relay_p99_us > t.relay_p99_us ? w.relay_p99_us : t.relay_p99_us;
        t.tcp_connections += w.tcp_connections;
        t.tcp_accepted += w.tcp_accepted;
        t.tcp_refused += w.tcp_refused;
        t.tcp_dropped_garbage += w.tcp_dropped_garbage;
        t.tcp_dropped_oversized += w.tcp_dropped_oversized;
        t.tcp_dropped_slow += w.tcp_dropped_slow;
        t.tcp_closed += w.tcp_closed;
        t.tcp_send_dropped += w.tcp_send_dropped;
        t.send_dropped += w.send_dropped;
    }
    *out = t;
}

/* GET /stats: counters of the signaling core and every worker, as JSON, for
 * operators and tests. */
int srv_serve_stats(struct lws *wsi, server *srv)
{
    pl_sig_stats ss;
    pl_sig_stats_get(srv->sig, &ss);
    pl_worker_stats t;
    srv_worker_totals(srv, &t);
    unsigned char buf[LWS_PRE + 4096];
    char *body = (char *)buf + LWS_PRE;
    const size_t cap = sizeof(buf) - LWS_PRE;
    int n = snprintf(
        body, cap,
        "{\"connections\":%zu,\"users_online\":%zu,\"rooms\":%zu,"
        "\"participants\":%zu,\"bad_messages\":%llu,\"workers\":%d,"
        "\"transports\":%llu,\"datagrams_in\":%llu,\"datagrams_out\":%llu,"
        "\"dropped_unknown_source\":%llu,\"dropped_by_transport\":%llu,"
        "\"rtp_in\":%llu,\"rtcp_in\":%llu,\"rtp_forwarded\":%llu,\"keyframe_requests\":%llu,"
        "\"retransmissions\":%llu,\"nacks_sent\":%llu,\"detached\":%zu,\"resumed\":%llu,"
        "\"timed_out\":%llu,\"transports_failed\":%llu,\"calls\":%zu,"
        "\"calls_placed\":%llu,\"calls_accepted\":%llu,\"calls_missed\":%llu,"
        "\"auth_refused\":%llu,\"rate_limited\":%llu,\"refused_per_ip\":%llu,"
        "\"cut_slow\":%llu,\"relay_samples\":%llu,\"relay_p50_us\":%u,\"relay_p99_us\":%u,"
        "\"dropped_unknown_ssrc\":%llu,\"transports_connected\":%llu,"
        "\"transports_closed\":%llu,\"commands_refused\":%llu,\"feedback_sent\":%llu,"
        "\"dropped_rtx_early\":%llu,\"remb_sent\":%llu,\"layer_switches\":%llu,\"layer_keyframe_"
        "requests\":%llu",
        ss.connections, ss.users_online, ss.rooms, ss.participants,
        (unsigned long long)ss.bad_messages, srv->n_workers, (unsigned long long)t.transports,
        (unsigned long long)t.datagrams_in, (unsigned long long)t.datagrams_out,
        (unsigned long long)t.dropped_unknown_source, (unsigned long long)t.dropped_by_transport,
        (unsigned long long)t.rtp_in, (unsigned long long)t.rtcp_in,
        (unsigned long long)t.rtp_forwarded, (unsigned long long)t.keyframe_requests,
        (unsigned long long)t.retransmissions, (unsigned long long)t.nacks_sent, ss.detached,
        (unsigned long long)ss.resumed, (unsigned long long)ss.timed_out,
        (unsigned long long)t.transports_failed, ss.calls, (unsigned long long)ss.calls_placed,
        (unsigned long long)ss.calls_accepted, (unsigned long long)ss.calls_missed,
        (unsigned long long)ss.auth_refused, (unsigned long long)ss.rate_limited,
        (unsigned long long)srv->refused_per_ip, (unsigned long long)srv->cut_slow,
        (unsigned long long)t.relay_samples, t.relay_p50_us, t.relay_p99_us,
        (unsigned long long)t.dropped_unknown_ssrc, (unsigned long long)ss.transports_connected,
        (unsigned long long)ss.transports_closed, (unsigned long long)ss.commands_refused,
        (unsigned long long)t.feedback_sent, (unsigned long long)t.dropped_rtx_early,
        (unsigned long long)t.remb_sent, (unsigned long long)t.layer_switches,
        (unsigned long long)t.layer_keyframe_requests);
    /* Failed transports by reason: transports_failed_no_check,
     * transports_failed_dtls_timeout, ... one per reason, zeros included,
     * so that a reader can tell a reason that never happened from one it
     * does not know. */
    for (int f = PL_FAILURE_NONE + 1; f < PL_FAILURE_COUNT && n > 0 && (size_t)n < cap; f++)
        n += snprintf(body + n, cap - (size_t)n, ",\"transports_failed_%s\":%llu",
                      pl_failure_name((enum pl_failure)f),
                      (unsigned long long)ss.transports_failed_by[f]);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(body + n, cap - (size_t)n,
                      ",\"draining\":%s,\"refused_draining\":%llu,\"redirected\":%llu,"
                      "\"refused_unplaced\":%llu",
                      srv->draining ? "true" : "false", (unsigned long long)ss.refused_draining,
                      (unsigned long long)ss.redirected, (unsigned long long)ss.refused_unplaced);
    srv_cluster_stats_t cl;
    srv_cluster_stats(srv, &cl);
    if (cl.enabled && n > 0 && (size_t)n < cap)
        n += snprintf(body + n, cap - (size_t)n,
                      ",\"cluster\":{\"node_id\":\"%s\",\"url\":\"%s\",\"connected\":%s,"
                      "\"nodes\":%zu,\"refreshes\":%llu,\"refresh_failures\":%llu}",
                      cl.node_id, cl.url, cl.connected ? "true" : "false", cl.nodes,
                      (unsigned long long)cl.refreshes, (unsigned long long)cl.refresh_failures);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(body + n, cap - (size_t)n,
                      ",\"tcp_connections\":%llu,\"tcp_accepted\":%llu,\"tcp_refused\":%llu,"
                      "\"tcp_dropped_garbage\":%llu,\"tcp_dropped_oversized\":%llu,"
                      "\"tcp_dropped_slow\":%llu,\"tcp_closed\":%llu,\"tcp_send_dropped\":%llu,"
                      "\"send_dropped\":%llu",
                      (unsigned long long)t.tcp_connections, (unsigned long long)t.tcp_accepted,
                      (unsigned long long)t.tcp_refused, (unsigned long long)t.tcp_dropped_garbage,
                      (unsigned long long)t.tcp_dropped_oversized,
                      (unsigned long long)t.tcp_dropped_slow, (unsigned long long)t.tcp_closed,
                      (unsigned long long)t.tcp_send_dropped, (unsigned long long)t.send_dropped);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(body + n, cap - (size_t)n,
                      ",\"downlink_feedback\":%llu,\"pacer_refused\":%llu,"
                      "\"pacer_rtx_dropped\":%llu,\"probes\":%llu,\"padding_packets\":%llu,"
                      "\"padding_bytes\":%llu,"
                      "\"nack_repeats\":%llu,\"nack_keyframes\":%llu,\"allocations\":%llu,"
                      "\"videos_paused\":%llu,\"video_pauses\":%llu,\"alloc_probes\":%llu,"
                      "\"video_flushes\":%llu,"
                      "\"dynacast_updates\":%llu,\"layers_paused_at_publisher\":%llu",
                      (unsigned long long)t.downlink_feedback, (unsigned long long)t.pacer_refused,
                      (unsigned long long)t.pacer_rtx_dropped, (unsigned long long)t.probes,
                      (unsigned long long)t.padding_packets, (unsigned long long)t.padding_bytes,
                      (unsigned long long)t.nack_repeats, (unsigned long long)t.nack_keyframes,
                      (unsigned long long)t.allocations, (unsigned long long)t.videos_paused,
                      (unsigned long long)t.video_pauses, (unsigned long long)t.alloc_probes,
                      (unsigned long long)t.video_flushes, (unsigned long long)t.dynacast_updates,
                      (unsigned long long)t.layers_paused_at_publisher);
    /* Webhooks, every receiver added up (zeros without any): events
     * delivered, attempts that failed and will be retried, events dropped
     * for a full queue or refused by a receiver, and events waiting. */
    pl_hookq_stats hs;
    pl_webhooks_stats_get(srv->webhooks, &hs);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(body + n, cap - (size_t)n,
                      ",\"webhooks_delivered\":%llu,\"webhooks_retried\":%llu,"
                      "\"webhooks_dropped\":%llu,\"webhooks_refused\":%llu,"
                      "\"webhooks_queued\":%zu}",
                      (unsigned long long)hs.delivered, (unsigned long long)hs.retried,
                      (unsigned long long)hs.dropped, (unsigned long long)hs.refused, hs.queued);
    if (n <= 0 || (size_t)n >= cap)
        return -1; /* the page outgrew its buffer: a bug, not a state to serve */
    unsigned char hdr[LWS_PRE + 512], *p = hdr + LWS_PRE, *end = hdr + sizeof(hdr);
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", (lws_filepos_t)n, &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
        return -1;
    if (lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
