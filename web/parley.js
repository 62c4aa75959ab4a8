// Parley web client: signaling over /ws (docs/protocol.md). It joins a
// room, lists people, chats, and publishes the camera and microphone on its
// publish transport; receiving others' media arrives with the relay.
'use strict';
const $ = (id) => document.getElementById(id);
let ws = null;
let nextId = 1;
const people = new Map();
// Exposed for diagnostics and the end-to-end tests.
window.parley = { publish: null, subscribe: null, speakers: [], speakersSeen: new Set() };
const tiles = new Map(); // participant id -> <figure>

// Tiles out of view are paused (protocol `subscription`): the relay then
// forwards nothing for them, which saves the subscriber's bandwidth and CPU.
const visibility = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const ids = (e.target.dataset.tracks || '').split(' ').filter(Boolean);
    for (const id of ids)
      if (trackKinds.get(id) === 'video') send({ type: 'subscription', track_id: id, paused: !e.isIntersecting });
  }
});

function tileFor(key, suffix = '') {
  let fig = tiles.get(key);
  const pid = key.split(':')[0];
  if (!fig) {
    fig = document.createElement('figure');
    fig.className = 'tile';
    fig.dataset.participant = pid;
    if (suffix) fig.dataset.screen = 'true';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    const cap = document.createElement('figcaption');
    cap.textContent = (people.get(pid)?.name || '') + suffix;
    fig.append(video, cap);
    $('tiles').append(fig);
    tiles.set(key, fig);
    visibility.observe(fig);
  }
  return fig;
}

function dropTile(key) {
  for (const k of [key, `${key}:screen`]) {
    if (tiles.get(k)) visibility.unobserve(tiles.get(k));
    tiles.get(k)?.remove();
    tiles.delete(k);
  }
}

// The server offers what we receive; we only ever answer (no glare).
const trackKinds = new Map(); // remote track id -> kind, from the server's offers
const midInfo = new Map(); // subscribe mid -> {participant_id, source, kind, track_id}

async function onSubscribeOffer(m) {
  for (const [mid, t] of Object.entries(m.tracks)) {
    trackKinds.set(t.track_id, t.kind);
    midInfo.set(mid, t);
  }
  let pc = window.parley.subscribe;
  if (!pc) {
    pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    window.parley.subscribe = pc;
    pc.ontrack = (ev) => {
      const info = midInfo.get(ev.transceiver.mid);
      const pid = info?.participant_id || ev.streams[0]?.id;
      if (!pid) return;
      // A screen share gets a tile of its own next to the person's camera.
      const key = info?.source === 'screen' ? `${pid}:screen` : pid;
      const fig = tileFor(key, info?.source === 'screen' ? ' (screen)' : '');
      if (info) fig.dataset.tracks = `${fig.dataset.tracks || ''} ${info.track_id}`.trim();
      const video = fig.querySelector('video');
      if (!video.srcObject) video.srcObject = new MediaStream();
      video.srcObject.addTrack(ev.track);
      ev.track.onended = () => video.srcObject?.removeTrack(ev.track);
    };
  }
  await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  send({ type: 'subscribe-answer', sdp: answer.sdp });
}

function setMediaState(text) { $('media-state').textContent = text; }

