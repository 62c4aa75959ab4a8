// Calls between users of different nodes of a cluster (docs/cluster.md):
// one redis-server (appendonly, appendfsync always) and three parley
// processes sharing it. Presence crosses nodes; a call from node 1 to a user
// on node 2 rings, is answered, and real media flow between the two users'
// bots in the call's room; decline, cancel, busy and missed cross nodes with
// the same events; do-not-disturb on node 2 leaves a heads-up that the callee
// finds when it connects to node 1 instead; Redis killed and restarted, the
// nodes reconnect and calls cross again. Skipped only when redis-server is
// not installed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './server.mjs';
import { connect, waitFor } from './client.mjs';
import { runBots, describe } from './bots.mjs';

const hasRedis = spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

// PING until PONG, for up to 10 s.
async function redisReady(port) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
      s.on('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('redis-server did not answer');
    await new Promise((r) => setTimeout(r, 50));
  }
}

let redis, redisDir, redisPort, nodes = [];
async function startRedis() {
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir,
    '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--logfile', path.join(redisDir, 'log')],
  { stdio: 'ignore' });
  await redisReady(redisPort);
}
before(async () => {
  if (!hasRedis) return;
  redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-redis-'));
  redisPort = await freePort();
  await startRedis();
  const args = ['--redis', `redis://127.0.0.1:${redisPort}`, '--ring-timeout', '2'];
  nodes = await Promise.all([startServer(args), startServer(args), startServer(args)]);
});
after(async () => {
  for (const n of nodes) {
    if (n.killed) continue;
    const { code } = await n.stop();
    assert.equal(code, 0, `clean exit: ${n.output()}`);
  }
  redis?.kill('SIGKILL');
  if (redisDir) fs.rmSync(redisDir, { recursive: true, force: true });
});

let seq = 0;
// Users by name, each on the node given: [name, node index].
const users = async (...specs) => {
  seq++;
  return Promise.all(specs.map(([n, i]) => connect(nodes[i], `${n}${seq}`)));
};
const presence = (c, user, status) =>
  c.next((m) => m.type === 'presence' && m.user.id === user.id && m.status === status, 5000,
    `${user.name} ${status}`);

async function ring(caller, callee) {
  const r = await caller.request({ type: 'call', to: callee.user.id, topic: 'across nodes' });
  assert.equal(r.type, 'call-ringing', JSON.stringify(r));
  assert.deepEqual(r.to, callee.user);
  return r.call_id;
}

test('presence and an answered call across nodes, with media between the two users', { skip: !hasRedis }, async () => {
  // bot-0 and bot-1 are the users the bots will be (open mode: the name
  // is the user): Ada on node 1 calls Bob on node 3; Cy on node 2 watches.
  seq++;
  const ada = await connect(nodes[0], 'bot-0');
  const cy = await connect(nodes[1], `Cy${seq}`);
  const bob = await connect(nodes[2], 'bot-1');
  assert.equal(bob.welcomeMsg.online.find((u) => u.id === ada.user.id)?.status, 'online',
    JSON.stringify(bob.welcomeMsg.online));
  assert.ok(bob.welcomeMsg.online.some((u) => u.id === cy.user.id));
  await presence(ada, bob.user, 'online');
  await presence(cy, bob.user, 'online');

  const id = await ring(ada, bob);
  const inc = await bob.event('incoming-call');
  assert.equal(inc.call_id, id);
  assert.deepEqual(inc.from, ada.user);
  assert.equal(inc.topic, 'across nodes');
  await presence(cy, ada.user, 'ringing');
  await presence(cy, bob.user, 'ringing');
  assert.equal((await bob.request({ type: 'call-accept', call_id: id })).type, 'ok');
  const [a1, b1] = await Promise.all([ada.event('call-accepted'), bob.event('call-accepted')]);
  assert.equal(a1.room, `call-${id}`);
  assert.equal(b1.room, a1.room);
  assert.equal(b1.elsewhere, undefined);
  await presence(cy, ada.user, 'in-call');
  await presence(cy, bob.user, 'in-call');

  // The call's room is on the caller's node: Bob joining it through his
  // own node 3 is sent there.
  const there = await bob.request({ type: 'join', room: a1.room });
  assert.equal(there.type, 'redirect', JSON.stringify(there));
  assert.equal(there.room, a1.room);
  assert.ok(there.url.endsWith(`:${nodes[0].port}/ws`), there.url);
  // Both users' bots meet there, and each decodes the other's audio and
  // video.
  const report = await runBots(nodes[0], ['--room', a1.room, '--per-room', '2', '--seconds', '4']).done;
  for (const b of report.bots) {
    assert.equal(b.errors, 0, `${b.name}: ${b.last_error}`);
    for (const kind of ['audio', 'video']) {
      const s = b.streams.find((x) => x.kind === kind);
      assert.ok(s?.decoded?.frames > 20, `${b.name} decodes ${kind}\n${describe(report)}`);
    }
  }
  // The bots left: the call ended, for both sides.
  const [ae, be] = await Promise.all([ada.event('call-ended'), bob.event('call-ended')]);
  assert.equal(ae.call_id, id);
  assert.equal(be.call_id, id);
  await presence(cy, bob.user, 'online');
  await Promise.all([ada.close(), bob.close(), cy.close()]);
});

