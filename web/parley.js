// Parley web client: signaling over /ws (docs/protocol.md). After a name it
// is online in the lobby (calls.js: people, calls, missed heads-ups); in a
// room it lists people, chats, and publishes the camera and microphone on
// its publish transport; receiving others' media arrives with the relay.
'use strict';
const $ = (id) => document.getElementById(id);
let ws = null;
let nextId = 1;
const people = new Map();
// Exposed for diagnostics and the end-to-end tests.
window.parley = { publish: null, subscribe: null, stream: null, speakers: [], speakersSeen: new Set() };
const tiles = new Map(); // participant id -> <figure>

// calls.js plugs into the connection here, so that this file alone still
// makes a working meeting client.
const hooks = {
  welcome() {}, // every welcome, resumed or not, before the room is rejoined
  message() {}, // every message from the server, before it is handled (panels.js)
  prejoin(room, go) { go(); }, // before joining from the lobby (prejoin.js)
  joined() { return null; }, // a call room: {audioOnly}; null for a meeting
  event() {}, // whatever the meeting code does not handle
  seen() {}, // every message, after this file handled it
  layout() {}, // the tiles were added, removed or resized: place them
  self() {}, // our own camera or microphone changed (started, muted)
};

// What each remote video tile asks the relay for (`subscription`):
// subscriptions.js, loaded after this file.

// Where the tiles go is tiles.js's (hooks.layout, layout.js's geometry);
// without it #tiles is a plain CSS grid.
function layoutTiles() { hooks.layout(); }

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
    // Shown instead of a picture while nobody's video plays (audio-only calls).
    fig.dataset.initial = (people.get(pid)?.name || '?').slice(0, 1).toUpperCase();
    fig.append(video, cap);
    $('tiles').append(fig);
    tiles.set(key, fig);
    visibility.observe(fig);
    sizes.observe(fig);
    layoutTiles();
  }
  return fig;
}

function dropTile(key) {
  for (const k of [key, `${key}:screen`]) {
    const fig = tiles.get(k);
    if (!fig) continue;
    visibility.unobserve(fig);
    sizes.unobserve(fig);
    for (const id of videoTracksOf(fig)) told.delete(id);
    fig.remove();
    tiles.delete(k);
  }
  layoutTiles();
}

// The server offers what we receive; we only ever answer (no glare).
const trackKinds = new Map(); // remote track id -> kind, from the server's offers
const midInfo = new Map(); // subscribe mid -> {participant_id, source, kind, track_id}

async function onSubscribeOffer(m) {
  // An offer still in flight when we left belongs to nothing any more.
  if (!session.participant) return;
  for (const [mid, t] of Object.entries(m.tracks)) {
    trackKinds.set(t.track_id, t.kind);
    midInfo.set(mid, t);
  }
  let pc = window.parley.subscribe;
  if (!pc) {
    pc = new RTCPeerConnection(pcConfig());
    window.parley.subscribe = pc;
    watchPath(pc, 'subscribe');
    pc.ontrack = (ev) => {
      const info = midInfo.get(ev.transceiver.mid);
      const pid = info?.participant_id || ev.streams[0]?.id;
      if (!pid) return;
      // A screen share gets a tile of its own next to the person's camera.
      const key = info?.source === 'screen' ? `${pid}:screen` : pid;
      const fig = tileFor(key, info?.source === 'screen' ? ' (screen)' : '');
      if (info && !(fig.dataset.tracks || '').split(' ').includes(info.track_id))
        fig.dataset.tracks = `${fig.dataset.tracks || ''} ${info.track_id}`.trim();
      if (ev.track.kind === 'video') fig.classList.add('has-video');
      const video = fig.querySelector('video');
      if (!video.srcObject) video.srcObject = new MediaStream();
      video.srcObject.addTrack(ev.track);
      ev.track.onended = () => video.srcObject?.removeTrack(ev.track);
      if (ev.track.kind === 'video') reportTile(fig);
    };
  }
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    send({ type: 'subscribe-answer', sdp: answer.sdp });
  } catch (e) {
    if (pc.signalingState !== 'closed') setMediaState(`Receiving failed (${e.name}).`);
  }
}

function setMediaState(text) { $('media-state').textContent = text; }

