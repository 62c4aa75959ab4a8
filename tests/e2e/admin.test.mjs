// The admin listener (docs/admin.md): /metrics in the Prometheus text format
// during a bot meeting, read with a parser of that format; nothing of it on
// the public port; its bearer token; and the admin API acting on a room of
// protocol clients, who hear of it as the protocol says. One server, with
// a token, for every case.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import { startServer, stats } from './server.mjs';
import { connect, waitFor } from './client.mjs';
import { runBots } from './bots.mjs';
import { launchChromium } from './browser.mjs';

const offer = fs.readFileSync(new URL('../fixtures/sdp/chromium156-publish-offer.sdp', import.meta.url), 'utf8');
const tokenDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-admin-'));
const tokenFile = path.join(tokenDir, 'token');
fs.writeFileSync(tokenFile, 'an-admin-token-for-the-test\n');

let server, browser;
const clients = [];
before(async () => { server = await startServer(['--admin-token-file', tokenFile]); });
after(async () => {
  await browser?.close();
  for (const c of clients) c.ws.terminate();
  const { code } = await server.stop();
  assert.equal(code, 0, `clean exit, no leak: ${server.output()}`);
  fs.rmSync(tokenDir, { recursive: true, force: true });
});

// A request to the admin listener, with the token unless told otherwise.
async function admin(method, p, { body, headers = server.adminHeaders() } = {}) {
  const res = await fetch(`${server.adminUrl}${p}`, {
    method, headers: body ? { ...headers, 'content-type': 'application/json' } : headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') || '';
  return { status: res.status, headers: res.headers, text, json: type.startsWith('application/json') ? JSON.parse(text) : null };
}

// The page parsed by the format's parser; every sample line of the page
// must have become a sample, so a line it skipped fails the test.
function scrape(text) {
  const families = parsePrometheus(text);
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const samples = families.reduce((n, f) => n + f.metrics.reduce((k, m) =>
    k + (f.type === 'HISTOGRAM' ? Object.keys(m.buckets).length + 2 : 1), 0), 0);
  assert.equal(samples, lines, 'every sample line parsed');
  return Object.fromEntries(families.map((f) => [f.name, f]));
}
async function metrics() {
  const r = await admin('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return scrape(r.text);
}
const value = (fams, name, labels = {}) => {
  const m = fams[name]?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  assert.ok(m, `${name} ${JSON.stringify(labels)} in /metrics`);
  return Number(m.value);
};

async function member(name, room) {
  const c = await connect(server, name);
  clients.push(c);
  const j = await c.request({ type: 'join', room });
  assert.equal(j.type, 'joined', JSON.stringify(j));
  c.pid = j.participant.id;
  return c;
}

test('/metrics parses as Prometheus text during a bot meeting, its counters move, /rooms lists what /stats does', async () => {
  const bots = runBots(server, ['--room', 'metered', '--per-room', '3', '--seconds', '8']);
  const first = await waitFor(metrics, (f) => value(f, 'parley_packets_forwarded_total', { worker: '0' }) > 0,
    'packets forwarded in /metrics', { timeout: 15000, interval: 250 });
  for (const f of Object.values(first)) {
    assert.match(f.name, /^parley_/, f.name);
    assert.ok(f.help, `${f.name} has HELP`);
    if (f.type === 'COUNTER') assert.match(f.name, /_total$/, f.name);
  }
  assert.equal(first.parley_rooms.type, 'GAUGE');
  assert.equal(value(first, 'parley_rooms'), 1);
  assert.equal(first.parley_worker_cpu_seconds_total.type, 'COUNTER');
  const relay = first.parley_relay_delay_seconds;
  assert.equal(relay.type, 'HISTOGRAM');
  const h = relay.metrics[0];
  assert.ok(Number(h.count) > 0 && Number(h.buckets['+Inf']) === Number(h.count), JSON.stringify(h));
  const edges = Object.keys(h.buckets).filter((k) => k !== '+Inf');
  for (let i = 1; i < edges.length; i++) assert.ok(Number(h.buckets[edges[i]]) >= Number(h.buckets[edges[i - 1]]), 'cumulative buckets');
  assert.ok(Number(h.sum) > 0);

  // The meeting goes on: a later scrape has more of everything it counts.
  const second = await waitFor(metrics, (f) => value(f, 'parley_packets_forwarded_total', { worker: '0' }) >
    value(first, 'parley_packets_forwarded_total', { worker: '0' }) + 100, 'more packets forwarded', { timeout: 10000, interval: 250 });
  for (const [name, labels] of [['parley_bytes_received_total', { worker: '0' }], ['parley_rtp_received_total', { worker: '0' }],
    ['parley_worker_cpu_seconds_total', { worker: '0' }]])
    assert.ok(value(second, name, labels) > value(first, name, labels), `${name} grows`);
  assert.ok(Number(second.parley_relay_delay_seconds.metrics[0].count) > Number(h.count));
  console.log(`# forwarded ${value(first, 'parley_packets_forwarded_total', { worker: '0' })} -> ` +
    `${value(second, 'parley_packets_forwarded_total', { worker: '0' })}, relay delay mean ` +
    `${(1e6 * Number(second.parley_relay_delay_seconds.metrics[0].sum) / Number(second.parley_relay_delay_seconds.metrics[0].count)).toFixed(1)} us`);

  // Six transports up over UDP (a publish and a subscribe one per bot),
  // and /rooms says the same rooms and counts as /stats.
  const up = await waitFor(metrics, (f) => value(f, 'parley_transports', { state: 'connected', path: 'udp' }) === 6,
    'six transports connected over UDP', { timeout: 10000, interval: 250 });
  assert.equal(value(up, 'parley_transports', { state: 'connected', path: 'tcp' }), 0);
  const [st, rooms] = await waitFor(async () => [await stats(server), (await admin('GET', '/rooms')).json],
    ([s, r]) => s.participants === 3 && r.rooms.length === s.rooms &&
      r.rooms.reduce((n, x) => n + x.participants.length, 0) === s.participants, '/rooms and /stats agree');
  assert.equal(st.rooms, 1);
  assert.equal(rooms.rooms[0].name, 'metered');
  for (const p of rooms.rooms[0].participants) {
    assert.match(p.name, /^bot-/);
    assert.equal(p.path, 'udp', JSON.stringify(p));
    assert.equal(p.tracks.length, 2, JSON.stringify(p));
  }
  await bots.done;
});

test('bots on ICE-TCP show as transports on the tcp path, in /metrics and /rooms', async () => {
  const bots = runBots(server, ['--room', 'tcp-only', '--per-room', '2', '--seconds', '5', '--ice-tcp']);
  await waitFor(metrics, (f) => value(f, 'parley_transports', { state: 'connected', path: 'tcp' }) === 4,
    'four transports connected over ICE-TCP', { timeout: 10000, interval: 250 });
  const room = (await admin('GET', '/rooms')).json.rooms.find((r) => r.name === 'tcp-only');
  assert.deepEqual(room.participants.map((p) => [p.path, p.transports.publish.path, p.transports.subscribe.path]),
    [['tcp', 'tcp', 'tcp'], ['tcp', 'tcp', 'tcp']]);
  await bots.done;
});

test('nothing of it on the public port; without or with a wrong token: 401', async () => {
  for (const p of ['/metrics', '/stats', '/rooms'])
    assert.equal((await fetch(`${server.url}${p}`)).status, 404, `public ${p}`);
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer an-admin-token-for-the-test-and-more' },
    { authorization: 'Basic YWRtaW46YW4tYWRtaW4tdG9rZW4tZm9yLXRoZS10ZXN0' }]) {
    for (const [method, p, body] of [['GET', '/metrics'], ['GET', '/stats'], ['GET', '/rooms'], ['DELETE', '/rooms/x'],
      ['PUT', '/rooms/x/limit', { max_participants: 1 }], ['PUT', '/nope', { max_participants: 1 }]]) {
      const r = await admin(method, p, { headers, body });
      assert.equal(r.status, 401, `${method} ${p} with ${JSON.stringify(headers)}`);
      assert.equal(r.json.error.code, 'unauthorized');
      assert.match(r.headers.get('www-authenticate'), /^Bearer/);
    }
  }
  // Off loopback, a server without a token does not start.
  await assert.rejects(startServer(['--admin-bind', '0.0.0.0']), /exited 1: .*needs --admin-token-file/s);
  // With it: errors as JSON with their status.
  assert.equal((await admin('GET', '/nope')).status, 404);
  const wrong = await admin('POST', '/rooms');
  assert.equal(wrong.status, 405);
  assert.equal(wrong.json.error.code, 'method_not_allowed');
});

test('the admin API removes a participant, mutes a track, sets a limit and closes a room', async () => {
  const ada = await member('Ada', 'ops');
  const bob = await member('Bob', 'ops');
  const cy = await member('Cy', 'ops');
  const pa = await ada.request({ type: 'publish', sdp: offer, sources: {} });
  assert.equal(pa.type, 'publish-answer', JSON.stringify(pa));
  const track = Object.values(pa.tracks)[0].track_id;

  // Listed, with Ada's tracks.
  const listed = (await admin('GET', '/rooms')).json.rooms.find((r) => r.name === 'ops');
  assert.deepEqual(listed.participants.map((p) => p.name).sort(), ['Ada', 'Bob', 'Cy']);
  assert.equal(listed.participants.find((p) => p.id === ada.pid).tracks.length, 2);

  // Mute: the owner and the room see it.
  assert.equal((await admin('POST', `/rooms/ops/participants/${ada.pid}/tracks/nope/mute`)).status, 404);
  const muted = await admin('POST', `/rooms/ops/participants/${ada.pid}/tracks/${track}/mute`);
  assert.equal(muted.status, 200, muted.text);
  for (const c of [ada, bob, cy]) {
    const m = await c.event('track-muted');
    assert.deepEqual([m.participant_id, m.track_id, m.muted, m.by], [ada.pid, track, true, 'operator']);
  }

  // Remove Cy: she is told, the others see her leave.
  assert.equal((await admin('DELETE', '/rooms/ops/participants/p-nobody')).status, 404);
  const removed = await admin('DELETE', `/rooms/ops/participants/${cy.pid}`);
  assert.equal(removed.status, 200, removed.text);
  const r = await cy.event('removed');
  assert.deepEqual([r.room, r.reason], ['ops', 'removed']);
  for (const c of [ada, bob]) {
    const left = await c.next((m) => m.type === 'participant-left' && m.participant_id === cy.pid, 5000, 'Cy leaving');
    assert.equal(left.reason, 'kicked');
  }

  // A limit of two: Cy's join is refused, the room is full.
  assert.equal((await admin('PUT', '/rooms/ops/limit', { body: { max_participants: 0 } })).status, 400);
  assert.equal((await admin('PUT', '/rooms/ops/limit', { body: { other: 1 } })).status, 400);
  assert.equal((await admin('PUT', '/rooms/nope/limit', { body: { max_participants: 2 } })).status, 404);
  const limited = await admin('PUT', '/rooms/ops/limit', { body: { max_participants: 2 } });
  assert.equal(limited.status, 200, limited.text);
  const refused = await cy.request({ type: 'join', room: 'ops' });
  assert.deepEqual([refused.type, refused.code], ['error', 'room_full']);
  assert.equal((await admin('GET', '/rooms')).json.rooms.find((x) => x.name === 'ops').max_participants, 2);

  // Close it: both are removed; the room is gone from /rooms and /stats.
  const before = await stats(server);
  const closed = await admin('DELETE', '/rooms/ops');
  assert.equal(closed.status, 200, closed.text);
  for (const c of [ada, bob]) assert.equal((await c.event('removed')).reason, 'closed');
  assert.equal((await admin('GET', '/rooms')).json.rooms.find((x) => x.name === 'ops'), undefined);
  assert.equal((await stats(server)).rooms, before.rooms - 1);
  assert.equal((await admin('DELETE', '/rooms/ops')).status, 404);
  // Everyone is still connected and may join again.
  assert.equal((await ada.request({ type: 'join', room: 'ops' })).type, 'joined');
  const actions = await metrics();
  assert.equal(value(actions, 'parley_admin_actions_total', { action: 'remove' }), 3);
  assert.equal(value(actions, 'parley_admin_actions_total', { action: 'mute' }), 1);
  assert.equal(value(actions, 'parley_refusals_total', { reason: 'room_full' }), 1);
});

test('the web client stops sending a track an operator muted, and goes back to its lobby when removed', async () => {
  browser = await launchChromium();
  const errors = [];
  const page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${server.port}/r/ops-web`);
  await page.fill('#name', 'Web');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  const obs = await member('Obs', 'ops-web');
  const web = await waitFor(async () => (await admin('GET', '/rooms')).json.rooms.find((r) => r.name === 'ops-web')
    ?.participants.find((p) => p.name === 'Web'), (p) => p?.tracks.length === 2, 'the web client published', { timeout: 15000 });
  const audio = web.tracks.find((t) => t.kind === 'audio').track_id;

  assert.equal((await admin('POST', `/rooms/ops-web/participants/${web.id}/tracks/${audio}/mute`)).status, 200);
  await page.waitForSelector('#mic[aria-pressed="true"]', { timeout: 5000 });
  assert.equal(await page.evaluate(() => window.parley.stream.getAudioTracks()[0].enabled), false);
  assert.equal((await obs.event('track-muted')).by, 'operator');

  assert.equal((await admin('DELETE', `/rooms/ops-web/participants/${web.id}`)).status, 200);
  await page.waitForSelector('#lobby:not([hidden])', { timeout: 5000 });
  const left = await obs.next((m) => m.type === 'participant-left' && m.participant_id === web.id, 5000, 'Web leaving');
  assert.equal(left.reason, 'kicked');
  assert.deepEqual(errors, []);
  await page.close();
});