test('decline, cancel, busy and missed across nodes', { skip: !hasRedis }, async () => {
  const [ada, bob, cy] = await users(['Ada', 0], ['Bob', 1], ['Cy', 2]);
  // Declined on node 2.
  let id = await ring(ada, bob);
  await bob.event('incoming-call');
  assert.equal((await bob.request({ type: 'call-decline', call_id: id })).type, 'ok');
  assert.equal((await ada.event('call-declined')).call_id, id);
  assert.equal((await bob.event('call-declined')).call_id, id);
  // Cancelled on node 1; the callee may not cancel.
  id = await ring(ada, bob);
  await bob.event('incoming-call');
  assert.equal((await bob.request({ type: 'call-cancel', call_id: id })).code, 'forbidden');
  assert.equal((await ada.request({ type: 'call-cancel', call_id: id })).type, 'ok');
  assert.equal((await bob.event('call-cancelled')).call_id, id);
  await presence(ada, bob.user, 'online');
  // Busy: Cy (node 3) rings Bob (node 2), then Ada (node 1) tries.
  const cid = await ring(cy, bob);
  await bob.event('incoming-call');
  await presence(ada, bob.user, 'ringing');
  const r = await ada.request({ type: 'call', to: bob.user.id });
  assert.equal(r.type, 'call-ringing');
  assert.equal((await ada.next((m) => m.type === 'call-busy')).call_id, r.call_id);
  // Nobody answers Cy's call: missed after the ring timeout, on both nodes,
  // and its heads-up waits for Bob wherever he connects.
  assert.equal((await cy.next((m) => m.type === 'call-missed', 8000)).call_id, cid);
  assert.equal((await bob.next((m) => m.type === 'call-missed', 8000)).call_id, cid);
  const bob1 = await connect(nodes[0], bob.user.name);
  assert.ok(bob1.welcomeMsg.missed.some((m) => m.call_id === cid && m.reason === 'missed'),
    JSON.stringify(bob1.welcomeMsg.missed));
  await Promise.all([ada.close(), bob.close(), cy.close(), bob1.close()]);
});

