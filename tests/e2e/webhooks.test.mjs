// Webhooks and the JSON log over the real server (docs/webhooks.md): two
// receivers started here get every event of a meeting and of calls, in
// order and correctly signed; the second is down at first and gets them all
// once it is up; a receiver that stalls does not stall signaling; and with
// --log-format json every line the server logs is a JSON object with the
// fields collectors filter on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, pollStats } from './server.mjs';
import { connect, waitFor } from './client.mjs';

const secret = crypto.randomBytes(32).toString('hex');
let server, up, later;

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

// A webhook receiver: every POST, with its raw body and whether its
// signature checks out. `stallMs` holds each answer that long.
function receiver(port) {
  const r = { port, got: [], pending: 0, stallMs: 0, server: null };
  r.start = () => new Promise((resolve, reject) => {
    r.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (d) => chunks.push(d));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const want = 'sha256=' + crypto.createHmac('sha256', secret).update(raw).digest('hex');
        const sig = req.headers['x-parley-signature'] || '';
        r.got.push({
          event: JSON.parse(raw.toString()),
          signed: sig.length === want.length && crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(want)),
          type: req.headers['content-type'],
          method: req.method,
        });
        r.pending++;
        setTimeout(() => { r.pending--; res.writeHead(204).end(); }, r.stallMs);
      });
    });
    r.server.on('error', reject);
    r.server.listen(port, '127.0.0.1', resolve);
  });
  r.stop = () => new Promise((resolve) => { r.server.closeAllConnections(); r.server.close(resolve); });
  r.events = () => r.got.map((g) => g.event);
  return r;
}

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-hooks-'));
  const secretFile = path.join(dir, 'webhook-secret');
  fs.writeFileSync(secretFile, secret + '\n', { mode: 0o600 });
  up = receiver(await freePort());
  later = receiver(await freePort()); // nothing listens there yet
  await up.start();
  server = await startServer(['--webhook-url', `http://127.0.0.1:${up.port}/hook`,
    '--webhook-url', `http://127.0.0.1:${later.port}/hook`, '--webhook-secret-file', secretFile,
    '--log-format', 'json', '--ring-timeout', '2']);
});
after(async () => {
  await server.stop();
  await up.stop();
  if (later.server) await later.stop();
});

// The events a receiver got about `room` or `callId`, once `last` (a
// predicate) is among them.
async function eventsUntil(r, last, what) {
  await waitFor(async () => r.events(), (evs) => evs.some(last), what, { timeout: 15000 });
  return r.events();
}

const brief = (e) => [e.type, e.participant?.name ?? e.call?.outcome ?? null, e.reason ?? null];

test('every event of a meeting and of calls, in order, signed', async () => {
  const [ada, bob] = await Promise.all([connect(server, 'Ada'), connect(server, 'Bob')]);
  assert.equal((await ada.request({ type: 'join', room: 'standup' })).type, 'joined');
  assert.equal((await bob.request({ type: 'join', room: 'standup' })).type, 'joined');
  assert.equal((await bob.request({ type: 'chat', text: 'morning' })).type, 'ok');
  assert.equal((await bob.request({ type: 'leave' })).type, 'left');
  // A call Bob answers and Ada hangs up, then one Bob declines.
  const id = (await ada.request({ type: 'call', to: bob.user.id })).call_id;
  await bob.event('incoming-call');
  assert.equal((await bob.request({ type: 'call-accept', call_id: id })).type, 'ok');
  const room = (await ada.event('call-accepted')).room;
  assert.equal((await ada.request({ type: 'join', room })).type, 'joined');
  assert.equal((await bob.request({ type: 'join', room })).type, 'joined');
  assert.equal((await ada.request({ type: 'call-hangup', call_id: id })).type, 'ok');
  await bob.event('call-ended');
  const id2 = (await ada.request({ type: 'call', to: bob.user.id })).call_id;
  await bob.event('incoming-call');
  assert.equal((await bob.request({ type: 'call-decline', call_id: id2 })).type, 'ok');
  await ada.event('call-declined');

  const evs = await eventsUntil(up, (e) => e.call?.id === id2, 'the declined call\'s outcome');
  assert.deepEqual(evs.map(brief), [
    ['room.started', null, null],
    ['participant.joined', 'Ada', null],
    ['participant.joined', 'Bob', null],
    ['participant.left', 'Bob', 'left'],
    ['call.outcome', 'answered', null],
    // Joining the call's room takes Ada out of standup, which finishes.
    ['participant.left', 'Ada', 'left'],
    ['room.finished', null, null],
    ['room.started', null, null],
    ['participant.joined', 'Ada', null],
    ['participant.joined', 'Bob', null],
    ['call.ended', null, null],
    // Hanging up closes the call's room, its latest member first.
    ['participant.left', 'Bob', 'left'],
    ['participant.left', 'Ada', 'left'],
    ['room.finished', null, null],
    ['call.outcome', 'declined', null],
  ]);
  // Sequence from 1 without gaps, ids unique, rooms and parties named.
  evs.forEach((e, i) => assert.equal(e.seq, i + 1, JSON.stringify(e)));
  assert.equal(new Set(evs.map((e) => e.id)).size, evs.length);
  assert.deepEqual(evs.slice(0, 7).filter((e) => e.type !== 'call.outcome').map((e) => e.room),
    Array(6).fill('standup'));
  assert.deepEqual(evs.slice(7, 14).map((e) => e.room), Array(7).fill(room));
  assert.equal(evs[1].participant.name, 'Ada');
  assert.equal(evs[1].participant.user_id, ada.user.id);
  assert.match(evs[1].participant.id, /^p/);
  const answered = evs[4].call;
  assert.deepEqual([answered.id, answered.caller, answered.callee], [id, ada.user, bob.user]);
  assert.ok(answered.ring_ms >= 0);
  assert.equal(evs[10].call.by, ada.user.id);
  assert.ok(evs[10].duration_ms >= 0 && evs[10].duration_ms < 60000, JSON.stringify(evs[10]));
  assert.ok(evs[6].duration_ms >= 0);
  // Time: the wall clock, as ISO 8601 and in ms, within this test's span.
  for (const e of evs) {
    assert.equal(Date.parse(e.time), e.ts);
    assert.ok(Math.abs(e.ts - Date.now()) < 60000, e.time);
  }
  for (const g of up.got) {
    assert.ok(g.signed, `signature of ${JSON.stringify(g.event)}`);
    assert.equal(g.method, 'POST');
    assert.equal(g.type, 'application/json');
  }
  await Promise.all([ada.close(), bob.close()]);
});