// The camera goes out as three simulcast layers of one track (quarter,
// half and full size of a 1280x720 camera: 320x180, 640x360, 1280x720),
// lowest first as browsers order them; the relay forwards each subscriber
// the layer that fits its tile. Chrome sends three layers only from a
// 960x540 input up (two from 640x360), hence the 1280x720 we ask for.
// No degradationPreference is set: a camera keeps Chrome's default
// (maintain-framerate), so a publisher short of CPU sends smaller layers at
// a steady frame rate rather than full-size ones that stutter; the relay
// picks layers by the size their keyframes carry, so smaller layers still
// go to the tiles they fit.
const CAMERA = { width: { ideal: 1280 }, height: { ideal: 720 } };
const CAMERA_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 2000000 },
];

async function publish(audioOnly) {
  const gen = session.gen;
  // After a reconnection the camera and microphone are still ours; an
  // audio-only call sends no video even when a meeting left the camera open.
  let stream = window.parley.stream;
  if (stream && audioOnly)
    for (const t of stream.getVideoTracks()) { t.stop(); stream.removeTrack(t); }
  if (stream && !audioOnly && !stream.getVideoTracks().length && !devices.lacks('video')) { stopStream(); stream = null; }
  // What cannot be opened is left out (devices.js says why).
  if (!stream) stream = await devices.open(audioOnly);
  if (!stream.getTracks().length) {
    if (gen === session.gen) setMediaState('No camera or microphone: you can still chat.');
    return;
  }
  if (gen !== session.gen) {
    if (stream !== window.parley.stream) for (const t of stream.getTracks()) t.stop();
    return;
  }
  $('preview').srcObject = stream;
  $('me').classList.toggle('has-video', stream.getVideoTracks().length > 0);
  const pc = new RTCPeerConnection(pcConfig());
  window.parley.publish = pc;
  watchPath(pc, 'publish');
  window.parley.stream = stream;
  syncToggles();
  for (const track of stream.getTracks()) {
    const init = { direction: 'sendonly', streams: [stream] };
    if (track.kind === 'video') init.sendEncodings = CAMERA_LAYERS.map((l) => ({ ...l }));
    pc.addTransceiver(track, init);
  }
  pc.onconnectionstatechange = () => {
    setMediaState(`media ${pc.connectionState}`);
    // The path died (the server closes transports without consent after
    // 30 s): an ICE restart gets a new transport without leaving the room.
    if (pc.connectionState === 'failed' && ws?.readyState === WebSocket.OPEN) restartPublish();
  };
  setMediaState('media connecting…');
  await offerPublish();
}

// The server closed one of our transports (no ICE consent for 30 s). Its
// replacement needs a new DTLS association, which only a new peer
// connection makes: the subscribe side gets one with the server's next
// offer, the publish side publishes again.
function onTransportClosed(m) {
  if (m.transport === 'subscribe') {
    window.parley.subscribe?.close();
    window.parley.subscribe = null;
    for (const key of [...tiles.keys()]) dropTile(key);
    midInfo.clear();
    return;
  }
  const pc = window.parley.publish;
  if (!pc) return;
  pc.close();
  window.parley.publish = null;
  if (screenTrack) {
    screenTrack.stop();
    screenTrack = screenTransceiver = null;
    $('screen').textContent = 'Share screen';
    $('screen').setAttribute('aria-pressed', 'false');
  }
  const stream = window.parley.stream;
  publish(!!stream && stream.getVideoTracks().length === 0);
}

