// Video heads-ups, the caller's side (protocol "Video heads-ups"): after a
// call that went unanswered (declined for do not disturb, missed, busy),
// or from the lobby next to anyone online, one may leave a recorded
// message of up to max_seconds, video or audio only. The server gives a
// room of one (`message-ready`); this page joins it and publishes as in a
// call (parley.js does the media), shows the time against the limit, and
// stops on the Stop and send button (`message-stop`) or when the server
// stops at the limit; `message-saved` ends it. The callee's side, the
// player in the missed heads-ups, is calls.js's.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  // The message being recorded: {to:{id,name}, callId, audioOnly, id, room, max, since, state}
  // with state 'starting' (asked), 'recording' (in its room), 'stopping' (stop asked).
  let msg = null;
  let offered = null; // {to, callId, audioOnly}: the offer card shown
  let timer = 0;
  let giveUp = 0;
  const ignore = () => {};
  Object.defineProperty(window.parley, 'message', { get: () => msg });

  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  }

  function busy(on) {
    window.parley.messageBusy = on;
    window.parley.refreshCallButtons?.();
  }

  // ---- the offer ----------------------------------------------------------
  const WHY = {
    'call-declined': 'They are on do not disturb.',
    'call-missed': 'They did not answer.',
    'call-busy': 'They are in another call.',
    lobby: '',
  };

  function offer(to, callId, why, audioOnly) {
    if (msg) return;
    offered = { to, callId, audioOnly };
    $('message-offer-to').textContent = to.name;
    $('message-offer-why').textContent = WHY[why] || '';
    $('message-offer-why').hidden = !WHY[why];
    $('message-offer').hidden = false;
    $(audioOnly ? 'message-audio' : 'message-video').focus();
  }

  function closeOffer() {
    offered = null;
    $('message-offer').hidden = true;
  }

  $('message-video').addEventListener('click', () => { const o = offered; closeOffer(); if (o) start(o.to, o.callId, false); });
  $('message-audio').addEventListener('click', () => { const o = offered; closeOffer(); if (o) start(o.to, o.callId, true); });
  $('message-no').addEventListener('click', closeOffer);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && offered) closeOffer(); });

  // "Record a heads-up" next to each person online (the rows are calls.js's).
  $('online-people').addEventListener('click', (e) => {
    const b = e.target.closest('.headsup-btn');
    const li = b?.closest('li');
    if (!li || b.disabled) return;
    offer({ id: li.dataset.user, name: li.dataset.name }, null, 'lobby', false);
  });

  // ---- recording it ---------------------------------------------------------
  const START_ERRORS = {
    quota: 'You have no room left for recordings: the message cannot be recorded.',
    forbidden: 'You may not leave this person a message.',
  };

  function start(to, callId, audioOnly) {
    if (msg || window.parley.call) return;
    if (session.room) { notify('Leave the meeting before recording a message.'); return; }
    const mine = { to, callId, audioOnly, id: null, room: null, max: 0, since: 0, state: 'starting' };
    const ask = { type: 'message-start', to: to.id, audio_only: audioOnly };
    if (callId) ask.call_id = callId;
    const sent = request(ask, function ready(m) {
      if (msg !== mine) return;
      if (m.type === 'error' && m.code === 'not_found' && ask.call_id) {
        // That call cannot carry a message (the server keeps only missed
        // and refused ones): the message then stands on its own.
        delete ask.call_id;
        mine.callId = null;
        if (!request(ask, ready)) finish('Not connected to the server.');
        return;
      }
      if (m.type !== 'message-ready') {
        finish(START_ERRORS[m.code] || (m.code === 'not_found' ? `${to.name} cannot get messages now.`
          : `The message could not start: ${m.message}`));
        return;
      }
      mine.id = m.message_id;
      mine.room = m.room;
      mine.max = (m.max_seconds || 120) * 1000;
      joinRoom(m.room, (e) => finish(`The message could not start: ${e.message}`));
    });
    if (!sent) { notify('Not connected to the server.'); return; }
    msg = mine;
    busy(true);
  }

  function tick() {
    if (!msg?.since) return;
    const elapsed = Math.min(Date.now() - msg.since, msg.max);
    $('message-timer').textContent = `${clock(elapsed)} / ${clock(msg.max)}`;
    $('message-timer').classList.toggle('near-end', msg.max - elapsed < 10000);
    if (elapsed >= msg.max && msg.state === 'recording') {
      // The server stops at the limit and says message-saved.
      msg.state = 'stopping';
      showBar();
      waitForSaved();
    }
  }

  function showBar() {
    const stopping = msg?.state === 'stopping';
    $('message-send').disabled = stopping || msg?.state !== 'recording';
    $('message-send').textContent = stopping ? 'Sending…' : 'Stop and send';
  }

  function stop() {
    if (msg?.state !== 'recording') return;
    const mine = msg;
    mine.state = 'stopping';
    showBar();
    const sent = request({ type: 'message-stop', message_id: mine.id }, (m) => {
      // Already stopped (the limit, a lost connection): leaving is all there is to do.
      if (m.type === 'error' && msg === mine) leaveMessageRoom();
    });
    if (!sent) leaveMessageRoom();
    waitForSaved();
  }
  $('message-send').addEventListener('click', stop);

  // Leaving the room stops the recording too (the server then saves it).
  function leaveMessageRoom() {
    if (msg?.room && session.room === msg.room) {
      request({ type: 'leave' }, ignore);
      leaveRoom();
    }
  }

  // message-saved should follow the stop at once; should it not come, the
  // page does not stay in the message's room for ever.
  function waitForSaved() {
    clearTimeout(giveUp);
    const mine = msg;
    giveUp = setTimeout(() => {
      if (msg !== mine) return;
      leaveMessageRoom();
      finish(`The message to ${mine.to.name} may not have been saved.`);
    }, 15000);
  }

  function saved(m) {
    if (!msg || m.message_id !== msg.id) return;
    const to = msg.to.name;
    leaveMessageRoom();
    // `error`: the recording could not start when the room was joined.
    if (m.error) finish(m.error === 'quota' ? START_ERRORS.quota : 'The message could not be recorded (a problem on the server).');
    else finish(m.duration_ms > 0 ? `Message for ${to} sent (${clock(m.duration_ms)}).`
      : 'The message was shorter than a second and was not kept.');
  }

  function finish(text) {
    const was = msg;
    msg = null;
    clearInterval(timer);
    clearTimeout(giveUp);
    timer = 0;
    $('message-bar').hidden = true;
    $('meeting').classList.remove('message');
    if (was?.room && session.room === was.room) leaveMessageRoom();
    busy(false);
    if (text) notify(text, 8000);
  }

  // ---- hooks into the meeting code -------------------------------------------
  // The message's room is joined like a call (no people list, the camera
  // left out for audio only) and shows its own bar instead of the call's.
  const joinedBefore = hooks.joined;
  hooks.joined = (m) => {
    if (!msg || m.room !== msg.room) return joinedBefore(m);
    if (!msg.since) msg.since = Date.now();
    if (msg.state === 'starting') msg.state = 'recording';
    document.title = `Message for ${msg.to.name} – Parley`;
    $('room-name').textContent = `Message for ${msg.to.name}`;
    return { audioOnly: msg.audioOnly, topic: '' };
  };

  const messageBefore = hooks.message;
  hooks.message = (m) => {
    messageBefore(m);
    if (m.type !== 'joined' || !msg || m.room !== msg.room) return;
    // After parley.js set up the view for a call-like room.
    queueMicrotask(() => {
      if (!msg || session.room !== msg.room) return;
      $('meeting').classList.add('message');
      $('hangup').hidden = true;
      $('call-timer').hidden = true;
      $('message-bar').hidden = false;
      showBar();
      tick();
      clearInterval(timer);
      timer = setInterval(tick, 250);
      $('message-send').focus();
    });
  };

  const eventBefore = hooks.event;
  hooks.event = (m) => {
    // The call as it was before calls.js handles its end.
    const mine = window.parley.call;
    eventBefore(m);
    if (m.type === 'message-saved') { saved(m); return; }
    if (!mine?.outgoing || !mine.id || mine.id !== m.call_id) return;
    if (m.type === 'call-missed' || m.type === 'call-busy' || (m.type === 'call-declined' && m.reason === 'dnd'))
      offer(mine.peer, m.call_id, m.type, mine.audioOnly);
  };

  // A new session (the server restarted, or the old one is over) has no
  // message under way any more.
  const welcomeBefore = hooks.welcome;
  hooks.welcome = (m) => {
    welcomeBefore(m);
    // Not resumed, or resumed before message-ready came (its reply went
    // with the old connection): nothing is being recorded for this page.
    if (msg && (!m.resumed || !msg.room)) finish(`The message to ${msg.to.name} was cut off by a lost connection.`);
  };
})();
