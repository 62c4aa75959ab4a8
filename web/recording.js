// A meeting's recording (protocol "Recording"): the indicator everyone in
// the room sees from the first second to the last (those who join later
// from `joined.recording`), the Record / Stop recording button, and the
// Recordings panel with what this page saw recorded in the room. The
// server has no listing for participants, so the panel names the files it
// can know of: a meeting's mix (mix.ogg) and one `<participant id>.webm`
// per participant who was in the room while it recorded, each shown only
// once the server answers for it (a HEAD request).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let on = false; // the room is being recorded now
  let current = ''; // its recording id
  let room = '';
  let asking = false; // a record request is on its way
  // Recordings seen in this room: id -> {by, people: Map(pid -> name), state, reason, files}
  const seen = new Map();
  window.parley.recording = { get on() { return on; }, get id() { return current; }, seen };

  const ERRORS = {
    forbidden: 'You are not allowed to record this meeting',
    quota: 'The recording cannot start: there is no room left for recordings',
    internal: 'The recording could not start (a problem on the server)',
  };
  const STOPPED = {
    quota: 'The recording stopped: there is no room left for recordings',
    disk_full: 'The recording stopped: the server\'s disk is full',
    failed: 'The recording stopped: its files could not be written',
  };

  function nameOf(pid) {
    if (pid === 'operator') return 'An operator';
    if (pid === 'server') return 'The server';
    const p = window.parley.roster?.get(pid);
    if (!p) return 'Someone';
    return p.you ? 'You' : p.name;
  }

  function show() {
    $('rec-indicator').hidden = !on;
    const b = $('record');
    b.textContent = on ? 'Stop recording' : 'Record';
    b.setAttribute('aria-pressed', String(on));
    b.disabled = asking;
    $('meeting').classList.toggle('recorded', on);
  }

  // Whoever is in the room while it records is in the recording.
  function note(pid, name) {
    const r = seen.get(current);
    if (on && r && pid && !r.people.has(pid)) r.people.set(pid, name);
  }

  function noteEveryone() {
    for (const [pid, p] of window.parley.roster || []) note(pid, p.name);
  }

  function started(id, by) {
    on = true;
    current = id;
    if (!seen.has(id)) seen.set(id, { by, people: new Map(), state: 'recording', reason: '', files: null });
    noteEveryone();
  }

  function stopped(m) {
    on = false;
    const r = seen.get(m.recording_id || current);
    if (r) {
      r.state = 'stopped';
      r.reason = m.reason || '';
      findFiles(m.recording_id || current);
    }
  }

  // A recording's file as the page plays it: the access token, when the
  // page has one, as `?token=` since <audio src> and links cannot send a
  // header (docs/recording.md, "In the server").
  function fileUrl(id, file) {
    const url = `/recordings/${encodeURIComponent(id)}/${encodeURIComponent(file)}`;
    return accessToken ? `${url}?token=${encodeURIComponent(accessToken)}` : url;
  }

  async function exists(id, file) {
    try {
      const headers = accessToken ? { authorization: `Bearer ${accessToken}` } : {};
      const res = await fetch(`/recordings/${encodeURIComponent(id)}/${encodeURIComponent(file)}`,
        { method: 'HEAD', headers, cache: 'no-store' });
      return res.ok;
    } catch {
      return false;
    }
  }

  async function findFiles(id) {
    const r = seen.get(id);
    if (!r) return;
    const wanted = [{ file: 'mix.ogg', label: 'Everyone (mixed audio)', kind: 'mix' },
      ...[...r.people].map(([pid, name]) => ({ file: `${pid}.webm`, label: name, kind: 'tracks' }))];
    const found = await Promise.all(wanted.map((f) => exists(id, f.file)));
    r.files = wanted.filter((f, i) => found[i]);
    render();
  }

  function render() {
    const items = [...seen].reverse().map(([id, r]) => {
      const li = document.createElement('li');
      li.className = 'recording-item';
      li.dataset.recording = id;
      const head = document.createElement('p');
      const code = document.createElement('code');
      code.textContent = id;
      const state = document.createElement('span');
      state.className = 'rec-state';
      state.textContent = r.state === 'recording' ? ' recording now' :
        r.reason ? ` stopped (${r.reason.replace('_', ' ')})` : ' finished';
      head.append('Recording ', code, state);
      li.append(head);
      if (r.state === 'stopped' && !r.files) li.append(Object.assign(document.createElement('p'),
        { className: 'hint', textContent: 'Looking for its files…' }));
      for (const f of r.files || []) {
        if (f.kind === 'mix') {
          const label = document.createElement('p');
          label.textContent = f.label;
          const audio = document.createElement('audio');
          audio.controls = true;
          audio.preload = 'metadata';
          audio.src = fileUrl(id, f.file);
          audio.setAttribute('aria-label', `Recording ${id}: ${f.label}`);
          audio.className = 'rec-mix';
          li.append(label, audio);
        } else {
          const a = document.createElement('a');
          a.href = fileUrl(id, f.file);
          a.target = '_blank';
          a.rel = 'noopener';
          a.className = 'rec-file';
          a.textContent = `${f.label} (video)`;
          li.append(a, ' ');
        }
      }
      return li;
    });
    $('recordings-list').replaceChildren(...items);
    $('recordings-empty').hidden = seen.size > 0;
    $('recordings-count').textContent = seen.size ? String(seen.size) : '';
    // The bar has no room to spare: the panel's button comes with something to show.
    $('recordings-toggle').hidden = seen.size === 0;
    if (!seen.size && !$('recordings-panel').hidden) $('recordings-toggle').click();
    show();
  }

  function reset(joinedRoom) {
    if (joinedRoom !== room) { seen.clear(); $('recordings-list').replaceChildren(); }
    room = joinedRoom;
    on = false;
    current = '';
    asking = false;
  }

  $('record').addEventListener('click', () => {
    if (asking) return;
    const want = !on;
    asking = request({ type: 'record', record: want }, (m) => {
      asking = false;
      if (m.type === 'error') notify(ERRORS[m.code] || `Recording: ${m.message}`);
      show();
    });
    if (!asking) notify('Not connected to the server.');
    show();
  });

  // Names come from the roster that panels.js keeps: its hook runs first.
  const chained = hooks.message;
  hooks.message = (m) => {
    chained(m);
    switch (m.type) {
      case 'joined': {
        const resumed = m.room === room && session.participant === m.participant.id;
        if (!resumed) reset(m.room);
        // A reply lost with a connection never comes: the button works again.
        asking = false;
        if (m.recording && m.recording_id) started(m.recording_id, '');
        else if (on) stopped({ recording_id: current });
        render();
        break;
      }
      case 'recording':
        if (m.recording) {
          const fresh = !on || current !== m.recording_id;
          started(m.recording_id, m.by);
          if (fresh && m.by !== session.participant) window.parley.toast?.(`${nameOf(m.by)} started recording this meeting`);
        } else {
          if (!on) break;
          stopped(m);
          if (m.reason) notify(STOPPED[m.reason] || `The recording stopped (${m.reason})`, 10000);
          else if (m.by !== session.participant) window.parley.toast?.(`${nameOf(m.by)} stopped the recording`);
        }
        render();
        break;
      case 'participant-joined': note(m.participant.id, m.participant.name); break;
      // Out of the room: what was recorded stays listed for the next visit.
      case 'left': case 'removed': on = false; current = ''; asking = false; show(); break;
    }
  };
  window.parley.recordingState = () => ({ on, id: current, shown: !$('rec-indicator').hidden });
  show();
})();
