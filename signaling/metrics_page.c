/* GET /metrics: the counters of /stats (the signaling core's and every
 * worker's), and a few that only make sense per worker, in the Prometheus
 * text format. Counters are totals since the start: rates (packets per
 * second per worker, CPU use) are the scraper's rate() of them. */
#include <stdio.h>
#include <stdlib.h>

#include "parley/metrics.h"
#include "server.h"

typedef struct page {
    pl_metrics *m;
    int rc;
} page;

static void keep(page *p, int rc)
{
    if (p->rc == PL_OK && rc != PL_OK)
        p->rc = rc;
}

static void gauge(page *p, const char *name, const char *help, uint64_t v)
{
    keep(p, pl_metrics_family(p->m, name, PL_METRICS_GAUGE, help));
    keep(p, pl_metrics_u64(p->m, NULL, 0, v));
}

static void counter(page *p, const char *name, const char *help, uint64_t v)
{
    keep(p, pl_metrics_family(p->m, name, PL_METRICS_COUNTER, help));
    keep(p, pl_metrics_u64(p->m, NULL, 0, v));
}

/* One sample of the current family with a single label. */
static void labelled(page *p, const char *label, const char *value, uint64_t v)
{
    pl_metrics_label l = {label, value};
    keep(p, pl_metrics_u64(p->m, &l, 1, v));
}

/* A counter with one sample per worker. */
#define PER_WORKER(p, name, help, w, n, field)                                                     \
    do {                                                                                           \
        keep(p, pl_metrics_family((p)->m, name, PL_METRICS_COUNTER, help));                        \
        for (int i_ = 0; i_ < (n); i_++) {                                                         \
            char idx_[16];                                                                         \
            snprintf(idx_, sizeof(idx_), "%d", i_);                                                \
            labelled(p, "worker", idx_, (w)[i_].field);                                            \
        }                                                                                          \
    } while (0)

/* Edges of the relay's delay histogram: from its 10 us resolution up to
 * its 20 ms top (pl_relaytime). */
static const uint32_t relay_le_us[] = {20, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000};
#define N_RELAY_LE (sizeof(relay_le_us) / sizeof(relay_le_us[0]))

static void relay_histogram(page *p, const pl_worker_stats *w, int n)
{
    uint64_t cum[N_RELAY_LE] = {0}, count = 0, sum_us = 0;
    for (int i = 0; i < n; i++) {
        uint64_t c[N_RELAY_LE], k, s;
        pl_relaytime_cumulative(w[i].relaytime, relay_le_us, N_RELAY_LE, c, &k, &s);
        for (size_t b = 0; b < N_RELAY_LE; b++)
            cum[b] += c[b];
        count += k;
        sum_us += s;
    }
    double le[N_RELAY_LE];
    for (size_t b = 0; b < N_RELAY_LE; b++)
        le[b] = relay_le_us[b] / 1e6;
    keep(p, pl_metrics_histogram(p->m, "parley_relay_delay_seconds",
                                 "Time each forwarded copy of a packet spent in the relay, from "
                                 "the kernel's receive timestamp to the send that carried it.",
                                 NULL, 0, le, cum, N_RELAY_LE, count, (double)sum_us / 1e6));
}