// An ICE restart of the publish transport: new credentials in a new offer
// (protocol: a publish offer with a new ice-ufrag restarts ICE).
function restartPublish() {
  const pc = window.parley.publish;
  if (!pc || pc.signalingState !== 'stable') return;
  pc.restartIce();
  offerPublish();
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
  request({ type: 'publish', sdp: offer.sdp, sources }, async (m) => {
    if (pc !== window.parley.publish) return;
    if (m.type !== 'publish-answer') { setMediaState(`Publishing failed: ${m.message}`); return; }
    for (const t of pc.getTransceivers()) {
      const track = t.sender.track;
      if (!m.tracks[t.mid] || !track || track === screenTrack) continue;
      const fresh = myTracks.get(track.kind) !== m.tracks[t.mid].track_id;
      myTracks.set(track.kind, m.tracks[t.mid].track_id);
      // Joined with the microphone or camera off (pre-join): the room is told.
      if (fresh && !track.enabled) send({ type: 'mute', track_id: m.tracks[t.mid].track_id, muted: true });
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
    await fullSizeWithoutSimulcast(pc);
  });
}

// An answer without a=simulcast leaves the camera with its first encoding
// only, the quarter-size one: it then goes out at full size instead.
async function fullSizeWithoutSimulcast(pc) {
  for (const t of pc.getTransceivers()) {
    const track = t.sender.track;
    if (!track || track.kind !== 'video' || track === screenTrack) continue;
    const params = t.sender.getParameters();
    if (params.encodings?.length !== 1 || (params.encodings[0].scaleResolutionDownBy || 1) === 1) continue;
    params.encodings[0].scaleResolutionDownBy = 1;
    params.encodings[0].maxBitrate = CAMERA_LAYERS[CAMERA_LAYERS.length - 1].maxBitrate;
    await t.sender.setParameters(params).catch(() => {});
  }
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
  // Text and detail over motion: one full-resolution stream (no simulcast)
  // whose frame rate gives way first.
  screenTrack.contentHint = 'detail';
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
  syncToggles();
  const id = myTracks.get(kind);
  if (id) send({ type: 'mute', track_id: id, muted: !track.enabled });
}

function syncToggles() {
  const tracks = window.parley.stream?.getTracks() || [];
  for (const [id, kind, on, off] of [['mic', 'audio', 'Mute microphone', 'Unmute microphone'],
    ['cam', 'video', 'Stop camera', 'Start camera']]) {
    const enabled = tracks.find((t) => t.kind === kind)?.enabled ?? true;
    $(id).textContent = enabled ? on : off;
    $(id).setAttribute('aria-pressed', String(!enabled));
  }
  $('me').classList.toggle('muted-v', !(tracks.find((t) => t.kind === 'video')?.enabled ?? true));
  hooks.self();
}

function send(msg) {
  msg.id = nextId++;
  if (ws?.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(msg));
  return true;
}

// A request whose reply (or error) goes to `handler` instead of the event
// switch. Nothing is called back when the connection is down.
function request(msg, handler) {
  if (!send(msg)) return false;
  pending.set(msg.id, handler);
  return true;
}

// Reconnection: a lost connection (network change, server restart) is
// retried with a growing delay. The server keeps a lost participant for a
// grace period, so the first try resumes the session (same participant,
// same peer connections); when that is over or the server restarted, the
// client says hello again, rejoins its meeting and starts new peer
// connections. `gen` changes whenever the media of a room is dropped, so
// that work still in flight for it (getUserMedia) is thrown away.
// wsUrl: the node a redirect sent us to (null: this page's own).
const session = { name: '', room: '', token: '', participant: '', user: null, tries: 0, gen: 0,
  wsUrl: null, redirects: 0 };
window.parley.session = session;
window.parley.restartPublish = restartPublish;

function setConnState(text) {
  $('conn-state').textContent = text;
  $('conn-state').hidden = !text;
}

let noticeTimer = 0;
function notify(text, ms = 6000) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => { $('notice').hidden = true; }, ms);
}

function showView(name) {
  for (const v of ['start', 'lobby', 'prejoin', 'meeting']) $(v).hidden = v !== name;
  layoutTiles();
}

// Drops everything tied to the previous session before joining again.
function resetMedia() {
  session.gen++;
  window.parley.publish?.close();
  window.parley.subscribe?.close();
  window.parley.publish = null;
  window.parley.subscribe = null;
  clearPaths();
  for (const key of [...tiles.keys()]) dropTile(key);
  midInfo.clear();
  trackKinds.clear();
  myTracks.clear();
  told.clear();
  if (screenTrack) {
    screenTrack.stop();
    screenTrack = null;
    screenTransceiver = null;
    $('screen').textContent = 'Share screen';
    $('screen').setAttribute('aria-pressed', 'false');
  }
}

function stopStream() {
  for (const t of window.parley.stream?.getTracks() || []) t.stop();
  window.parley.stream = null;
  $('preview').srcObject = null;
  syncToggles();
}

// Back to the lobby, still online: the camera and microphone go off.
function leaveRoom() {
  resetMedia();
  stopStream();
  session.room = '';
  session.participant = '';
  people.clear();
  renderPeople();
  $('messages').replaceChildren();
  setMediaState('');
  showView('lobby');
  document.title = 'Parley';
  history.replaceState(null, '', '/');
}

