// What each remote video tile asks the relay for (protocol `subscription`),
// from the tiles parley.js makes (its tileFor observes each one here).
// Loaded after parley.js, whose globals (tiles, trackKinds, send) it uses.
'use strict';
// What each remote video tile asks the relay for.
// A tile out of view (scrolled away, display: none, zero size) or in a
// hidden page (minimised window, background tab) is paused: the relay then
// forwards nothing for it, which saves the subscriber's bandwidth and CPU.
// A shown tile reports its displayed size in device pixels (CSS pixels
// times devicePixelRatio, rounded), so that the relay forwards the
// smallest simulcast layer that fills it. Sizes settle for 250 ms before
// they are sent (a window being dragged sends one message, not fifty), and
// a message goes only when what a track asks for changed.
const REPORT_DELAY_MS = 250;
const tileView = new WeakMap(); // <figure> -> {inView, width, height}
const told = new Map(); // remote video track id -> {paused, max_width, max_height} last sent
window.parley.subscriptions = told;

function viewOf(fig) {
  let v = tileView.get(fig);
  if (!v) { v = { inView: true, width: -1, height: -1 }; tileView.set(fig, v); }
  return v;
}

function videoTracksOf(fig) {
  return (fig.dataset.tracks || '').split(' ').filter((id) => id && trackKinds.get(id) === 'video');
}

// A camera its owner muted shows the owner's initials, not a picture: it
// is paused like a tile out of view, so the relay forwards none of its
// black frames, and, nobody needing its upper layers any more, has the
// publisher stop encoding them (dynacast). Unmuted, it resumes as a tile
// back in view does: the smallest layer at once, then the one that fits.
const mutedTracks = new Set(); // remote track ids muted by their owner

function noteMuted(id, muted) {
  if (!id || muted === mutedTracks.has(id)) return;
  if (muted) mutedTracks.add(id);
  else mutedTracks.delete(id);
  for (const fig of tiles.values()) if (videoTracksOf(fig).includes(id)) reportTile(fig);
}

// Which tracks are muted, from the server's messages (a microphone's
// state is kept too, harmlessly: only video tracks have tiles to pause).
function mutesSeen(m) {
  switch (m.type) {
    case 'joined':
      mutedTracks.clear();
      for (const p of m.participants) for (const t of p.tracks || []) noteMuted(t.track_id, !!t.muted);
      break;
    case 'track-published': noteMuted(m.track?.track_id, !!m.track?.muted); break;
    case 'track-muted': noteMuted(m.track_id, !!m.muted); break;
    case 'track-unpublished': mutedTracks.delete(m.track_id); break;
  }
}

function reportTile(fig) {
  const v = viewOf(fig);
  if (v.width < 0) return; // not laid out yet: its first size follows
  const hidden = !v.inView || document.hidden || v.width < 1 || v.height < 1;
  for (const id of videoTracksOf(fig)) {
    const paused = hidden || mutedTracks.has(id);
    const last = told.get(id);
    const msg = { type: 'subscription', track_id: id };
    if (paused) {
      if (last?.paused) continue;
      msg.paused = true;
    } else {
      const size = { max_width: Math.min(v.width, 16384), max_height: Math.min(v.height, 16384) };
      // Back in view (or first seen): resume with the size; otherwise only
      // a changed size is news.
      if (!last || last.paused) msg.paused = false;
      else if (last.max_width === size.max_width && last.max_height === size.max_height) continue;
      Object.assign(msg, size);
    }
    if (!send(msg)) continue;
    told.set(id, paused ? { ...last, paused: true } : { paused: false, max_width: msg.max_width,
      max_height: msg.max_height });
  }
}

function reportAllTiles() { for (const fig of tiles.values()) reportTile(fig); }

let reportTimer = 0;
function reportSoon() {
  clearTimeout(reportTimer);
  reportTimer = setTimeout(reportAllTiles, REPORT_DELAY_MS);
}

const visibility = new IntersectionObserver((entries) => {
  for (const e of entries) {
    viewOf(e.target).inView = e.isIntersecting;
    reportTile(e.target); // a pause saves bandwidth at once, a resume shows at once
  }
});
const sizes = new ResizeObserver((entries) => {
  for (const e of entries) {
    const v = viewOf(e.target);
    v.width = Math.round(e.contentRect.width * devicePixelRatio);
    v.height = Math.round(e.contentRect.height * devicePixelRatio);
  }
  reportSoon();
});
document.addEventListener('visibilitychange', reportAllTiles);