test('a receiver that was down gets every event once it is up, in order', async () => {
  // Everything so far was refused by its closed port: retried with backoff.
  const st = await pollStats(server, (s) => s.webhooks_retried > 0 && s.webhooks_queued > 0,
    'retries for the receiver that is down');
  assert.equal(st.webhooks_dropped, 0);
  assert.equal(later.got.length, 0);
  await later.start();
  const want = up.events().map((e) => e.id);
  await waitFor(async () => later.events().map((e) => e.id), (ids) => ids.length >= want.length,
    'the events it missed', { timeout: 40000 });
  assert.deepEqual(later.events().map((e) => e.id).slice(0, want.length), want);
  assert.ok(later.got.every((g) => g.signed));
  await pollStats(server, (s) => s.webhooks_queued === 0 && s.webhooks_delivered === 2 * want.length,
    'both receivers caught up');
});

test('a receiver that stalls does not stall signaling', async (t) => {
  const stall = 6000;
  up.stallMs = stall;
  const before = up.got.length;
  const cy = await connect(server, 'Cy');
  const t0 = Date.now();
  assert.equal((await cy.request({ type: 'join', room: 'retro' })).type, 'joined');
  // The receiver now holds room.started and has not answered.
  await waitFor(async () => up.pending, (n) => n >= 1, 'the receiver holding an event');
  // Joining, chatting and hearing the chat back all go on meanwhile.
  const dee = await connect(server, 'Dee');
  const joined = await dee.request({ type: 'join', room: 'retro' });
  assert.equal(joined.type, 'joined');
  assert.equal((await dee.request({ type: 'chat', text: 'still here?' })).type, 'ok');
  assert.equal((await cy.next((m) => m.type === 'chat')).text, 'still here?');
  const took = Date.now() - t0;
  t.diagnostic(`join, join and chat round trips: ${took} ms while the receiver stalled ${stall} ms`);
  assert.ok(up.pending >= 1, 'the receiver was still stalling');
  assert.ok(took < stall / 2, `join and chat took ${took} ms while the receiver stalled ${stall} ms`);
  // The stalled receiver still gets everything, in order, in time.
  up.stallMs = 0;
  await waitFor(async () => up.events().slice(before).map((e) => e.type), (t) => t.length >= 3,
    'the retro events', { timeout: 20000 });
  assert.deepEqual(up.events().slice(before, before + 3).map(brief), [
    ['room.started', null, null], ['participant.joined', 'Cy', null], ['participant.joined', 'Dee', null]]);
  await Promise.all([cy.close(), dee.close()]);
});

test('--log-format json: every line is JSON with time, level, room, participant, event', async () => {
  const done = await pollStats(server, (s) => s.rooms === 0 && s.webhooks_queued === 0, 'rooms closed');
  assert.equal(done.webhooks_refused, 0);
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
  const lines = server.errors().split('\n').filter((l) => l.length > 0);
  const logged = lines.map((l) => {
    try { return JSON.parse(l); } catch { assert.fail(`not JSON: ${l}`); }
  });
  for (const l of logged) {
    for (const k of ['time', 'level', 'room', 'participant', 'event', 'message']) assert.ok(k in l, `${k} in ${JSON.stringify(l)}`);
    assert.ok(!Number.isNaN(Date.parse(l.time)), l.time);
    assert.ok(['error', 'warn', 'info', 'debug'].includes(l.level));
  }
  // The events are logged at info with their fields; the receiver that was
  // down was said once, not at every retry.
  const joins = logged.filter((l) => l.event === 'participant.joined' && l.room === 'retro');
  assert.deepEqual(joins.map((l) => [l.level, l.participant.name]), [['info', 'Cy'], ['info', 'Dee']]);
  assert.equal(JSON.parse(joins[0].message).type, 'participant.joined');
  const down = logged.filter((l) => l.message.includes(`:${later.port}/hook`) && l.level === 'warn');
  assert.equal(down.length, 1, JSON.stringify(down));
});
