// The signaling protocol over real WebSockets against the real server:
// sessions, rooms and chat, and bad input that must get the errors
// docs/protocol.md names while a meeting in progress keeps working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { connect } from './client.mjs';
import fs from 'node:fs';

const fixture = (name) => fs.readFileSync(new URL(`../fixtures/sdp/${name}`, import.meta.url), 'utf8');

let server;
before(async () => { server = await startServer(); });
after(async () => {
  const { code, sig } = await server.stop();
  assert.equal(code, 0, `clean exit on SIGTERM (signal ${sig}): ${server.output()}`);
});

test('a meeting: join, see each other, chat, leave', async () => {
  const ada = await connect(server, 'Ada');
  const grace = await connect(server, 'Grace');
  const j1 = await ada.request({ type: 'join', room: 'standup' });
  assert.equal(j1.type, 'joined');
  assert.equal(j1.room, 'standup');
  const j2 = await grace.request({ type: 'join', room: 'standup' });
  assert.deepEqual(j2.participants.map((p) => p.name), ['Ada']);
  const joined = await ada.event('participant-joined');
  assert.equal(joined.participant.name, 'Grace');
  const ok = await grace.request({ type: 'chat', text: 'morning!' });
  assert.equal(ok.type, 'ok');
  const chat = await ada.event('chat');
  assert.equal(chat.text, 'morning!');
  assert.equal(chat.from.name, 'Grace');
  assert.ok(Math.abs(chat.ts - Date.now()) < 60000);
  await grace.close();
  const left = await ada.event('participant-left');
  assert.equal(left.reason, 'disconnected');
  assert.equal(left.participant_id, j2.participant.id);
  await ada.close();
});

test('raised hands: the room is told, a late joiner finds the hand in joined', async () => {
  const ada = await connect(server, 'Ada');
  const grace = await connect(server, 'Grace');
  const j1 = await ada.request({ type: 'join', room: 'hands' });
  await grace.request({ type: 'join', room: 'hands' });
  assert.equal((await ada.request({ type: 'hand', raised: 'yes' })).code, 'bad_request');
  assert.equal((await ada.request({ type: 'hand', raised: true })).type, 'ok');
  const told = await grace.event('hand');
  assert.deepEqual({ ...told }, { type: 'hand', participant_id: j1.participant.id, raised: true });
  assert.equal((await ada.event('hand')).raised, true);
  const linus = await connect(server, 'Linus');
  const j3 = await linus.request({ type: 'join', room: 'hands' });
  assert.deepEqual(j3.participants.map((p) => [p.name, p.hand_raised]).sort(), [['Ada', true], ['Grace', false]]);
  await ada.request({ type: 'hand', raised: false });
  assert.equal((await linus.event('hand')).raised, false);
  for (const c of [ada, grace, linus]) await c.close();
});

test('connections without the subprotocol are accepted', async () => {
  const c = await connect(server, 'NoProto', []);
  assert.ok(c.user.id);
  await c.close();
});

test('bad input gets the protocol errors and does not disturb a meeting', async () => {
  const ada = await connect(server, 'Ada');
  const bob = await connect(server, 'Bob');
  await ada.request({ type: 'join', room: 'ops' });
  await bob.request({ type: 'join', room: 'ops' });
  await ada.event('participant-joined');

  const evil = await connect(server, null);
  const expectError = async (code) => {
    const e = await evil.event('error');
    assert.equal(e.code, code, JSON.stringify(e));
    assert.equal(typeof e.message, 'string');
  };
  evil.send({ type: 'join', room: 'ops', id: 1 });
  await expectError('unauthorized');
  evil.send('{"type": "hello", "name": ');
  await expectError('bad_request');
  evil.send('x'.repeat(70 * 1024));
  await expectError('bad_request');
  evil.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  await expectError('bad_request');
  evil.send({ name: 'no type' });
  await expectError('bad_request');
  const w = await evil.request({ type: 'hello', name: 'Mallory' });
  assert.equal(w.type, 'welcome');
  evil.send({ type: 'teleport', id: 'x' });
  const e = await evil.event('error');
  assert.equal(e.code, 'bad_request');
  assert.equal(e.re, 'x');
  for (const room of ['', 'a b', '../etc', 'x'.repeat(65)]) {
    evil.send({ type: 'join', room });
    await expectError('bad_request');
  }

  // The meeting goes on.
  await ada.request({ type: 'chat', text: 'still here?' });
  assert.equal((await bob.event('chat')).text, 'still here?');

  // Persistent garbage is disconnected with 1008 (each bad message is
  // answered first, so the close frame is the last thing the client reads).
  let closedWith = null;
  evil.closed.then((code) => { closedWith = code; });
  for (let i = 0; i < 20 && closedWith === null; i++) {
    evil.send('garbage');
    await Promise.race([evil.event('error').catch(() => null), evil.closed]);
  }
  assert.equal(await evil.closed, 1008);
  await ada.request({ type: 'chat', text: 'yes' });
  assert.equal((await bob.event('chat')).text, 'yes');
  await ada.close();
  await bob.close();
});

