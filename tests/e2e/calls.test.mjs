// One-on-one calls over the real server (protocol section 4): every outcome
// (accepted, declined, cancelled, busy, missed, dnd, hang-up by either side),
// parties disconnecting while ringing and in the call, two devices of one
// user, the private room, and missed heads-ups that survive a SIGKILL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, pollStats } from './server.mjs';
import { connect } from './client.mjs';

let server;
before(async () => { server = await startServer(['--ring-timeout', '2']); });
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, `clean exit: ${server.output()}`);
});

// Every test uses its own names: users are identified by name in open mode.
let seq = 0;
const users = async (...names) => {
  seq++;
  return Promise.all(names.map((n) => connect(server, `${n}${seq}`)));
};
// Resolves when `c` gets a presence update saying `user` is now `status`.
const presence = (c, user, status) =>
  c.next((m) => m.type === 'presence' && m.user.id === user.id && m.status === status);
// Asserts that nothing of `type` came: called after the action that would
// have sent it, so that a round trip brings in whatever the server sent.
async function none(c, type) {
  await c.sync();
  assert.equal(c.inbox.find((m) => m.type === type), undefined, `no ${type}: ${JSON.stringify(c.inbox)}`);
}

async function ring(caller, callee, extra = {}) {
  const r = await caller.request({ type: 'call', to: callee.user.id, ...extra });
  assert.equal(r.type, 'call-ringing', JSON.stringify(r));
  assert.match(r.call_id, /^c[0-9a-f]{12}$/);
  assert.deepEqual(r.to, callee.user);
  return r.call_id;
}

test('accepted: ringing, presence, a private room, hang-up by the caller', async () => {
  const [ada, bob, cy] = await users('Ada', 'Bob', 'Cy');
  const id = await ring(ada, bob, { topic: 'Quick question about the release' });
  const inc = await bob.event('incoming-call');
  assert.equal(inc.call_id, id);
  assert.deepEqual(inc.from, ada.user);
  assert.equal(inc.topic, 'Quick question about the release');
  assert.equal(inc.audio_only, false);
  await presence(cy, ada.user, 'ringing');
  await presence(cy, bob.user, 'ringing');

  assert.equal((await bob.request({ type: 'call-accept', call_id: id })).type, 'ok');
  const [acc1, acc2] = await Promise.all([ada.event('call-accepted'), bob.event('call-accepted')]);
  assert.equal(acc1.call_id, id);
  assert.equal(acc1.room, `call-${id}`);
  assert.equal(acc2.room, acc1.room);
  assert.equal(acc1.elsewhere, undefined);
  await presence(cy, ada.user, 'in-call');
  await presence(cy, bob.user, 'in-call');
  // A newcomer sees them in the call.
  const dee = await connect(server, `Dee${seq}`);
  const seen = Object.fromEntries(dee.welcomeMsg.online.map((u) => [u.id, u.status]));
  assert.equal(seen[ada.user.id], 'in-call');
  assert.equal(seen[bob.user.id], 'in-call');
  assert.equal(seen[cy.user.id], 'online');

  assert.equal((await ada.request({ type: 'join', room: acc1.room })).type, 'joined');
  const jb = await bob.request({ type: 'join', room: acc1.room });
  assert.equal(jb.participants.length, 1);
  // Nobody else gets in, with or without knowing the name.
  const e = await cy.request({ type: 'join', room: acc1.room });
  assert.equal(e.type, 'error');
  assert.equal(e.code, 'forbidden');

  assert.equal((await ada.request({ type: 'call-hangup', call_id: id })).type, 'ok');
  const [end1, end2] = await Promise.all([ada.event('call-ended'), bob.event('call-ended')]);
  assert.equal(end1.by, ada.user.id);
  assert.equal(end2.by, ada.user.id);
  await presence(cy, ada.user, 'online');
  await presence(cy, bob.user, 'online');
  // The room went with the call: leaving it still answers, rejoining fails.
  assert.equal((await bob.request({ type: 'leave' })).type, 'left');
  const again = await ada.request({ type: 'join', room: acc1.room });
  assert.equal(again.code, 'not_found');
  await pollStats(server, (st) => st.calls === 0 && st.rooms === 0, 'no call and no room left');
  for (const c of [ada, bob, cy, dee]) await c.close();
});

