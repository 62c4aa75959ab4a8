// Limits with clear errors, against the real server: messages over the
// rate limit are refused with rate_limited; a flood of 10,000 messages from
// one connection gets it closed while another client is served as usual; 1,000 connections from one address
// are capped; rooms and the number of rooms have their limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, pollStats, stats as statsOf } from './server.mjs';
import { Client, connect, waitFor } from './client.mjs';

let server;
before(async () => {
  server = await startServer(['--max-participants', '3', '--max-rooms', '2',
    '--max-connections-per-ip', '100']);
});
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

const stats = () => statsOf(server);
// Closing is asynchronous on the server side too: wait until it is done.
const idle = () => pollStats(server, (st) => st.connections === 0 && st.participants === 0,
  'no connection and no participant left');

test('a burst over the rate limit gets rate_limited for each message over it', async () => {
  await idle();
  const eager = await connect(server, 'Eager');
  await eager.request({ type: 'join', room: 'burst' });
  // The bucket holds 100 messages (hello and join took two); the rest of
  // 130 sent in the same instant are refused, one error each.
  for (let i = 0; i < 130; i++) eager.send({ type: 'chat', text: `burst ${i}` });
  await eager.next((m) => m.type === 'chat' && m.text === 'burst 90');
  // Every message has its answer: the chat itself or a refusal.
  const answers = () => ({
    limited: eager.inbox.filter((m) => m.type === 'error' && m.code === 'rate_limited'),
    passed: eager.inbox.filter((m) => m.type === 'chat').length + 1, // next() took one
  });
  await waitFor(async () => answers(), (a) => a.passed + a.limited.length >= 130,
    'an answer to each of the 130 messages', { timeout: 10000, interval: 50 });
  const { limited, passed } = answers();
  assert.equal(passed + limited.length, 130, `${passed} passed, ${limited.length} refused`);
  assert.ok(limited.length >= 25 && limited.length <= 35, `${limited.length} refused`);
  assert.equal(typeof limited[0].message, 'string');
  // It refills: a little later the same connection is served again. The
  // 1.5 s are what is tested (the bucket's refill), not a wait for an event.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await eager.request({ type: 'chat', text: 'calmer now' })).type, 'ok');
  await eager.close();
});

test('a flood of 10,000 messages is cut; others are unaffected', async () => {
  await idle();
  const calm = await connect(server, 'Calm');
  await calm.request({ type: 'join', room: 'flood' });
  const flood = await connect(server, 'Flood');
  const joined = await flood.request({ type: 'join', room: 'flood' });
  await calm.event('participant-joined');
  for (let i = 0; i < 10000; i++) flood.send({ type: 'chat', text: `spam ${i}` });
  // The server closes with 1008; the flooder, with thousands of messages
  // still unread by the server, usually sees the TCP reset that closing
  // such a socket causes instead.
  assert.ok([1008, 1006].includes(await flood.closed), 'the flood is cut');
  const left = await calm.next((m) => m.type === 'participant-left', 5000);
  assert.equal(left.participant_id, joined.participant.id);
  // The burst that got through reached the room; the rest did not.
  const spam = calm.inbox.filter((m) => m.type === 'chat').length;
  assert.ok(spam > 0 && spam <= 101, `${spam} spam messages reached the room`);
  const ok = await calm.request({ type: 'chat', text: 'still here' });
  assert.equal(ok.type, 'ok');
  assert.ok(await calm.next((m) => m.type === 'chat' && m.text === 'still here'));
  await pollStats(server, (st) => st.rate_limited >= 50, 'at least 50 messages counted as rate limited');
  await calm.close();
});

test('1,000 connections from one address are capped at the limit', async () => {
  await idle();
  const clients = [];
  for (let i = 0; i < 1000; i++) clients.push(new Client(server.ws));
  await Promise.all(clients.map((c) => c.opened.catch(() => null)));
  // Those over the cap are told why and closed.
  const isRefused = (c) => c.inbox.some((m) => m.type === 'error' && m.code === 'rate_limited');
  await waitFor(async () => ({ refused: clients.filter(isRefused).length, connections: (await stats()).connections }),
    (x) => x.refused >= 900 && x.connections <= 100, '900 connections refused and 100 kept',
    { timeout: 15000, interval: 100 });
  const refused = clients.filter(isRefused);
  const st = await stats();
  assert.equal(st.connections, 100, JSON.stringify(st));
  assert.equal(refused.length, 900, `${refused.length} refused`);
  for (const c of refused) assert.equal(await c.closed, 1008);
  // The accepted ones work.
  const kept = clients.filter((c) => !refused.includes(c));
  const w = await kept[0].request({ type: 'hello', name: 'Kept' });
  assert.equal(w.type, 'welcome');
  await Promise.all(kept.map((c) => c.close()));
  await idle();
  // Once they are gone, new connections are accepted again.
  const again = await connect(server, 'Again');
  assert.ok(again.user.id);
  await again.close();
});

test('a room over its limit, and a server over its number of rooms, say room_full', async () => {
  await idle();
  const people = await Promise.all(['A', 'B', 'C', 'D'].map((n) => connect(server, `Limit${n}`)));
  for (const c of people.slice(0, 3)) assert.equal((await c.request({ type: 'join', room: 'small' })).type, 'joined');
  const full = await people[3].request({ type: 'join', room: 'small' });
  assert.equal(full.code, 'room_full');
  assert.equal(typeof full.message, 'string');
  assert.equal((await people[3].request({ type: 'join', room: 'second' })).type, 'joined');
  const third = await people[0].request({ type: 'join', room: 'third' });
  assert.equal(third.code, 'room_full');
  // A refused join leaves you where you were.
  await pollStats(server, (st) => st.participants === 4 && st.rooms === 2, 'four participants in two rooms');
  for (const c of people) await c.close();
});