test('messages up to 64 KiB arrive whole, in one frame or in fragments', async () => {
  // The server reads a frame in pieces of a few KB (what it keeps per
  // connection) and puts a message together from them and from
  // continuation frames.
  const ada = await connect(server, 'Ada');
  const bob = await connect(server, 'Bob');
  await ada.request({ type: 'join', room: 'long' });
  await bob.request({ type: 'join', room: 'long' });
  const text = 'z'.repeat(4095) + '!';
  const msg = JSON.stringify({ type: 'chat', text, pad: 'p'.repeat(60000), id: 'whole' });
  assert.ok(msg.length > 64000 && msg.length <= 65536, `${msg.length} bytes`);
  ada.send(msg);
  assert.equal((await ada.next((m) => m.re === 'whole')).type, 'ok');
  assert.equal((await bob.event('chat')).text, text);
  const parts = JSON.stringify({ type: 'chat', text, pad: 'q'.repeat(40000), id: 'parts' });
  const cuts = [0, 7, 21000, 21001, parts.length - 1, parts.length];
  for (let i = 0; i + 1 < cuts.length; i++)
    ada.ws.send(parts.slice(cuts[i], cuts[i + 1]), { fin: i + 2 === cuts.length });
  assert.equal((await ada.next((m) => m.re === 'parts')).type, 'ok');
  assert.equal((await bob.event('chat')).text, text);
  await ada.close();
  await bob.close();
});

test('the web client is served, with security headers', async () => {
  for (const p of ['/', '/r/standup']) {
    const r = await fetch(server.url + p);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/html/);
    assert.match(await r.text(), /<title>Parley<\/title>/);
  }
  const js = await fetch(server.url + '/parley.js');
  assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
  assert.match(js.headers.get('content-security-policy'), /frame-ancestors 'none'/);
});

test('publish: a real browser offer is answered; bad offers are refused', async () => {
  const ada = await connect(server, 'Ada');
  const bob = await connect(server, 'Bob');
  await ada.request({ type: 'join', room: 'pub' });
  await bob.request({ type: 'join', room: 'pub' });
  const offer = fixture('chromium156-publish-offer.sdp');
  const r = await ada.request({ type: 'publish', sdp: offer, sources: { 0: 'microphone', 1: 'camera' } });
  assert.equal(r.type, 'publish-answer', JSON.stringify(r));
  assert.match(r.sdp, /a=ice-lite/);
  assert.match(r.sdp, /a=setup:passive/);
  assert.match(r.sdp, new RegExp(`a=candidate:1 1 udp \\d+ 127\\.0\\.0\\.1 ${server.mediaPort} typ host`));
  assert.deepEqual(Object.keys(r.tracks).sort(), ['0', '1']);
  const published = [await bob.event('track-published'), await bob.event('track-published')];
  assert.deepEqual(published.map((p) => p.track.source).sort(), ['camera', 'microphone']);
  assert.deepEqual(published.map((p) => p.track.kind).sort(), ['audio', 'video']);
  // A late joiner sees the tracks in joined.
  const cy = await connect(server, 'Cy');
  const j = await cy.request({ type: 'join', room: 'pub' });
  assert.equal(j.participants.find((p) => p.name === 'Ada').tracks.length, 2);

  // Mute: owners only; the whole room hears of it.
  const trackId = r.tracks['1'].track_id;
  const mr = await ada.request({ type: 'mute', track_id: trackId, muted: true });
  assert.equal(mr.type, 'ok');
  const tm = await bob.event('track-muted');
  assert.deepEqual([tm.track_id, tm.muted, tm.participant_id], [trackId, true, published[0].participant_id]);
  assert.equal((await ada.event('track-muted')).muted, true);
  const forbidden = await bob.request({ type: 'mute', track_id: trackId, muted: false });
  assert.equal(forbidden.code, 'forbidden');
  assert.equal((await bob.request({ type: 'mute', track_id: 'nope', muted: false })).code, 'not_found');
  const cy2 = await connect(server, 'Cy2');
  const j2 = await cy2.request({ type: 'join', room: 'pub' });
  assert.equal(j2.participants.find((p) => p.name === 'Ada').tracks.find((t) => t.track_id === trackId).muted, true);
  await cy2.close();

  // subscription: only remote tracks of one's room, with well-typed fields.
  const offerToBob = await bob.event('subscribe-offer');
  const [bobMid, bobTrack] = Object.entries(offerToBob.tracks).find(([, t]) => t.kind === 'video');
  assert.equal(bobTrack.participant_id, published[0].participant_id);
  assert.ok(bobMid);
  assert.equal((await bob.request({ type: 'subscription', track_id: bobTrack.track_id, paused: true, max_width: 320 })).type, 'ok');
  assert.equal((await bob.request({ type: 'subscription', track_id: bobTrack.track_id, paused: 'yes' })).code, 'bad_request');
  assert.equal((await bob.request({ type: 'subscription', track_id: bobTrack.track_id, max_width: -5 })).code, 'bad_request');
  assert.equal((await bob.request({ type: 'subscription', track_id: 'nope' })).code, 'not_found');
  assert.equal((await ada.request({ type: 'subscription', track_id: trackId, paused: true })).code, 'not_found');
  // An answer without ICE credentials or a fingerprint is refused.
  assert.equal((await cy.request({ type: 'subscribe-answer', sdp: 'v=0' })).code, 'bad_request');

  const h264only = offer.replaceAll('opus/48000', 'OPUX/48000').replaceAll('VP8/90000', 'VQ8/90000');
  const e1 = await ada.request({ type: 'publish', sdp: h264only });
  assert.equal(e1.type, 'error');
  assert.equal(e1.code, 'bad_request');
  assert.match(e1.message, /Opus/);
  const e2 = await ada.request({ type: 'publish', sdp: 'v=0\r\nm=audio banana\r\n' });
  assert.equal(e2.code, 'bad_request');
  assert.match(e2.message, /malformed SDP/);
  const e3 = await ada.request({ type: 'publish' });
  assert.equal(e3.code, 'bad_request');
  await Promise.all([ada.close(), bob.close(), cy.close()]);
});
