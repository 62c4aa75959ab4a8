// One-on-one calls (protocol section 4) and the lobby around them: who is
// online, do not disturb, missed heads-ups. A call is a private room of two
// that the meeting code in parley.js joins and publishes to as usual.
'use strict';
(() => {
  const online = new Map(); // user id -> {id, name, status}
  const rows = new Map(); // user id -> <li> in the people list
  const missed = new Map(); // call id -> MISSED heads-up
  const heard = new Map(); // call id -> its incoming-call, for a call that then goes unanswered
  let call = null; // ours, outgoing or accepted: {id, peer, topic, audioOnly, outgoing, state, room, since}
  let incoming = null; // the incoming-call ringing on this device
  let dnd = false;
  let timer = 0;
  let titleBeforeRing = '';

  const STATUS_TEXT = { online: 'Available', dnd: 'Do not disturb', ringing: 'Ringing…', 'in-call': 'In a call' };
  Object.defineProperty(window.parley, 'call', { get: () => call });
  Object.defineProperty(window.parley, 'incoming', { get: () => incoming });
  window.parley.ring = '';

  // ---- ring sound --------------------------------------------------------
  // Synthesised, so there is no file to fetch, and nothing plays before the
  // page has seen a click (the context is made on the first one, as
  // browsers require).
  const ring = { ctx: null, timer: 0, tones: new Set() };

  function audioContext() {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!ring.ctx && AC) ring.ctx = new AC();
    if (ring.ctx?.state === 'suspended') ring.ctx.resume().catch(() => {});
    window.parley.audioContext = ring.ctx;
    return ring.ctx;
  }

  function tone(freq, start, length, volume) {
    const ctx = ring.ctx;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = freq;
    // Ramps: a tone switched on and off at once clicks.
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(volume, start + 0.02);
    gain.gain.setValueAtTime(volume, start + length - 0.05);
    gain.gain.linearRampToValueAtTime(0, start + length);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.onended = () => { ring.tones.delete(osc); gain.disconnect(); };
    ring.tones.add(osc);
    osc.start(start);
    osc.stop(start + length);
  }

  // Incoming: a bright double chime that is hard to miss; ringback for the
  // caller: the quiet long tone a telephone plays while the other end rings.
  const PATTERNS = {
    incoming: { every: 2500, play(t) {
      for (const at of [0, 0.6]) { tone(784, t + at, 0.18, 0.25); tone(1047, t + at + 0.2, 0.3, 0.25); }
    } },
    ringback: { every: 4000, play(t) { tone(425, t, 1.2, 0.06); } },
  };

  function startRing(kind) {
    stopRing();
    window.parley.ring = kind;
    const ctx = audioContext();
    if (!ctx) return;
    const beat = () => PATTERNS[kind].play(ctx.currentTime + 0.05);
    beat();
    ring.timer = setInterval(beat, PATTERNS[kind].every);
  }

  function stopRing() {
    clearInterval(ring.timer);
    ring.timer = 0;
    for (const osc of ring.tones) try { osc.stop(); } catch { /* not started yet */ }
    ring.tones.clear();
    window.parley.ring = '';
  }

  for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, audioContext, { capture: true });

  // ---- people ------------------------------------------------------------
  function setStatusDot(el, status) {
    el.dataset.status = status;
    el.title = STATUS_TEXT[status] || status;
  }

  function renderPerson(u) {
    let li = rows.get(u.id);
    if (!li) {
      li = $('person-template').content.firstElementChild.cloneNode(true);
      li.dataset.user = u.id;
      li.querySelector('.call-btn').addEventListener('click', () => openCallForm(li));
      li.querySelector('.call-form-cancel').addEventListener('click', () => closeCallForm(li));
      li.querySelector('.call-form').addEventListener('submit', (e) => {
        e.preventDefault();
        const form = e.target;
        const peer = online.get(li.dataset.user);
        if (!peer) return;
        startCall(peer, form.topic.value.trim(), form.audio.checked);
        closeCallForm(li);
      });
      rows.set(u.id, li);
    }
    li.dataset.status = u.status;
    li.dataset.name = u.name;
    setStatusDot(li.querySelector('.dot'), u.status);
    li.querySelector('.person-name').textContent = u.name;
    li.querySelector('.person-status').textContent = STATUS_TEXT[u.status] || u.status;
    li.querySelector('.call-btn').setAttribute('aria-label', `Call ${u.name}`);
    li.querySelector('.headsup-btn').setAttribute('aria-label', `Record a heads-up for ${u.name}`);
    return li;
  }

  function renderOnline() {
    const sorted = [...online.values()].sort((a, b) => a.name.localeCompare(b.name)).map(renderPerson);
    for (const [id, li] of rows) if (!online.has(id)) { li.remove(); rows.delete(id); }
    // Moving rows would take the focus from a topic being typed.
    const list = $('online-people');
    if (sorted.some((li, i) => list.children[i] !== li)) list.replaceChildren(...sorted);
    $('online-empty').hidden = online.size > 0;
    refreshButtons();
  }

  function openCallForm(li) {
    for (const other of rows.values()) if (other !== li) closeCallForm(other);
    const form = li.querySelector('.call-form');
    form.hidden = false;
    li.querySelector('.call-btn').hidden = true;
    form.topic.focus();
  }

  function closeCallForm(li) {
    const form = li.querySelector('.call-form');
    form.hidden = true;
    form.reset();
    li.querySelector('.call-btn').hidden = false;
  }

  // One call at a time: while one rings or runs, or a message is being
  // recorded (headsup.js), nobody else can be called.
  function refreshButtons() {
    const busy = !!(call || incoming || window.parley.messageBusy);
    for (const li of rows.values())
      for (const b of li.querySelectorAll('button[type=submit], .call-btn, .headsup-btn')) b.disabled = busy;
    for (const b of document.querySelectorAll('#missed-list .call-back'))
      b.disabled = busy || !online.has(b.closest('li').dataset.from);
  }

  window.parley.refreshCallButtons = refreshButtons;

  // ---- do not disturb ----------------------------------------------------
  function setDnd(on) {
    dnd = on;
    $('dnd').checked = on;
    $('dnd-note').hidden = !on;
    setStatusDot($('me-badge').querySelector('.dot'), on ? 'dnd' : 'online');
  }

  $('dnd').addEventListener('change', () => {
    const want = $('dnd').checked ? 'dnd' : 'online';
    const sent = request({ type: 'status', status: want }, (m) => {
      if (m.type === 'status') setDnd(m.status === 'dnd');
      else { setDnd(dnd); notify(m.message); }
    });
    if (!sent) setDnd(dnd);
  });

  // ---- missed heads-ups --------------------------------------------------
  function when(ts) {
    const d = new Date(ts);
    const today = d.toDateString() === new Date().toDateString();
    return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  // A recorded message's player, kept across renders (presence changes
  // render the list again) so that one being watched goes on playing. The
  // file plays with the page's access token, as `?token=` since a <video
  // src> cannot send a header.
  const players = new Map(); // message id -> <video> or <audio>
  function playerFor(message, from) {
    let el = players.get(message.id);
    if (el) return el;
    el = document.createElement(message.audio_only ? 'audio' : 'video');
    el.className = 'message-player';
    el.controls = true;
    el.preload = 'metadata';
    if (!message.audio_only) el.playsInline = true;
    const url = message.url || '';
    el.src = accessToken ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(accessToken)}` : url;
    el.setAttribute('aria-label', `${message.audio_only ? 'Audio' : 'Video'} message from ${from.name}`);
    players.set(message.id, el);
    return el;
  }

  function reasonText(x) {
    if (x.reason === 'message') return 'left you a message';
    const why = x.reason === 'dnd' ? 'called while you were on do not disturb' : 'called, no answer';
    return x.message ? `${why}, and left a message` : why;
  }

  function renderMissed() {
    const items = [...missed.values()].sort((a, b) => b.ts - a.ts);
    const kept = new Set(items.map((x) => x.message?.id).filter(Boolean));
    for (const [id, el] of players) if (!kept.has(id)) { el.pause(); el.removeAttribute('src'); players.delete(id); }
    $('missed-list').replaceChildren(...items.map((x) => {
      const li = document.createElement('li');
      li.className = 'missed-item';
      li.dataset.callId = x.call_id;
      li.dataset.from = x.from.id;
      const text = document.createElement('div');
      text.className = 'missed-text';
      const who = document.createElement('strong');
      who.textContent = x.from.name;
      const time = document.createElement('time');
      time.dateTime = new Date(x.ts).toISOString();
      time.textContent = when(x.ts);
      const why = document.createElement('span');
      why.className = 'reason';
      why.textContent = reasonText(x);
      text.append(who, ' ', why, ' · ', time);
      if (x.message?.duration_ms) text.append(` · ${clock(x.message.duration_ms)}`);
      if (x.topic) {
        const topic = document.createElement('span');
        topic.className = 'topic';
        topic.textContent = x.topic;
        text.append(topic);
      }
      const back = document.createElement('button');
      back.type = 'button';
      back.className = 'call-back accept';
      back.textContent = 'Call back';
      back.addEventListener('click', () => {
        const peer = online.get(x.from.id) || x.from;
        const topic = x.topic ? `Re: ${x.topic}`.slice(0, 200) : '';
        startCall(peer, topic, false, () => acknowledge([x.call_id]));
      });
      const dismiss = document.createElement('button');
      dismiss.type = 'button';
      dismiss.className = 'dismiss';
      dismiss.textContent = 'Dismiss';
      dismiss.addEventListener('click', () => acknowledge([x.call_id]));
      li.append(text, back, dismiss);
      if (x.message?.url) {
        li.classList.add('has-message');
        li.append(playerFor(x.message, x.from));
      }
      return li;
    }));
    $('missed-empty').hidden = missed.size > 0;
    $('missed-title').textContent = missed.size ? `Missed heads-ups (${missed.size})` : 'Missed heads-ups';
    refreshButtons();
  }

  function addMissed(items) {
    for (const x of items) missed.set(x.call_id, x);
    renderMissed();
  }

  function acknowledge(ids) {
    for (const id of ids) missed.delete(id);
    renderMissed();
    request({ type: 'missed-ack', call_ids: ids }, (m) => { if (m.type === 'error') notify(m.message); });
  }

  // ---- calls -------------------------------------------------------------
  // Ending a call that the other side ended at the same moment is no error
  // worth showing.
  const ignore = () => {};
  function show(id, on) { $(id).hidden = !on; }

  function showOutgoing() {
    $('outgoing-to').textContent = call.peer.name;
    $('outgoing-state').textContent = call.state === 'calling' ? 'connecting' : 'ringing';
    $('outgoing-topic').textContent = call.topic || '';
    show('outgoing-topic', !!call.topic);
    show('outgoing', true);
  }

  function callError(m, peer) {
    if (m.code === 'not_found') return `${peer.name} is not online any more.`;
    if (m.code === 'busy') return 'You are already in a call.';
    return `The call failed: ${m.message}`;
  }

  // then(): once it rings, e.g. to clear the heads-up being called back.
  function startCall(peer, topic, audioOnly, then) {
    if (call || incoming || window.parley.messageBusy) return;
    const msg = { type: 'call', to: peer.id };
    if (topic) msg.topic = topic;
    if (audioOnly) msg.audio_only = true;
    const mine = { id: null, peer, topic, audioOnly, outgoing: true, state: 'calling' };
    const sent = request(msg, (m) => {
      if (call !== mine) {
        // Cancelled before the server had named the call.
        if (m.type === 'call-ringing') request({ type: 'call-cancel', call_id: m.call_id }, ignore);
        return;
      }
      if (m.type !== 'call-ringing') { finishCall(callError(m, peer)); return; }
      mine.id = m.call_id;
      if (m.to) mine.peer = m.to;
      mine.state = 'ringing';
      showOutgoing();
      startRing('ringback');
      then?.();
    });
    if (!sent) { notify('Not connected to the server.'); return; }
    call = mine;
    audioContext();
    showOutgoing();
    refreshButtons();
  }

  function showIncoming(m) {
    incoming = m;
    $('incoming-from').textContent = m.from.name;
    $('incoming-topic').textContent = m.topic || '';
    show('incoming-topic', !!m.topic);
    $('incoming-kind').textContent = m.audio_only ? 'Audio call' : 'Video call';
    show('incoming', true);
    startRing('incoming');
    titleBeforeRing = document.title;
    document.title = `${m.from.name} is calling – Parley`;
    refreshButtons();
    $('accept-call').focus();
  }

  function dismissIncoming(text) {
    if (!incoming) return;
    incoming = null;
    stopRing();
    show('incoming', false);
    document.title = titleBeforeRing || 'Parley';
    if (text) notify(text);
    refreshButtons();
  }

  function beginCall(room) {
    call.room = room;
    call.state = 'joining';
    call.since = Date.now();
    stopRing();
    show('outgoing', false);
    joinRoom(room, () => finishCall(''));
  }

  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const p = (n) => String(n).padStart(2, '0');
    const h = Math.floor(s / 3600);
    return h ? `${h}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}` : `${p(Math.floor(s / 60))}:${p(s % 60)}`;
  }

  function tick() { if (call?.since) $('call-timer').textContent = clock(Date.now() - call.since); }

  // Whatever ended it, this device is back in the lobby, still online.
  function finishCall(text) {
    const was = call;
    call = null;
    clearInterval(timer);
    timer = 0;
    stopRing();
    show('outgoing', false);
    if (was?.room && session.room === was.room) leaveRoom();
    if (text) notify(text);
    refreshButtons();
  }

  function hangUp() {
    if (!call) return;
    const length = call.since ? ` after ${clock(Date.now() - call.since)}` : '';
    request({ type: 'call-hangup', call_id: call.id }, ignore);
    finishCall(`Call with ${call.peer.name} ended${length}.`);
  }

  $('accept-call').addEventListener('click', () => {
    const m = incoming;
    if (!m) return;
    dismissIncoming();
    if (call) return;
    const mine = { id: m.call_id, peer: m.from, topic: m.topic || '', audioOnly: !!m.audio_only, outgoing: false, state: 'accepting' };
    call = mine;
    refreshButtons();
    const sent = request({ type: 'call-accept', call_id: m.call_id }, (r) => {
      if (r.type === 'error' && call === mine) finishCall(`Could not answer: ${r.message}`);
    });
    if (!sent) finishCall('Not connected to the server.');
  });
  $('decline-call').addEventListener('click', () => {
    if (!incoming) return;
    request({ type: 'call-decline', call_id: incoming.call_id }, ignore);
    dismissIncoming();
  });
  $('cancel-call').addEventListener('click', () => {
    if (!call || call.room) return;
    if (call.id) request({ type: 'call-cancel', call_id: call.id }, ignore);
    finishCall('');
  });
  $('hangup').addEventListener('click', hangUp);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('outgoing').hidden) $('cancel-call').click();
  });

  // An outcome for the call this device placed or answered (`mine`), or for
  // the one ringing here.
  function onOutcome(m) {
    const mine = call?.id === m.call_id ? call : null;
    const ringing = incoming?.call_id === m.call_id ? incoming : null;
    const from = ringing?.from || heard.get(m.call_id)?.from;
    switch (m.type) {
      case 'call-accepted':
        if (m.elsewhere) dismissIncoming(ringing ? 'Answered on another device.' : '');
        else if (mine && !mine.room) beginCall(m.room);
        break;
      case 'call-busy':
        if (mine) finishCall(`${mine.peer.name} is busy in another call.`);
        break;
      case 'call-declined':
        if (mine) {
          finishCall(m.reason === 'dnd' ? `${mine.peer.name} does not want to be disturbed right now; ` +
            'they will see that you called.' : `${mine.peer.name} declined the call.`);
        }
        dismissIncoming();
        break;
      case 'call-cancelled':
        if (mine) finishCall('The call was cancelled.');
        dismissIncoming(from ? `${from.name} hung up.` : '');
        break;
      case 'call-missed':
        if (mine) finishCall(`${mine.peer.name} did not answer.`);
        if (from) {
          const h = heard.get(m.call_id) || ringing;
          addMissed([{ call_id: m.call_id, from, topic: h?.topic, ts: Date.now(), reason: 'missed' }]);
        }
        dismissIncoming();
        break;
      case 'call-ended':
        if (mine) {
          const length = mine.since ? ` after ${clock(Date.now() - mine.since)}` : '';
          const who = m.by === session.user?.id ? 'Call' : `${mine.peer.name} hung up. Call`;
          finishCall(`${who} ended${length}.`);
        }
        break;
    }
    if (m.type !== 'call-accepted' || m.elsewhere) heard.delete(m.call_id);
  }

  // ---- hooks into the connection -------------------------------------------
  hooks.welcome = (m) => {
    $('me-name').textContent = m.user.name;
    $('me').dataset.initial = m.user.name.slice(0, 1).toUpperCase();
    if (!m.resumed) {
      // A new session: whatever rang or ran went with the old one.
      dismissIncoming();
      if (call) finishCall('The call was cut off by a lost connection.');
      if (dnd) send({ type: 'status', status: 'dnd' });
    }
    online.clear();
    for (const u of m.online || []) if (u.id !== m.user.id) online.set(u.id, u);
    renderOnline();
    addMissed(m.missed || []);
  };

  hooks.joined = (m) => {
    if (!call || call.room !== m.room) return null;
    call.state = 'active';
    $('room-name').textContent = call.peer.name;
    $('call-topic').textContent = call.topic || '';
    document.title = `Call with ${call.peer.name} – Parley`;
    clearInterval(timer);
    tick();
    timer = setInterval(tick, 1000);
    return { audioOnly: call.audioOnly, topic: call.topic };
  };

  hooks.event = (m) => {
    switch (m.type) {
      case 'presence':
        if (m.status === 'offline') online.delete(m.user.id);
        else online.set(m.user.id, { ...m.user, status: m.status });
        renderOnline();
        renderMissed();
        break;
      case 'status': setDnd(m.status === 'dnd'); break;
      case 'missed': addMissed(m.items || []); break;
      case 'incoming-call':
        heard.set(m.call_id, m);
        // The server does not ring a busy user; should it, the call in
        // progress wins and this one goes unanswered.
        if (!call && !incoming) showIncoming(m);
        break;
      case 'call-accepted': case 'call-busy': case 'call-declined': case 'call-cancelled':
      case 'call-missed': case 'call-ended':
        onOutcome(m);
        break;
    }
  };
})();