static void write_page(page *p, server *srv)
{
    pl_sig_stats ss;
    pl_sig_stats_get(srv->sig, &ss);
    pl_worker_stats w[MAX_WORKERS], t;
    for (int i = 0; i < srv->n_workers; i++)
        pl_worker_stats_get(srv->workers[i], &w[i]);
    srv_worker_totals(srv, &t);
    int nw = srv->n_workers;
    size_t ws = srv_ws_count(srv);

    gauge(p, "parley_rooms", "Rooms with at least one participant.", ss.rooms);
    gauge(p, "parley_participants", "Participants in rooms, detached ones included.",
          ss.participants);
    gauge(p, "parley_participants_detached",
          "Participants whose connection was lost, waiting to resume.", ss.detached);
    gauge(p, "parley_users_online", "Users with at least one session.", ss.users_online);
    gauge(p, "parley_websocket_connections", "Open WebSocket connections.", (uint64_t)ws);
    gauge(p, "parley_sessions", "Signaling sessions on open connections.", ss.connections);

    keep(p, pl_metrics_family(p->m, "parley_transports", PL_METRICS_GAUGE,
                              "Participants' media transports, by state and, once connected, by "
                              "the path their media take."));
    pl_metrics_label l[2] = {{"state", "connecting"}, {"path", "none"}};
    keep(p, pl_metrics_u64(p->m, l, 2, ss.transports_connecting));
    l[0].value = "connected";
    l[1].value = "udp";
    keep(p, pl_metrics_u64(p->m, l, 2, ss.transports_up_by_path[PL_SIG_PATH_UDP]));
    l[1].value = "tcp";
    keep(p, pl_metrics_u64(p->m, l, 2, ss.transports_up_by_path[PL_SIG_PATH_TCP]));
    keep(p, pl_metrics_family(p->m, "parley_worker_transports", PL_METRICS_GAUGE,
                              "Transports each media worker holds."));
    for (int i = 0; i < nw; i++) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%d", i);
        labelled(p, "worker", idx, w[i].transports);
    }
    counter(p, "parley_transports_connected_total", "Transports that came up (ICE, DTLS, SRTP).",
            ss.transports_connected);
    counter(p, "parley_transports_closed_total",
            "Transports their client closed (DTLS close before its media settled the association).",
            ss.transports_closed);
    keep(p, pl_metrics_family(p->m, "parley_transports_failed_total", PL_METRICS_COUNTER,
                              "Transports the workers closed, by reason."));
    for (int f = PL_FAILURE_NONE + 1; f < PL_FAILURE_COUNT; f++)
        labelled(p, "reason", pl_failure_name((enum pl_failure)f), ss.transports_failed_by[f]);
    counter(p, "parley_worker_commands_refused_total",
            "Commands for a transport a media worker did not carry out.", ss.commands_refused);

    PER_WORKER(p, "parley_datagrams_received_total",
               "Datagrams (and ICE-TCP frames) a worker received.", w, nw, datagrams_in);
    PER_WORKER(p, "parley_datagrams_sent_total", "Datagrams (and ICE-TCP frames) a worker sent.", w,
               nw, datagrams_out);
    PER_WORKER(p, "parley_bytes_received_total", "Bytes of those datagrams received.", w, nw,
               bytes_in);
    PER_WORKER(p, "parley_bytes_sent_total", "Bytes of those datagrams sent.", w, nw, bytes_out);
    PER_WORKER(p, "parley_rtp_received_total", "RTP packets from publishers.", w, nw, rtp_in);
    PER_WORKER(p, "parley_rtcp_received_total", "RTCP packets from clients.", w, nw, rtcp_in);
    PER_WORKER(p, "parley_packets_forwarded_total", "RTP packets forwarded to subscribers.", w, nw,
               rtp_forwarded);
    keep(p, pl_metrics_family(p->m, "parley_worker_cpu_seconds_total", PL_METRICS_COUNTER,
                              "CPU time of each media worker's thread."));
    for (int i = 0; i < nw; i++) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%d", i);
        pl_metrics_label wl = {"worker", idx};
        keep(p, pl_metrics_double(p->m, &wl, 1, (double)w[i].cpu_ns / 1e9));
    }

    keep(p, pl_metrics_family(p->m, "parley_packets_dropped_total", PL_METRICS_COUNTER,
                              "Packets the relay dropped, by reason."));
    labelled(p, "reason", "unknown_source", t.dropped_unknown_source);
    labelled(p, "reason", "rejected_by_transport", t.dropped_by_transport);
    labelled(p, "reason", "unknown_ssrc", t.dropped_unknown_ssrc);
    labelled(p, "reason", "rtx_before_media", t.dropped_rtx_early);
    labelled(p, "reason", "pacer_full", t.pacer_refused);
    labelled(p, "reason", "pacer_rtx_late", t.pacer_rtx_dropped);
    labelled(p, "reason", "tcp_send_buffer_full", t.tcp_send_dropped);
    labelled(p, "reason", "udp_send_failed", t.send_dropped);
    counter(p, "parley_nacks_sent_total", "NACKs sent to publishers for packets lost upstream.",
            t.nacks_sent);
    counter(p, "parley_retransmissions_total",
            "Packets resent (RTX) to subscribers on their NACKs.", t.retransmissions);
    keep(p, pl_metrics_family(p->m, "parley_nacks_unanswered_total", PL_METRICS_COUNTER,
                              "Subscribers' NACKs not answered with a resend, by what was done."));
    labelled(p, "instead", "nothing_resent_within_rtt", t.nack_repeats);
    labelled(p, "instead", "keyframe_request", t.nack_keyframes);
    counter(p, "parley_keyframe_requests_total", "PLIs sent to publishers.", t.keyframe_requests);
    counter(p, "parley_layer_switches_total", "Subscribers moved to another simulcast layer.",
            t.layer_switches);
    counter(p, "parley_feedback_sent_total", "Transport-wide congestion feedback to publishers.",
            t.feedback_sent);
    counter(p, "parley_remb_sent_total", "REMB sent to publishers.", t.remb_sent);
    counter(p, "parley_padding_bytes_total", "Padding sent to probe subscribers' downlinks.",
            t.padding_bytes);
    gauge(p, "parley_videos_paused",
          "Remote videos not forwarded because a subscriber's downlink cannot carry them.",
          t.videos_paused);
    gauge(p, "parley_layers_paused_at_publisher",
          "Simulcast layers switched off at their publishers (dynacast).",
          t.layers_paused_at_publisher);
    relay_histogram(p, w, nw);

    gauge(p, "parley_tcp_connections", "ICE-TCP connections open.", t.tcp_connections);
    counter(p, "parley_tcp_accepted_total", "ICE-TCP connections accepted.", t.tcp_accepted);

    gauge(p, "parley_calls", "Calls ringing or in progress.", ss.calls);
    counter(p, "parley_calls_placed_total", "Calls placed.", ss.calls_placed);
    keep(p, pl_metrics_family(p->m, "parley_calls_total", PL_METRICS_COUNTER, "Calls by outcome."));
    labelled(p, "outcome", "accepted", ss.calls_accepted);
    labelled(p, "outcome", "missed", ss.calls_missed);
    int64_t pending = srv->store ? pl_store_count_missed(srv->store) : 0;
    if (pending >= 0)
        gauge(p, "parley_headsups_pending", "Missed heads-ups kept, not yet acknowledged.",
              (uint64_t)pending);
    counter(p, "parley_sessions_resumed_total", "Sessions resumed after a lost connection.",
            ss.resumed);
    counter(p, "parley_sessions_timed_out_total", "Detached sessions that never came back.",
            ss.timed_out);
    counter(p, "parley_bad_messages_total", "Messages refused as bad requests.", ss.bad_messages);

    keep(p, pl_metrics_family(p->m, "parley_refusals_total", PL_METRICS_COUNTER,
                              "Connections, sessions and requests refused, by reason."));
    labelled(p, "reason", "auth", ss.auth_refused);
    labelled(p, "reason", "rate_limited", ss.rate_limited);
    labelled(p, "reason", "connections_per_ip", srv->refused_per_ip);
    labelled(p, "reason", "slow_reader", srv->cut_slow);
    labelled(p, "reason", "room_full", ss.refused_room_full);
    labelled(p, "reason", "server_rooms_full", ss.refused_server_full);
    labelled(p, "reason", "tcp_limit", t.tcp_refused);

    srv_rec_stats rs;
    srv_recordings_stats(srv, &rs);
    gauge(p, "parley_recordings", "Recordings on disk, as of the last sweep.", rs.count);
    gauge(p, "parley_recording_bytes", "Bytes of recordings on disk, as of the last sweep.",
          rs.bytes);
    counter(p, "parley_recording_sweeps_total", "Expiry and quota sweeps of the recordings.",
            rs.sweeps);
    keep(p, pl_metrics_family(p->m, "parley_recordings_deleted_total", PL_METRICS_COUNTER,
                              "Recordings deleted, by reason."));
    labelled(p, "reason", "expired", rs.deleted_expired);
    labelled(p, "reason", "server_full", rs.deleted_server_full);
    labelled(p, "reason", "admin", rs.deleted_admin);
    keep(p, pl_metrics_family(p->m, "parley_recording_playbacks_total", PL_METRICS_COUNTER,
                              "Requests for a recording's file answered with it, by status."));
    labelled(p, "status", "200", rs.played);
    labelled(p, "status", "206", rs.played_partial);
    keep(p, pl_metrics_family(p->m, "parley_recording_playbacks_refused_total", PL_METRICS_COUNTER,
                              "Requests for a recording's file refused, by reason."));
    labelled(p, "reason", "not_found", rs.refused_not_found);
    labelled(p, "reason", "unauthorized", rs.refused_unauthorized);
    labelled(p, "reason", "forbidden", rs.refused_forbidden);
    labelled(p, "reason", "range", rs.refused_range);

    srv_live_stats ls;
    srv_reclive_stats(srv, &ls);
    gauge(p, "parley_recordings_active", "Rooms and heads-ups being recorded now.", ls.active);
    keep(p, pl_metrics_family(p->m, "parley_recordings_started_total", PL_METRICS_COUNTER,
                              "Recordings started, by kind."));
    labelled(p, "kind", "meeting", ls.started_meetings);
    labelled(p, "kind", "message", ls.started_messages);
    counter(p, "parley_recording_packets_total", "Media packets the workers handed to recordings.",
            ls.packets);
    keep(p, pl_metrics_family(p->m, "parley_recording_packets_dropped_total", PL_METRICS_COUNTER,
                              "Media packets recordings did not take, by reason."));
    labelled(p, "reason", "queue_full", ls.dropped_queue_full);
    labelled(p, "reason", "unknown_transport", ls.dropped_unknown);
    labelled(p, "reason", "not_recorded", ls.not_recorded);
    counter(p, "parley_recording_frames_total", "Audio and video frames written to recordings.",
            ls.frames);
    counter(p, "parley_recording_written_bytes_total", "Bytes written to recordings' files.",
            ls.bytes);

    keep(p, pl_metrics_family(p->m, "parley_admin_actions_total", PL_METRICS_COUNTER,
                              "What operators did through the admin API."));
    labelled(p, "action", "remove", ss.admin_removed);
    labelled(p, "action", "mute", ss.admin_muted);
    labelled(p, "action", "close_room", ss.admin_closed);
}

int srv_serve_metrics(struct lws *wsi, server *srv)
{
    page p = {pl_metrics_create(&srv->env), PL_OK};
    if (!p.m)
        return -1;
    write_page(&p, srv);
    const char *text;
    size_t len;
    int rc = p.rc == PL_OK ? pl_metrics_text(p.m, &text, &len) : p.rc;
    if (rc != PL_OK) {
        /* A name or label the format refuses is a bug: said, not served
         * half-written. */
        pl_env_logf(&srv->env, PL_LOG_ERROR, "metrics: the page could not be written: %s",
                    pl_strerror(rc));
        pl_metrics_destroy(p.m);
        static const char err[] = "{\"error\":\"the metrics page could not be written\"}";
        return srv_http_respond(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "application/json", err,
                                sizeof(err) - 1);
    }
    int r = srv_http_respond(wsi, HTTP_STATUS_OK, PL_METRICS_CONTENT_TYPE, text, len);
    pl_metrics_destroy(p.m);
    return r;
}
