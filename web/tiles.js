// The meeting's tiles: what each shows over its picture and where it goes.
// Every participant has a tile from the moment it is in the room, with a
// picture or without: its name, a mark while its microphone is muted, a
// ring while it speaks, its initials while it has no camera or has muted
// it (data-camera-off="true"), a pin button, and quality.js's mark. Where
// the tiles go is layout.js's arithmetic, applied as absolute positions in
// #tiles (which without this file stays a plain CSS grid): a gallery, or a
// stage (the pinned tile, else a screen share, else in speaker view the
// active speaker) with the others in a strip. Every tile's displayed size
// feeds parley.js's `subscription` size hints through its ResizeObserver,
// so a tile moved to the stage asks for a larger simulcast layer.
// Plugs into parley.js's hooks, after it (loaded with defer).
'use strict';
(() => {
  const GAP = 8;
  const SELF = 'self';
  // Speaking, from the audio level the browser measures (getStats
  // audioLevel: inbound audio for the others, the microphone's media-source
  // for oneself), polled often enough to show within a few hundred ms, or
  // from the server's `speakers`, whichever says so first.
  const LEVEL_PERIOD_MS = 150;
  const SPEAKING_LEVEL = 0.02; // audioLevel is linear 0..1: about -34 dBov
  const SPEAKING_HOLD_MS = 600; // between syllables the ring stays
  const media = new Map(); // participant id -> Map track id -> {kind, source, muted}
  const heard = new Map(); // participant id -> when its level last passed SPEAKING_LEVEL
  let serverActive = new Set();
  let lastSpeaker = ''; // the speaker on stage in speaker view
  let pinned = ''; // tile key on stage by choice
  let speakerView = false;
  window.parley.tileState = () => ({ pinned, speakerView, lastSpeaker });

  const SVG = 'http://www.w3.org/2000/svg';
  function icon(paths) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    for (const d of paths) {
      const p = document.createElementNS(SVG, 'path');
      p.setAttribute('d', d);
      svg.append(p);
    }
    return svg;
  }
  // A microphone struck through; a push pin.
  const MIC_OFF = ['M12 2a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z',
    'M5 11a7 7 0 0 0 14 0M12 18v4M8 22h8', 'M3 3l18 18'];
  const PIN = ['M9 3h6l-1 6 4 4H6l4-4z', 'M12 13v8'];

  function initials(name) {
    const words = name.replace(/ \(you\)$/, '').trim().split(/\s+/).filter(Boolean);
    if (!words.length) return '?';
    const first = [...words[0]][0];
    const last = words.length > 1 ? [...words[words.length - 1]][0] : '';
    return (first + last).toUpperCase();
  }

  const pidOf = (key) => (key === SELF ? session.participant : key.split(':')[0]);
  const figOf = (key) => (key === SELF ? $('me') : tiles.get(key));
  const nameOf = (key) => (key === SELF ? session.name : people.get(pidOf(key))?.name || '');

  // The marks and the pin button, once per tile.
  function decorate(fig, key) {
    if (fig.querySelector(':scope > .pin')) return;
    const mic = document.createElement('span');
    mic.className = 'mic-off';
    mic.setAttribute('role', 'img');
    mic.setAttribute('aria-label', 'microphone muted');
    mic.title = 'Microphone muted';
    mic.hidden = true;
    mic.append(icon(MIC_OFF));
    const pin = document.createElement('button');
    pin.type = 'button';
    pin.className = 'pin';
    pin.setAttribute('aria-pressed', 'false');
    pin.append(icon(PIN));
    pin.addEventListener('click', () => {
      pinned = pinned === key ? '' : key;
      layout();
    });
    fig.append(mic, pin);
  }

  // Which of a participant's tracks are there and muted.
  function tracksOf(pid) {
    let m = media.get(pid);
    if (!m) { m = new Map(); media.set(pid, m); }
    return m;
  }
  function noteTrack(pid, t) {
    const had = tracksOf(pid).get(t.track_id);
    tracksOf(pid).set(t.track_id, { kind: t.kind, source: t.source, muted: t.muted ?? had?.muted ?? false });
  }

  // What one tile shows now.
  function refresh(key) {
    const fig = figOf(key);
    if (!fig) return;
    const pid = pidOf(key);
    if (pid) fig.dataset.participantId = pid;
    const name = nameOf(key);
    fig.dataset.initial = initials(name);
    let micMuted = false, cameraOff = false;
    if (key === SELF) {
      const stream = window.parley.stream;
      const a = stream?.getAudioTracks()[0], v = stream?.getVideoTracks()[0];
      micMuted = !!a && !a.enabled;
      cameraOff = !v || !v.enabled;
    } else if (!fig.dataset.screen) {
      const tracks = [...tracksOf(pid).values()];
      const mic = tracks.find((t) => t.kind === 'audio');
      const cam = tracks.find((t) => t.kind === 'video' && t.source !== 'screen');
      micMuted = !!mic?.muted;
      cameraOff = !cam || cam.muted || !fig.classList.contains('has-video');
      fig.classList.toggle('muted-a', micMuted);
      fig.classList.toggle('muted-v', !!cam?.muted);
    }
    fig.dataset.cameraOff = String(cameraOff);
    const mark = fig.querySelector(':scope > .mic-off');
    if (mark) mark.hidden = !micMuted;
    const pin = fig.querySelector(':scope > .pin');
    if (pin) {
      const label = key === SELF ? 'yourself' : name + (fig.dataset.screen ? '\'s screen' : '');
      pin.setAttribute('aria-label', pinned === key ? `Unpin ${label}` : `Pin ${label}`);
      pin.setAttribute('aria-pressed', String(pinned === key));
    }
    const now = performance.now();
    const speaking = !fig.dataset.screen && !micMuted && !!pid &&
      (serverActive.has(pid) || now - (heard.get(pid) ?? -Infinity) < SPEAKING_HOLD_MS);
    fig.classList.toggle('speaking', speaking);
    fig.dataset.speaking = String(speaking);
  }

  function refreshAll() {
    refresh(SELF);
    for (const key of tiles.keys()) refresh(key);
  }

  // Who is on stage, if anybody.
  function stageKey() {
    if (pinned && figOf(pinned)) return pinned;
    const screen = [...tiles.keys()].find((k) => k.endsWith(':screen'));
    if (screen) return screen;
    if (!speakerView) return '';
    if (lastSpeaker && tiles.has(lastSpeaker)) return lastSpeaker;
    return [...tiles.keys()][0] || '';
  }

  function layout() {
    const box = $('tiles');
    if ($('meeting').hidden) return;
    const me = $('me');
    decorate(me, SELF);
    for (const [key, fig] of tiles) decorate(fig, key);
    if (pinned && !figOf(pinned)) pinned = '';
    refreshAll();
    const keys = [...tiles.keys()];
    if (!me.hidden) keys.push(SELF);
    const stage = stageKey();
    // The area: the width of #tiles, the height from its top to the
    // window's bottom, less the meeting's own padding.
    const pad = parseFloat(getComputedStyle($('meeting')).paddingBottom) || 0;
    const top = box.getBoundingClientRect().top + scrollY;
    const height = Math.max(120, Math.floor(innerHeight - top - pad));
    const width = box.clientWidth;
    const { mode, rects } = parleyLayout.arrange({ width, height, gap: GAP, keys, self: me.hidden ? null : SELF,
      stage: stage || null });
    box.dataset.layout = mode;
    box.style.height = `${height}px`;
    for (const r of rects) {
      const fig = figOf(r.key);
      fig.style.left = `${Math.round(r.x)}px`;
      fig.style.top = `${Math.round(r.y)}px`;
      fig.style.width = `${Math.floor(r.w)}px`;
      fig.style.height = `${Math.floor(r.h)}px`;
      if (mode === 'stage' && r.key === stage) fig.dataset.stage = 'true';
      else delete fig.dataset.stage;
    }
    const view = $('view-mode');
    if (view) view.setAttribute('aria-pressed', String(speakerView));
  }
  hooks.layout = layout;
  hooks.self = () => { refresh(SELF); if (!$('meeting').hidden) layout(); };

  // Every participant gets a tile, with media or without.
  function ensureTiles() {
    for (const pid of people.keys()) if (pid !== session.participant && !tiles.has(pid)) tileFor(pid);
  }

  hooks.seen = (m) => {
    switch (m.type) {
      case 'joined':
        media.clear();
        heard.clear();
        for (const p of m.participants) for (const t of p.tracks || []) noteTrack(p.id, t);
        break;
      case 'participant-left':
        media.delete(m.participant_id);
        heard.delete(m.participant_id);
        break;
      case 'track-published': noteTrack(m.participant_id, m.track); break;
      case 'track-unpublished': tracksOf(m.participant_id).delete(m.track_id); break;
      case 'track-muted': {
        const t = tracksOf(m.participant_id).get(m.track_id);
        if (t) t.muted = m.muted;
        else noteTrack(m.participant_id, { track_id: m.track_id, kind: trackKinds.get(m.track_id), muted: m.muted });
        // Straight to the tile: no layout needed.
        refresh(m.participant_id);
        return;
      }
      case 'subscribe-offer':
        for (const t of Object.values(m.tracks || {})) if (t.participant_id) noteTrack(t.participant_id, t);
        break;
      case 'speakers': {
        serverActive = new Set(m.active);
        const other = m.active.find((id) => id !== session.participant);
        const before = stageKey();
        // The stage stays with its speaker while the server still lists
        // them, so that two talking at once do not make it flicker.
        if (other && !serverActive.has(lastSpeaker)) lastSpeaker = other;
        refreshAll();
        if (stageKey() !== before) layout();
        return;
      }
      default:
        if (!['participant-joined', 'transport-closed', 'video-paused'].includes(m.type)) return;
    }
    if (!session.participant || $('meeting').hidden) return;
    ensureTiles();
    layout();
  };

  // A remote tile gets its picture (parley.js's ontrack sets has-video):
  // the initials give way to it.
  new MutationObserver((records) => {
    for (const r of records) if (r.target.matches?.('.tile')) refresh(keyOf(r.target));
  }).observe($('tiles'), { subtree: true, attributes: true, attributeFilter: ['class'] });
  function keyOf(fig) {
    if (fig === $('me')) return SELF;
    for (const [key, f] of tiles) if (f === fig) return key;
    return '';
  }

  async function pollLevels() {
    if ($('meeting').hidden || document.hidden) return;
    const now = performance.now();
    const sub = window.parley.subscribe;
    if (sub && sub.connectionState === 'connected') {
      for (const s of (await sub.getStats()).values()) {
        if (s.type !== 'inbound-rtp' || s.kind !== 'audio' || !(s.audioLevel > SPEAKING_LEVEL)) continue;
        const pid = midInfo.get(s.mid)?.participant_id;
        if (pid) heard.set(pid, now);
      }
    }
    const pub = window.parley.publish;
    if (pub && pub.connectionState === 'connected' && session.participant) {
      for (const s of (await pub.getStats()).values())
        if (s.type === 'media-source' && s.kind === 'audio' && s.audioLevel > SPEAKING_LEVEL) heard.set(session.participant, now);
    }
    refresh(SELF);
    for (const [key, fig] of tiles) if (!fig.dataset.screen) refresh(key);
  }
  let polling = false;
  setInterval(() => {
    if (polling) return;
    polling = true;
    pollLevels().catch((e) => console.warn('levels:', e.message)).finally(() => { polling = false; });
  }, LEVEL_PERIOD_MS);

  // Gallery or speaker view, a button of the meeting bar.
  const view = document.createElement('button');
  view.type = 'button';
  view.id = 'view-mode';
  view.textContent = 'Speaker view';
  view.setAttribute('aria-pressed', 'false');
  view.addEventListener('click', () => {
    speakerView = !speakerView;
    layout();
  });
  const controls = document.querySelector('#meeting .controls');
  if (controls) controls.prepend(view);
  else document.querySelector('#meeting > header')?.append(view);

  addEventListener('resize', layout);
  // The bar wrapping onto more lines, or #tiles narrowed by a panel beside it.
  const resized = new ResizeObserver(() => requestAnimationFrame(layout));
  resized.observe(document.querySelector('#meeting > header'));
  resized.observe($('tiles'));
})();