// failed(error) when the server refuses: we stay where we were.
function joinRoom(room, failed) {
  const before = session.room;
  session.room = room;
  request({ type: 'join', room }, (m) => {
    if (m.type === 'redirect') {
      if (session.room !== room) return;
      if (session.redirects < 3) { followRedirect(m.url); return; }
      session.redirects = 0;
      m = { type: 'error', code: 'unavailable', message: 'The room cannot be reached now: try again.' };
    }
    if (m.type !== 'error') {
      // Left (or hung up) while the join was on its way.
      if (session.room !== room) { if (!session.room) send({ type: 'leave' }); return; }
      onMessage(m);
      return;
    }
    session.room = session.participant ? before : '';
    if (!session.participant) showView('lobby');
    notify(m.message);
    failed?.(m);
  });
}

// In a cluster (docs/cluster.md) the room is hosted by another node: the
// same user joins it there, with the same access token. Sessions are a
// node's own, so a new one starts there; `joined` follows its welcome.
function followRedirect(url) {
  session.redirects++;
  session.wsUrl = url;
  session.token = '';
  const old = ws;
  pending.clear();
  connect();
  old.onclose = null;
  old.close();
}

function reconnect() {
  setConnState('Reconnecting…');
  const delay = Math.min(500 * 2 ** session.tries, 5000);
  session.tries++;
  setTimeout(() => connect(), delay);
}

function renderPeople() {
  if (hooks.people?.(people)) return;
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

// An access token, when the server wants one, comes in the link's
// fragment (/r/<room>#token=...): the fragment never leaves the browser in
// a request or a Referer.
const accessToken = new URLSearchParams(location.hash.slice(1)).get('token');

function sayHello() {
  const hello = { type: 'hello', name: session.name };
  if (accessToken) hello.token = accessToken;
  if (session.token) hello.resume = session.token;
  request(hello, (m) => {
    if (m.type === 'welcome') { onWelcome(m); return; }
    // A session that cannot be resumed any more: start a new one.
    if (hello.resume && m.code === 'not_found') { session.token = ''; sayHello(); return; }
    if (!session.user) {
      $('status').textContent = m.message;
      $('start-submit').disabled = false;
      ws.onclose = null;
      ws.close();
    } else {
      setConnState(`Cannot reconnect: ${m.message}`);
    }
  });
}

function onWelcome(m) {
  session.token = m.resume_token || '';
  session.tries = 0;
  session.user = m.user;
  window.parley.user = m.user;
  setIceServers(m.ice_servers);
  hooks.welcome(m);
  // A resumed session is still in its room: `joined` follows.
  if (m.resumed && session.room) return;
  setConnState('');
  if (session.room) joinRoom(session.room);
  else if (!session.participant) showView('lobby');
}

function connect() {
  const home = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const sock = new WebSocket(session.wsUrl || home, 'parley.v1');
  ws = sock;
  sock.onopen = () => sayHello();
  sock.onclose = () => {
    if (ws !== sock) return;
    // Replies to what this connection asked will never come.
    pending.clear();
    // The node a redirect sent us to is gone: back through this page's
    // own, which places the room again.
    if (session.wsUrl) { session.wsUrl = null; session.token = ''; }
    if (!session.user) {
      $('status').textContent = 'The server is unavailable.';
      $('start-submit').disabled = false;
      return;
    }
    reconnect();
  };
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    const m = JSON.parse(ev.data);
    hooks.message(m);
    if (m.re !== undefined && pending.has(m.re)) {
      const handler = pending.get(m.re);
      pending.delete(m.re);
      handler(m);
      return;
    }
    onMessage(m);
  };
}

