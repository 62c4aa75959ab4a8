// A participant whose WebSocket is lost (no close handshake) stays in its
// room for the reconnection grace period and can resume its session with
// the token from `welcome`; the others never see it leave. One that does
// not come back in time leaves with reason `timeout`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, pollStats } from './server.mjs';
import { Client, connect } from './client.mjs';

let server;
before(async () => { server = await startServer(['--reconnect-grace', '2']); });
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, `clean exit, no leak: ${server.output()}`);
});

async function hello(name) {
  const c = new Client(server.ws);
  await c.opened;
  const w = await c.request({ type: 'hello', name });
  assert.equal(w.type, 'welcome');
  assert.match(w.resume_token, /^[0-9a-f]{32}$/);
  return { c, token: w.resume_token };
}

test('a lost connection resumes with the same participant; the others see nothing', async () => {
  const ada = await connect(server, 'Ada');
  await ada.request({ type: 'join', room: 'resume' });
  const { c: grace, token } = await hello('Grace');
  const joined = await grace.request({ type: 'join', room: 'resume' });
  await ada.event('participant-joined');

  grace.ws.terminate(); // the network goes away: no close frame
  await grace.closed;
  const st = await pollStats(server, (x) => x.detached === 1, 'the server to notice the lost connection');
  assert.equal(st.participants, 2, 'still in the room');

  // Meanwhile Ada chats; Grace comes back within the grace period.
  await ada.request({ type: 'chat', text: 'are you there?' });
  const back = new Client(server.ws);
  await back.opened;
  const w = await back.request({ type: 'hello', name: 'Grace', resume: token });
  assert.equal(w.type, 'welcome');
  assert.equal(w.resumed, true);
  assert.notEqual(w.resume_token, token, 'a new token for the next time');
  const again = await back.event('joined');
  assert.equal(again.participant.id, joined.participant.id);
  assert.deepEqual(again.participants.map((p) => p.name), ['Ada']);
  // The session is whole: chat works both ways.
  await back.request({ type: 'chat', text: 'back' });
  assert.equal((await ada.event('chat')).text, 'are you there?');
  assert.equal((await ada.event('chat')).text, 'back');
  assert.equal(ada.inbox.filter((m) => m.type === 'participant-left').length, 0);
  await pollStats(server, (x) => x.detached === 0 && x.resumed === 1, 'the session counted as resumed');

  // A token works once; an unknown one is refused.
  const stale = new Client(server.ws);
  await stale.opened;
  const e = await stale.request({ type: 'hello', name: 'Grace', resume: token });
  assert.equal(e.type, 'error');
  assert.equal(e.code, 'not_found');
  await stale.close();
  await back.close();
  assert.equal((await ada.event('participant-left')).reason, 'disconnected');
  await ada.close();
});

test('a participant lost for longer than the grace period leaves with reason timeout', async () => {
  const ada = await connect(server, 'Ada');
  await ada.request({ type: 'join', room: 'timeout' });
  const { c: linus } = await hello('Linus');
  const j = await linus.request({ type: 'join', room: 'timeout' });
  await ada.event('participant-joined');
  const lostAt = Date.now();
  linus.ws.terminate();
  const left = await ada.next((m) => m.type === 'participant-left', 6000);
  assert.equal(left.reason, 'timeout');
  assert.equal(left.participant_id, j.participant.id);
  const waited = Date.now() - lostAt;
  assert.ok(waited >= 1900, `left after ${waited} ms, before the 2 s grace was over`);
  await ada.close();
  await pollStats(server, (st) => st.participants === 0 && st.detached === 0, 'nobody left in the room');
});
