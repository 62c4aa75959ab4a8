// Connection quality per tile: every two seconds, what the browser's own
// statistics say about each remote participant's media as it arrives
// (subscribe peer connection: packets lost, freezes, frame rate against
// the best this tile has had, jitter, round trip) and about our own as it
// leaves (publish peer connection: why the encoder holds back, the
// estimated outgoing bandwidth, losses and round trip the relay reports).
// Each tile gets data-quality="good" | "fair" | "poor" and a small mark
// whose title says why. A tile gets worse at once and better only after
// two good readings in a row, so the mark does not blink.
'use strict';
(() => {
  const PERIOD_MS = 2000;
  const LEVELS = ['good', 'fair', 'poor'];
  const last = new Map(); // stats id -> previous inbound/outbound reading
  const state = new WeakMap(); // <figure> -> {level, better, bestFps}

  // Worse of two {level, why}.
  const worse = (a, b) => (b.level > a.level ? b : a);
  const grade = (value, fair, poor, why) =>
    ({ level: value >= poor ? 2 : value >= fair ? 1 : 0, why: value >= fair ? why : '' });

  // Since the previous reading of the same stats object.
  function delta(s, keys) {
    const prev = last.get(s.id);
    last.set(s.id, s);
    if (!prev) return null;
    const d = { seconds: (s.timestamp - prev.timestamp) / 1000 };
    for (const k of keys) d[k] = (s[k] || 0) - (prev[k] || 0);
    return d;
  }

  function lossGrade(d, what) {
    if (!d) return { level: 0, why: '' };
    const lost = Math.max(0, d.packetsLost);
    const all = lost + Math.max(0, d.packetsReceived);
    const ratio = all ? lost / all : 0;
    return grade(ratio, 0.02, 0.1, `${what} loss ${Math.round(ratio * 100)}%`);
  }

  // A remote tile from the inbound-rtp of its tracks.
  function remoteQuality(fig, byMid, rtt) {
    const st = state.get(fig) || { level: 0, better: 0, bestFps: 0 };
    state.set(fig, st);
    let q = grade(rtt || 0, 0.25, 0.5, `round trip ${Math.round((rtt || 0) * 1000)} ms`);
    if (fig.classList.contains('paused-bw')) q = { level: 2, why: 'video paused: weak connection' };
    let seen = false;
    for (const id of (fig.dataset.tracks || '').split(' ')) {
      const mid = [...midInfo].find(([, t]) => t.track_id === id)?.[0];
      const s = mid !== undefined && byMid.get(mid);
      if (!s) continue;
      seen = true;
      const d = delta(s, ['packetsLost', 'packetsReceived', 'totalFreezesDuration']);
      q = worse(q, lossGrade(d, s.kind));
      // Video's jitter runs higher (a frame's packets leave in a burst).
      const [jf, jp] = s.kind === 'audio' ? [0.03, 0.1] : [0.06, 0.2];
      q = worse(q, grade(s.jitter || 0, jf, jp, `${s.kind} jitter ${Math.round((s.jitter || 0) * 1000)} ms`));
      if (s.kind !== 'video' || !d || fig.classList.contains('muted-v') || !fig.classList.contains('has-video')) continue;
      q = worse(q, grade(d.seconds > 0 ? d.totalFreezesDuration / d.seconds : 0, 0.02, 0.1, 'video freezes'));
      const fps = s.framesPerSecond || 0;
      st.bestFps = Math.max(st.bestFps, fps);
      // Against the best this tile has had: the publisher's own rate when
      // all went well (a camera at 30 fps, a screen share less).
      const ref = Math.max(st.bestFps, 10);
      if (d.packetsReceived > 0) q = worse(q, grade(1 - fps / ref, 0.2, 0.5, `${Math.round(fps)} of ${Math.round(ref)} fps`));
    }
    return seen ? q : null;
  }

  // Our own tile from the publish side.
  function localQuality(stats) {
    let q = { level: 0, why: '' };
    const why = [];
    for (const s of stats.values()) {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.active !== false && s.qualityLimitationReason === 'bandwidth')
        q = worse(q, { level: 1, why: 'sending less for lack of bandwidth' });
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.qualityLimitationReason === 'cpu') why.push('encoder short of CPU');
      if (s.type === 'remote-inbound-rtp') {
        q = worse(q, grade(s.fractionLost || 0, 0.02, 0.1, `${s.kind} loss ${Math.round((s.fractionLost || 0) * 100)}%`));
        q = worse(q, grade(s.roundTripTime || 0, 0.25, 0.5, `round trip ${Math.round((s.roundTripTime || 0) * 1000)} ms`));
      }
      if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate !== undefined) {
        const kbps = Math.round(s.availableOutgoingBitrate / 1000);
        why.push(`${kbps} kbit/s out`);
        q = worse(q, { level: kbps < 150 ? 2 : kbps < 300 ? 1 : 0, why: `only ${kbps} kbit/s out` });
      }
    }
    if (why.length) q.why = [q.why, ...why].filter(Boolean).join(', ');
    return q;
  }

  function mark(fig, q) {
    const st = state.get(fig) || { level: 0, better: 0, bestFps: 0 };
    state.set(fig, st);
    const current = LEVELS.indexOf(fig.dataset.quality);
    if (current < 0 || q.level >= current) { st.better = 0; fig.dataset.quality = LEVELS[q.level]; }
    else if (++st.better >= 2) { st.better = 0; fig.dataset.quality = LEVELS[q.level]; }
    let el = fig.querySelector('.quality');
    if (!el) {
      el = document.createElement('span');
      el.className = 'quality';
      el.setAttribute('role', 'img');
      fig.append(el);
    }
    const text = `Connection ${fig.dataset.quality}${q.why ? `: ${q.why}` : ''}`;
    el.title = text;
    el.setAttribute('aria-label', text);
  }

  async function tick() {
    const sub = window.parley.subscribe;
    if (sub && sub.connectionState !== 'closed') {
      const stats = await sub.getStats().catch(() => null);
      if (stats) {
        const byMid = new Map();
        let rtt = 0;
        for (const s of stats.values()) {
          if (s.type === 'inbound-rtp' && s.mid !== undefined) byMid.set(s.mid, s);
          if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime) rtt = s.currentRoundTripTime;
        }
        for (const fig of tiles.values()) {
          const q = remoteQuality(fig, byMid, rtt);
          if (q) mark(fig, q);
        }
      }
    }
    const pub = window.parley.publish;
    if (pub && pub.connectionState === 'connected') {
      const stats = await pub.getStats().catch(() => null);
      if (stats) mark(document.getElementById('me'), localQuality(stats));
    }
  }
  setInterval(() => { tick().catch((e) => console.warn('quality:', e.message)); }, PERIOD_MS);
})();