test('hang-up by the callee; leaving the private room hangs up too', async () => {
  const [ada, bob] = await users('Ada', 'Bob');
  let id = await ring(ada, bob, { audio_only: true });
  assert.equal((await bob.event('incoming-call')).audio_only, true);
  await bob.request({ type: 'call-accept', call_id: id });
  await ada.event('call-accepted');
  await bob.request({ type: 'call-hangup', call_id: id });
  assert.equal((await ada.event('call-ended')).by, bob.user.id);
  assert.equal((await bob.event('call-ended')).by, bob.user.id);

  id = await ring(bob, ada);
  await ada.event('incoming-call');
  await ada.request({ type: 'call-accept', call_id: id });
  const { room } = await bob.next((m) => m.type === 'call-accepted' && m.call_id === id);
  const ja = await ada.request({ type: 'join', room });
  assert.equal(ja.type, 'joined', JSON.stringify(ja));
  const jb = await bob.request({ type: 'join', room });
  assert.equal(jb.type, 'joined', JSON.stringify(jb));
  const l = await ada.request({ type: 'leave' });
  assert.equal(l.type, 'left', JSON.stringify(l));
  assert.equal((await bob.event('call-ended')).by, ada.user.id);
  await pollStats(server, (st) => st.calls === 0, 'no call left');
  await ada.close(); await bob.close();
});

test('declined and cancelled reach both parties', async () => {
  const [ada, bob] = await users('Ada', 'Bob');
  let id = await ring(ada, bob);
  await bob.event('incoming-call');
  assert.equal((await bob.request({ type: 'call-decline', call_id: id })).type, 'ok');
  assert.equal((await ada.event('call-declined')).call_id, id);
  assert.equal((await bob.event('call-declined')).call_id, id);

  id = await ring(ada, bob);
  await bob.event('incoming-call');
  // Only the callee answers, only the caller cancels.
  assert.equal((await ada.request({ type: 'call-accept', call_id: id })).code, 'forbidden');
  assert.equal((await bob.request({ type: 'call-cancel', call_id: id })).code, 'forbidden');
  assert.equal((await ada.request({ type: 'call-cancel', call_id: id })).type, 'ok');
  assert.equal((await ada.event('call-cancelled')).call_id, id);
  assert.equal((await bob.event('call-cancelled')).call_id, id);
  // Neither left a heads-up.
  const b2 = await connect(server, bob.user.name);
  assert.deepEqual(b2.welcomeMsg.missed, []);
  for (const c of [ada, bob, b2]) await c.close();
});

test('busy: a callee ringing or in a call; a caller who already has one', async () => {
  const [ada, bob, cy] = await users('Ada', 'Bob', 'Cy');
  const id = await ring(ada, bob);
  await bob.event('incoming-call');
  const other = await ring(cy, bob);
  assert.equal((await cy.event('call-busy')).call_id, other);
  await none(bob, 'incoming-call');
  // Ada already has a call ringing.
  const e = await ada.request({ type: 'call', to: cy.user.id });
  assert.equal(e.code, 'busy');
  await bob.request({ type: 'call-accept', call_id: id });
  await ada.event('call-accepted');
  const third = await ring(cy, ada);
  assert.equal((await cy.event('call-busy')).call_id, third);
  await ada.request({ type: 'call-hangup', call_id: id });
  await bob.event('call-ended');
  for (const c of [ada, bob, cy]) await c.close();
});