async function publish() {
  // After a reconnection the camera and microphone are still ours.
  let stream = window.parley.stream;
  try {
    if (!stream) stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch (e) {
    setMediaState(`Camera or microphone unavailable (${e.name}). You can still chat.`);
    return;
  }
  $('preview').srcObject = stream;
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  window.parley.publish = pc;
  window.parley.stream = stream;
  for (const track of stream.getTracks())
    pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  pc.onconnectionstatechange = () => setMediaState(`media ${pc.connectionState}`);
  setMediaState('media connecting…');
  await offerPublish();
}

// (Re)negotiates the publish transport: every change of what we send is a
// new offer on the same peer connection (protocol section 3).
async function offerPublish() {
  const pc = window.parley.publish;
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const sources = {};
  for (const t of pc.getTransceivers()) {
    const track = t.sender.track;
    if (!track || t.stopped || t.currentDirection === 'stopped') continue;
    sources[t.mid] = track === screenTrack ? 'screen' : track.kind === 'audio' ? 'microphone' : 'camera';
  }
  const id = nextId;
  send({ type: 'publish', sdp: offer.sdp, sources });
  pending.set(id, async (m) => {
    if (m.type !== 'publish-answer') { setMediaState(`Publishing failed: ${m.message}`); return; }
    for (const t of pc.getTransceivers())
      if (m.tracks[t.mid] && t.sender.track && t.sender.track !== screenTrack)
        myTracks.set(t.sender.track.kind, m.tracks[t.mid].track_id);
    await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
  });
}

let screenTrack = null;
let screenTransceiver = null;

async function toggleScreen(button) {
  const pc = window.parley.publish;
  if (!pc) return;
  if (screenTrack) { stopScreen(button); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
  } catch (e) {
    setMediaState(`Screen sharing unavailable (${e.name}).`);
    return;
  }
  screenTrack = stream.getVideoTracks()[0];
  screenTrack.onended = () => stopScreen(button);
  screenTransceiver = pc.addTransceiver(screenTrack, { direction: 'sendonly', streams: [window.parley.stream] });
  button.textContent = 'Stop sharing';
  button.setAttribute('aria-pressed', 'true');
  await offerPublish();
}

async function stopScreen(button) {
  if (!screenTrack) return;
  screenTrack.stop();
  screenTransceiver.stop();
  screenTrack = null;
  screenTransceiver = null;
  button.textContent = 'Share screen';
  button.setAttribute('aria-pressed', 'false');
  await offerPublish();
}
const pending = new Map();
const myTracks = new Map(); // kind -> track id

// Muting disables the track locally (no media leaves) and tells the room.
function toggle(kind, button, onLabel, offLabel) {
  const track = window.parley.stream?.getTracks().find((t) => t.kind === kind);
  if (!track) return;
  track.enabled = !track.enabled;
  button.setAttribute('aria-pressed', String(!track.enabled));
  button.textContent = track.enabled ? onLabel : offLabel;
  const id = myTracks.get(kind);
  if (id) send({ type: 'mute', track_id: id, muted: !track.enabled });
}

function send(msg) {
  msg.id = nextId++;
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

// Reconnection: a lost connection (network change, server restart) is
// retried with a growing delay. The server keeps a lost participant for a
// grace period, so the first try resumes the session (same participant,
// same peer connections); when that is over or the server restarted, the
// client joins again and starts new peer connections.
const session = { name: '', room: '', token: '', participant: '', leaving: false, tries: 0 };
window.parley.session = session;

function setConnState(text) {
  $('conn-state').textContent = text;
  $('conn-state').hidden = !text;
}

// Drops everything tied to the previous session before joining again.
function resetMedia() {
  window.parley.publish?.close();
  window.parley.subscribe?.close();
  window.parley.publish = null;
  window.parley.subscribe = null;
  for (const key of [...tiles.keys()]) dropTile(key);
  midInfo.clear();
  trackKinds.clear();
  myTracks.clear();
  pending.clear();
}

function reconnect() {
  if (session.leaving) return;
  setConnState('Reconnecting…');
  const delay = Math.min(500 * 2 ** session.tries, 5000);
  session.tries++;
  setTimeout(() => connect(), delay);
}

function renderPeople() {
  const ul = $('people');
  ul.replaceChildren(...[...people.values()].map((p) => {
    const li = document.createElement('li');
    li.textContent = p.name;
    return li;
  }));
}

function addMessage(from, text) {
  const li = document.createElement('li');
  const who = document.createElement('b');
  who.textContent = from + ': ';
  li.append(who, document.createTextNode(text));
  $('messages').append(li);
}

function join(name, room) {
  session.name = name;
  session.room = room;
  connect();
}

function connect() {
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, 'parley.v1');
  ws.onopen = () => {
    const hello = { type: 'hello', name: session.name };
    if (session.token) hello.resume = session.token;
    send(hello);
  };
  ws.onclose = () => {
    if (session.leaving) return;
    if (!session.participant) { $('status').textContent = 'The server is unavailable.'; return; }
    reconnect();
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.re !== undefined && pending.has(m.re)) {
      const handler = pending.get(m.re);
      pending.delete(m.re);
      handler(m);
      return;
    }
    switch (m.type) {
      case 'welcome':
        session.token = m.resume_token || '';
        session.tries = 0;
        session.resumeFailed = false;
        // A resumed session is still in the room: `joined` follows.
        if (!m.resumed) send({ type: 'join', room: session.room });
        break;
      case 'joined': {
        const resumed = session.participant === m.participant.id;
        if (session.participant && !resumed) resetMedia();
        session.participant = m.participant.id;
        setConnState('');
        people.clear();
        people.set(m.participant.id, { name: m.participant.name + ' (you)' });
        for (const p of m.participants) people.set(p.id, p);
        $('room-name').textContent = m.room;
        $('start').hidden = true;
        $('meeting').hidden = false;
        history.replaceState(null, '', `/r/${encodeURIComponent(m.room)}`);
        renderPeople();
        if (!resumed) publish();
        break;
      }
      case 'participant-joined': people.set(m.participant.id, m.participant); renderPeople(); break;
      case 'participant-left': people.delete(m.participant_id); dropTile(m.participant_id); renderPeople(); break;
      case 'track-unpublished':
        for (const [mid, t] of midInfo)
          if (t.track_id === m.track_id && t.source === 'screen') dropTile(`${t.participant_id}:screen`);
        break;
      case 'subscribe-offer': onSubscribeOffer(m); break;
      case 'speakers':
        window.parley.speakers = m.active;
        for (const id of m.active) window.parley.speakersSeen.add(id);
        for (const [key, fig] of tiles) fig.classList.toggle('speaking', !key.includes(':') && m.active.includes(key));
        break;
      case 'track-muted': {
        const fig = tiles.get(m.participant_id);
        const kind = trackKinds.get(m.track_id);
        if (fig && kind) fig.classList.toggle(kind === 'audio' ? 'muted-a' : 'muted-v', m.muted);
        break;
      }
      case 'chat': addMessage(m.from.name, m.text); break;
      case 'error':
        // A session that cannot be resumed any more: start a new one.
        if (session.token && m.code === 'not_found' && !session.resumeFailed) {
          session.resumeFailed = true;
          session.token = '';
          send({ type: 'hello', name: session.name });
          break;
        }
        $('status').textContent = m.message;
        break;
    }
  };
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  localStorage.setItem('parley-name', $('name').value);
  join($('name').value, $('room').value);
});
$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('chat-text').value;
  if (text) send({ type: 'chat', text });
  $('chat-text').value = '';
});
$('mic').addEventListener('click', (e) => toggle('audio', e.target, 'Mute microphone', 'Unmute microphone'));
$('cam').addEventListener('click', (e) => toggle('video', e.target, 'Stop camera', 'Start camera'));
$('screen').addEventListener('click', (e) => toggleScreen(e.target));
$('leave').addEventListener('click', () => {
  session.leaving = true;
  send({ type: 'leave' });
  ws.close();
  location.href = '/';
});

$('name').value = localStorage.getItem('parley-name') || '';
const m = location.pathname.match(/^\/r\/([A-Za-z0-9._-]{1,64})$/);
if (m) $('room').value = decodeURIComponent(m[1]);