function onMessage(m) {
  mutesSeen(m);
  switch (m.type) {
    case 'joined': {
      // A resumed session put back into a room we left (or a call we hung
      // up) while the connection was down.
      if (!session.room) { send({ type: 'leave' }); break; }
      const resumed = session.participant === m.participant.id;
      if (session.participant && !resumed) resetMedia();
      if (!resumed && session.participant && session.room !== m.room) $('messages').replaceChildren();
      session.participant = m.participant.id;
      session.room = m.room;
      session.redirects = 0;
      setConnState('');
      people.clear();
      people.set(m.participant.id, { name: m.participant.name + ' (you)' });
      for (const p of m.participants) people.set(p.id, p);
      const call = hooks.joined(m);
      $('meeting').classList.toggle('call', !!call);
      $('leave').hidden = !!call;
      $('hangup').hidden = !call;
      $('cam').hidden = !!call?.audioOnly;
      $('call-topic').hidden = !call?.topic;
      $('call-timer').hidden = !call;
      if (!call) {
        $('room-name').textContent = m.room;
        document.title = `${m.room} – Parley`;
        history.replaceState(null, '', `/r/${encodeURIComponent(m.room)}${location.hash}`);
      } else {
        history.replaceState(null, '', '/');
      }
      showView('meeting');
      renderPeople();
      if (!resumed) publish(!!call?.audioOnly);
      // Back after a lost connection: the network may be another one now.
      // The server restarts ICE on the subscribe side with its next offer;
      // this side restarts the publish transport.
      else restartPublish();
      // What changed in the tiles while the connection was down.
      reportAllTiles();
      break;
    }
    case 'left': break;
    case 'participant-joined': people.set(m.participant.id, m.participant); renderPeople(); break;
    case 'participant-left': people.delete(m.participant_id); dropTile(m.participant_id); renderPeople(); break;
    case 'track-unpublished':
      for (const [mid, t] of midInfo)
        if (t.track_id === m.track_id && t.source === 'screen') dropTile(`${t.participant_id}:screen`);
      break;
    case 'subscribe-offer': onSubscribeOffer(m); break;
    case 'transport-closed': onTransportClosed(m); break;
    case 'speakers':
      window.parley.speakers = m.active;
      for (const id of m.active) window.parley.speakersSeen.add(id);
      for (const [key, fig] of tiles) fig.classList.toggle('speaking', !key.includes(':') && m.active.includes(key));
      break;
    case 'track-muted': {
      const fig = tiles.get(m.participant_id);
      const kind = trackKinds.get(m.track_id);
      if (fig && kind) fig.classList.toggle(kind === 'audio' ? 'muted-a' : 'muted-v', m.muted);
      // An operator muted one of ours: no media leaves until we unmute.
      if (m.by === 'operator' && m.muted && m.participant_id === session.participant) {
        const mine = [...myTracks].find(([, id]) => id === m.track_id)?.[0];
        const track = window.parley.stream?.getTracks().find((t) => t.kind === mine);
        if (track) { track.enabled = false; syncToggles(); notify('An operator muted your ' + (mine === 'audio' ? 'microphone' : 'camera')); }
      }
      break;
    }
    case 'removed':
      // An operator took us out (or closed the room): back to the lobby.
      notify(m.reason === 'closed' ? 'An operator closed the room' : 'An operator removed you from the room');
      leaveRoom();
      break;
    case 'video-paused':
      // The relay stopped this video for our downlink: the tile shows the
      // name rather than the last frame frozen, until it comes back.
      for (const fig of tiles.values())
        if ((fig.dataset.tracks || '').split(' ').includes(m.track_id)) fig.classList.toggle('paused-bw', m.paused);
      break;
    case 'chat': addMessage(m.from.name, m.text); break;
    case 'error': notify(m.message); break;
    default: hooks.event(m);
  }
  hooks.seen(m);
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  localStorage.setItem('parley-name', $('name').value);
  session.name = $('name').value;
  session.room = $('room-field').hidden ? '' : $('room').value;
  $('status').textContent = '';
  $('start-submit').disabled = true;
  connect();
});
$('room-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const room = $('lobby-room').value;
  hooks.prejoin(room, () => joinRoom(room));
});
$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('chat-text').value;
  if (text) send({ type: 'chat', text });
  $('chat-text').value = '';
});
$('mic').addEventListener('click', (e) => toggle('audio', e.target));
$('cam').addEventListener('click', (e) => toggle('video', e.target));
$('screen').addEventListener('click', (e) => toggleScreen(e.target));
$('leave').addEventListener('click', () => {
  send({ type: 'leave' });
  leaveRoom();
});

$('name').value = localStorage.getItem('parley-name') || '';
const roomInPath = location.pathname.match(/^\/r\/([A-Za-z0-9._-]{1,64})$/);
if (roomInPath) {
  // A meeting link goes straight into the meeting.
  $('room').value = decodeURIComponent(roomInPath[1]);
  $('room-field').hidden = false;
  $('room').required = true;
  $('start-submit').textContent = 'Join';
  $('lobby-room').value = $('room').value;
}