test('missed after the ring timeout becomes a heads-up until acknowledged', async () => {
  const [ada, bob] = await users('Ada', 'Bob');
  const id = await ring(ada, bob, { topic: 'lunch?' });
  await bob.event('incoming-call');
  const [m1, m2] = await Promise.all([ada.next((m) => m.type === 'call-missed', 6000),
    bob.next((m) => m.type === 'call-missed', 6000)]);
  assert.equal(m1.call_id, id);
  assert.equal(m2.call_id, id);
  await bob.close();
  const back = await connect(server, bob.user.name);
  const w = back.welcomeMsg;
  assert.equal(w.missed.length, 1);
  assert.equal(w.missed[0].call_id, id);
  assert.deepEqual(w.missed[0].from, ada.user);
  assert.equal(w.missed[0].topic, 'lunch?');
  assert.equal(w.missed[0].reason, 'missed');
  assert.ok(Math.abs(w.missed[0].ts - Date.now()) < 60000);
  assert.equal((await back.request({ type: 'missed-ack', call_ids: [id, 'c000000000000'] })).type, 'ok');
  assert.equal((await back.request({ type: 'missed-ack', call_ids: 'nope' })).code, 'bad_request');
  await back.close();
  const later = await connect(server, bob.user.name);
  assert.deepEqual(later.welcomeMsg.missed, []);
  await later.close(); await ada.close();
});

test('do-not-disturb: no ringing, declined for dnd, delivered when dnd ends', async () => {
  const [ada, bob, cy] = await users('Ada', 'Bob', 'Cy');
  const st = await bob.request({ type: 'status', status: 'dnd' });
  assert.equal(st.status, 'dnd');
  await presence(ada, bob.user, 'dnd');
  const id = await ring(ada, bob, { topic: 'the deploy is red' });
  const d = await ada.event('call-declined');
  assert.equal(d.call_id, id);
  assert.equal(d.reason, 'dnd');
  await none(bob, 'incoming-call');
  await cy.sync();
  assert.equal(cy.inbox.find((m) => m.type === 'presence' && m.status === 'ringing'), undefined,
    'bob never showed as ringing');
  await bob.request({ type: 'status', status: 'online' });
  const m = await bob.event('missed');
  assert.equal(m.items.length, 1);
  assert.equal(m.items[0].call_id, id);
  assert.equal(m.items[0].reason, 'dnd');
  assert.equal(m.items[0].topic, 'the deploy is red');
  await presence(ada, bob.user, 'online');
  await bob.request({ type: 'missed-ack', call_ids: [id] });
  for (const c of [ada, bob, cy]) await c.close();
});

test('disconnecting while ringing and in a call ends it for the other party', async () => {
  const [ada, bob] = await users('Ada', 'Bob');
  // The caller goes while it rings.
  let id = await ring(ada, bob);
  await bob.event('incoming-call');
  await ada.close();
  let c = await bob.event('call-cancelled');
  assert.equal(c.call_id, id);
  assert.equal(c.reason, 'disconnected');
  // The callee's only device goes while it rings: missed, and kept.
  const ada2 = await connect(server, ada.user.name);
  id = await ring(ada2, bob);
  await bob.event('incoming-call');
  await bob.close();
  c = await ada2.event('call-missed');
  assert.equal(c.call_id, id);
  // In the call (both in the room): one closes, the other hears it ended.
  const bob2 = await connect(server, bob.user.name);
  assert.equal(bob2.welcomeMsg.missed.length, 1);
  id = await ring(ada2, bob2);
  await bob2.event('incoming-call');
  await bob2.request({ type: 'call-accept', call_id: id });
  const { room } = await ada2.event('call-accepted');
  await ada2.request({ type: 'join', room });
  await bob2.request({ type: 'join', room });
  await bob2.close();
  c = await ada2.event('call-ended');
  assert.equal(c.by, bob2.user.id);
  assert.equal(c.reason, 'disconnected');
  assert.equal((await ada2.request({ type: 'leave' })).type, 'left');
  await pollStats(server, (st) => st.calls === 0 && st.rooms === 0, 'no call and no room left');
  await ada2.close();
});

