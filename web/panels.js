// The meeting's side panels and the controls around them: who is here
// (with microphone, camera and raised hand), the chat with its unread
// count, raising a hand (protocol `hand`), copying the invite link,
// keyboard shortcuts, and toasts for joins, leaves and raised hands.
// Everything here follows the server's messages (hooks.message) and keeps
// the room's state in window.parley.roster: participant id ->
// {name, you, hand, tracks: Map(track id -> {kind, source, muted})}.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const roster = new Map();
  window.parley.roster = roster;
  let me = '';

  // ---- the room's state, from the server's messages -------------------------
  function add(p) {
    const tracks = new Map();
    for (const t of p.tracks || []) tracks.set(t.track_id, { kind: t.kind, source: t.source, muted: !!t.muted });
    roster.set(p.id, { name: p.name, you: p.id === me, hand: !!p.hand_raised, tracks });
  }

  // A participant's microphone and camera: off when muted or not published.
  function state(id) {
    const p = roster.get(id);
    if (p?.you) {
      const tracks = window.parley.stream?.getTracks() || [];
      const on = (kind) => tracks.some((t) => t.kind === kind && t.enabled && t.readyState === 'live');
      return { micOff: !on('audio'), cameraOff: !on('video') };
    }
    const ts = [...(p?.tracks.values() || [])];
    const live = (kind, source) => ts.some((t) => t.kind === kind && t.source === source && !t.muted);
    return { micOff: !live('audio', 'microphone'), cameraOff: !live('video', 'camera') };
  }

  const chained = hooks.message;
  hooks.message = (m) => {
    chained(m);
    switch (m.type) {
      case 'joined':
        // A resumed session keeps its chat and hand; a new one starts afresh.
        if (m.participant.id !== me) { unread = 0; showUnread(); showHand(false); }
        roster.clear();
        me = m.participant.id;
        add({ id: me, name: m.participant.name, hand_raised: $('hand').getAttribute('aria-pressed') === 'true' });
        for (const p of m.participants) add(p);
        break;
      case 'left': roster.clear(); me = ''; break;
      case 'participant-joined':
        add(m.participant);
        toast(`${m.participant.name} joined`);
        break;
      case 'participant-left': {
        const p = roster.get(m.participant_id);
        roster.delete(m.participant_id);
        if (p) toast(m.reason === 'left' ? `${p.name} left` : `${p.name} lost the connection`);
        break;
      }
      case 'track-published':
        roster.get(m.participant_id)?.tracks.set(m.track.track_id,
          { kind: m.track.kind, source: m.track.source, muted: !!m.track.muted });
        break;
      case 'track-unpublished': roster.get(m.participant_id)?.tracks.delete(m.track_id); break;
      case 'track-muted': {
        const t = roster.get(m.participant_id)?.tracks.get(m.track_id);
        if (t) t.muted = m.muted;
        break;
      }
      case 'hand': {
        const p = roster.get(m.participant_id);
        if (!p) break;
        if (m.raised && !p.hand && !p.you) toast(`${p.name} raised a hand`);
        p.hand = m.raised;
        if (p.you) showHand(m.raised);
        break;
      }
      case 'chat':
        if ($('chat-panel').hidden && m.from.id !== me) { unread++; showUnread(); }
        break;
      default: return;
    }
    render();
  };

  // ---- the people panel -----------------------------------------------------
  function render() {
    const ul = $('people');
    const items = [...roster.entries()].map(([id, p]) => {
      const s = state(id);
      const li = document.createElement('li');
      li.className = 'member';
      li.dataset.participant = id;
      li.dataset.micOff = String(s.micOff);
      li.dataset.cameraOff = String(s.cameraOff);
      li.dataset.hand = String(p.hand);
      const name = document.createElement('span');
      name.className = 'member-name';
      name.textContent = p.you ? `${p.name} (you)` : p.name;
      const marks = document.createElement('span');
      marks.className = 'member-marks';
      // Words, not only symbols: a screen reader reads the state out.
      const said = [p.hand && 'hand raised', s.micOff && 'microphone off', s.cameraOff && 'camera off'].filter(Boolean);
      marks.textContent = said.join(', ');
      li.append(name, marks);
      return li;
    });
    ul.replaceChildren(...items);
    $('people-count').textContent = String(roster.size);
  }
  // parley.js renders the people list through here.
  hooks.people = () => { render(); return true; };
  // One's own microphone and camera change with the buttons and shortcuts.
  for (const id of ['mic', 'cam']) $(id).addEventListener('click', () => queueMicrotask(render));

  // The tiles' camera-off state (data-camera-off) is tiles.js's.

  // ---- side panels: one open at a time --------------------------------------
  const panels = { 'people-toggle': 'people-panel', 'chat-toggle': 'chat-panel', 'devices-toggle': 'devices-panel',
    'recordings-toggle': 'recordings-panel' };
  function openPanel(toggleId) {
    // Under the meeting's bar, however many lines it wraps to.
    const bar = document.querySelector('#meeting > header').getBoundingClientRect().bottom;
    $('side').style.setProperty('--panel-top', `${Math.round(bar + 8)}px`);
    for (const [t, p] of Object.entries(panels)) {
      const open = t === toggleId && $(p).hidden;
      $(p).hidden = !open;
      $(t).setAttribute('aria-expanded', String(open));
    }
    if (!$('chat-panel').hidden) { unread = 0; showUnread(); $('chat-text').focus(); }
  }
  for (const t of Object.keys(panels)) $(t).addEventListener('click', () => openPanel(t));
  // Escape closes an open panel and gives the focus back to its button.
  addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || $('meeting').hidden) return;
    const open = Object.entries(panels).find(([, p]) => !$(p).hidden);
    if (!open) return;
    openPanel(open[0]);
    $(open[0]).focus();
  });

  let unread = 0;
  function showUnread() {
    $('chat-unread').textContent = String(unread);
    $('chat-unread').hidden = unread === 0;
    $('chat-unread-words').textContent = unread ? ' unread' : '';
  }

  // ---- raise hand ----------------------------------------------------------
  function showHand(raised) {
    $('hand').setAttribute('aria-pressed', String(raised));
    $('hand').textContent = raised ? 'Lower hand' : 'Raise hand';
  }
  // The button changes when the server's `hand` comes back.
  $('hand').addEventListener('click', () =>
    send({ type: 'hand', raised: $('hand').getAttribute('aria-pressed') !== 'true' }));

  // ---- invite link ---------------------------------------------------------
  $('invite').addEventListener('click', async () => {
    const link = `${location.origin}/r/${encodeURIComponent(session.room)}`;
    try {
      await navigator.clipboard.writeText(link);
      toast(`Invite link copied: ${link}`);
    } catch {
      toast(`Copy this invite link: ${link}`, 15000);
    }
  });

  // ---- toasts --------------------------------------------------------------
  function toast(text, ms = 5000) {
    const box = $('toasts');
    const p = document.createElement('p');
    p.className = 'toast';
    p.textContent = text;
    box.append(p);
    while (box.children.length > 4) box.firstElementChild.remove();
    setTimeout(() => p.remove(), ms);
  }
  window.parley.toast = toast;

  // ---- keyboard shortcuts --------------------------------------------------
  // Ctrl/Cmd+D microphone and Ctrl/Cmd+E camera anywhere; M, V and H when
  // not typing. In the pre-join preview they work its toggles.
  const SHORTCUTS = { mic: 'M or Ctrl+D', cam: 'V or Ctrl+E', hand: 'H' };
  for (const [id, keys] of Object.entries(SHORTCUTS)) {
    $(id).title = `Shortcut: ${keys}`;
    $(id).setAttribute('aria-keyshortcuts', id === 'mic' ? 'M Control+D Meta+D' : id === 'cam' ? 'V Control+E Meta+E' : 'H');
  }
  $('prejoin-mic').title = 'Shortcut: Ctrl+D';
  $('prejoin-cam').title = 'Shortcut: Ctrl+E';
  const typing = (el) => el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
  addEventListener('keydown', (e) => {
    if (e.altKey || e.repeat) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    let what = '';
    if (mod && !e.shiftKey && (key === 'd' || key === 'e')) what = key === 'd' ? 'audio' : 'video';
    else if (!mod && !typing(document.activeElement) && ['m', 'v', 'h'].includes(key))
      what = { m: 'audio', v: 'video', h: 'hand' }[key];
    if (!what) return;
    const inMeeting = !$('meeting').hidden;
    const inPrejoin = !$('prejoin').hidden || (!$('start').hidden && !$('prejoin-media').hidden);
    if (!inMeeting && !inPrejoin) return;
    e.preventDefault();
    if (!inMeeting) { if (what !== 'hand') window.parley.prejoinToggle(what); return; }
    $({ audio: 'mic', video: 'cam', hand: 'hand' }[what]).click();
  });
})();