test('do-not-disturb on node 2 leaves a heads-up the callee sees on node 1', { skip: !hasRedis }, async () => {
  const [ada, bob] = await users(['Ada', 0], ['Bob', 1]);
  assert.equal((await bob.request({ type: 'status', status: 'dnd' })).status, 'dnd');
  await presence(ada, bob.user, 'dnd');
  const r = await ada.request({ type: 'call', to: bob.user.id, topic: 'when you have a minute' });
  assert.equal(r.type, 'call-ringing');
  const d = await ada.next((m) => m.type === 'call-declined');
  assert.equal(d.reason, 'dnd');
  await bob.close();
  await presence(ada, bob.user, 'offline');
  const again = await connect(nodes[0], bob.user.name);
  const item = again.welcomeMsg.missed.find((m) => m.call_id === r.call_id);
  assert.ok(item, JSON.stringify(again.welcomeMsg.missed));
  assert.equal(item.reason, 'dnd');
  assert.equal(item.topic, 'when you have a minute');
  assert.deepEqual(item.from, ada.user);
  assert.equal((await again.request({ type: 'missed-ack', call_ids: [r.call_id] })).type, 'ok');
  await Promise.all([ada.close(), again.close()]);
});

test('Redis killed and restarted: nodes carry on, reconnect, and calls cross again', { skip: !hasRedis }, async () => {
  const [ada, bob] = await users(['Ada', 0], ['Bob', 1]);
  const heard = nodes.map((n) => (n.output().match(/hearing other nodes again/g) || []).length);
  const gone = new Promise((resolve) => redis.once('exit', resolve));
  redis.kill('SIGKILL');
  await gone;
  // Without Redis a node cannot find users elsewhere: said, not crashed on.
  const lost = await ada.request({ type: 'call', to: bob.user.id });
  assert.equal(lost.code, 'not_found', JSON.stringify(lost));
  await startRedis();
  // Every node says when it hears the others again.
  await waitFor(() => nodes.map((n) => (n.output().match(/hearing other nodes again/g) || []).length),
    (now) => now.every((k, i) => k > heard[i]), 'every node back on the bus', { timeout: 15000 });
  const id = await ring(ada, bob);
  assert.equal((await bob.event('incoming-call')).call_id, id);
  assert.equal((await bob.request({ type: 'call-accept', call_id: id })).type, 'ok');
  await Promise.all([ada.event('call-accepted'), bob.event('call-accepted')]);
  assert.equal((await ada.request({ type: 'call-hangup', call_id: id })).type, 'ok');
  assert.equal((await bob.event('call-ended')).by, ada.user.id);
  // The directory came back with Redis's AOF: a newcomer on node 3 lists both.
  const dee = await connect(nodes[2], `Dee${seq}`);
  const listed = dee.welcomeMsg.online.map((u) => u.id);
  assert.ok(listed.includes(ada.user.id) && listed.includes(bob.user.id), JSON.stringify(dee.welcomeMsg.online));
  await Promise.all([ada.close(), bob.close(), dee.close()]);
});

// Last, as it leaves two nodes: the heads-up is Redis's once the caller's
// node has stored it, so that node dying with SIGKILL loses none.
test('a node killed with SIGKILL loses no heads-up', { skip: !hasRedis }, async () => {
  const [cy, bob] = await users(['Cy', 2], ['Bob', 1]);
  assert.equal((await bob.request({ type: 'status', status: 'dnd' })).status, 'dnd');
  await presence(cy, bob.user, 'dnd');
  const r = await cy.request({ type: 'call', to: bob.user.id, topic: 'before the crash' });
  assert.equal(r.type, 'call-ringing');
  assert.equal((await cy.next((m) => m.type === 'call-declined')).reason, 'dnd');
  // The call lived on Cy's node 3: it goes without a word.
  nodes[2].killed = true;
  nodes[2].signal('SIGKILL');
  assert.equal((await nodes[2].exited(10000)).sig, 'SIGKILL');
  await bob.close();
  const again = await connect(nodes[0], bob.user.name);
  const item = again.welcomeMsg.missed.find((m) => m.call_id === r.call_id);
  assert.ok(item, JSON.stringify(again.welcomeMsg.missed));
  assert.equal(item.reason, 'dnd');
  assert.equal(item.topic, 'before the crash');
  assert.deepEqual(item.from, cy.user);
  await again.close();
});