test('two devices of one user both ring; the first answer wins', async () => {
  const [ada, bob] = await users('Ada', 'Bob');
  const phone = await connect(server, bob.user.name);
  assert.equal(phone.user.id, bob.user.id);
  const id = await ring(ada, bob);
  await bob.event('incoming-call');
  await phone.event('incoming-call');
  assert.equal((await phone.request({ type: 'call-accept', call_id: id })).type, 'ok');
  const elsewhere = await bob.event('call-accepted');
  assert.equal(elsewhere.elsewhere, true, 'the other device stops ringing');
  const here = await phone.event('call-accepted');
  assert.equal(here.elsewhere, undefined);
  assert.equal((await ada.event('call-accepted')).elsewhere, undefined);
  const late = await bob.request({ type: 'call-accept', call_id: id });
  assert.equal(late.code, 'conflict');
  await ada.request({ type: 'call-hangup', call_id: id });
  await phone.event('call-ended');
  for (const c of [ada, bob, phone]) await c.close();
});

test('bad calls: unknown or offline users, yourself, unknown ids, bad fields', async () => {
  const [ada, bob] = await users('Ada', 'Bob');
  assert.equal((await ada.request({ type: 'call', to: 'u0000000000000000' })).code, 'not_found');
  assert.equal((await ada.request({ type: 'call', to: ada.user.id })).code, 'bad_request');
  assert.equal((await ada.request({ type: 'call' })).code, 'bad_request');
  assert.equal((await ada.request({ type: 'call', to: bob.user.id, topic: 'x'.repeat(201) })).code, 'bad_request');
  assert.equal((await ada.request({ type: 'call', to: bob.user.id, audio_only: 'yes' })).code, 'bad_request');
  assert.equal((await ada.request({ type: 'call-accept', call_id: 'c123' })).code, 'not_found');
  assert.equal((await ada.request({ type: 'call-hangup' })).code, 'bad_request');
  assert.equal((await ada.request({ type: 'join', room: 'call-c0123456789ab' })).code, 'not_found');
  await bob.close();
  assert.equal((await ada.request({ type: 'call', to: bob.user.id })).code, 'not_found');
  // Someone else's call cannot be touched.
  const [x, y, z] = await users('X', 'Y', 'Z');
  const id = await ring(x, y);
  assert.equal((await z.request({ type: 'call-hangup', call_id: id })).code, 'not_found');
  await x.request({ type: 'call-cancel', call_id: id });
  for (const c of [ada, x, y, z]) await c.close();
});

test('heads-ups survive SIGKILL; concurrent calls leave none lost or doubled', async () => {
  const s1 = await startServer();
  const conn = (name) => connect(s1, name);
  const callees = await Promise.all([...Array(8)].map((_, i) => conn(`Focus${i}`)));
  await Promise.all(callees.map((c) => c.request({ type: 'status', status: 'dnd' })));
  const callers = await Promise.all([...Array(24)].map((_, i) => conn(`Caller${i}`)));
  // Every caller rings every callee, all callers at once.
  const ids = await Promise.all(callers.map(async (c) => {
    const mine = [];
    for (const callee of callees) {
      const r = await c.request({ type: 'call', to: callee.user.id, topic: `from ${c.user.name}` });
      assert.equal(r.type, 'call-ringing');
      const d = await c.next((m) => m.type === 'call-declined' && m.call_id === r.call_id);
      assert.equal(d.reason, 'dnd');
      mine.push({ id: r.call_id, to: callee.user.id });
    }
    return mine;
  }));
  const expected = new Map(callees.map((c) => [c.user.id, new Set()]));
  for (const mine of ids) for (const { id, to } of mine) expected.get(to).add(id);

  const { sig } = await s1.stop('SIGKILL');
  assert.equal(sig, 'SIGKILL');
  const s2 = await startServer([], { dataDir: s1.dataDir });
  try {
    for (const callee of callees) {
      const back = await connect(s2, callee.user.name);
      const got = back.welcomeMsg.missed.map((m) => m.call_id);
      assert.equal(got.length, 24, `${callee.user.name}: ${got.length} heads-ups`);
      assert.deepEqual(new Set(got), expected.get(callee.user.id));
      for (const m of back.welcomeMsg.missed) {
        assert.equal(m.reason, 'dnd');
        assert.equal(m.topic, `from ${m.from.name}`);
      }
      await back.close();
    }
  } finally {
    const { code } = await s2.stop();
    assert.equal(code, 0, s2.output());
  }
});
