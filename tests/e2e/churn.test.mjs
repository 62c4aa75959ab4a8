// Churn: 200 join / publish / leave cycles over the signaling protocol.
// Every cycle creates and tears down a real transport on a worker; at the
// end the server's room, participant and transport counts are back to zero,
// and (under the sanitizer build) the server exits without a leak.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, pollStats, drained } from './server.mjs';
import { connect } from './client.mjs';

const offer = fs.readFileSync(new URL('../fixtures/sdp/chromium156-publish-offer.sdp', import.meta.url), 'utf8');
let server;
before(async () => { server = await startServer(); });
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, `clean exit, no leak: ${server.output()}`);
});

test('200 join / publish / leave cycles leave nothing behind', async () => {
  const watcher = await connect(server, 'Watcher');
  await watcher.request({ type: 'join', room: 'churn' });
  for (let i = 0; i < 200; i++) {
    const c = await connect(server, `Churner ${i % 7}`);
    const j = await c.request({ type: 'join', room: i % 3 ? 'churn' : `churn-${i}` });
    assert.equal(j.type, 'joined');
    const a = await c.request({ type: 'publish', sdp: offer });
    assert.equal(a.type, 'publish-answer', JSON.stringify(a));
    if (i % 2) await c.request({ type: 'leave' });
    await c.close(); // the other half leaves by disconnecting
  }
  // The watcher was offered each churner's tracks and saw them go: a round
  // trip brings in all the server sent it before closing.
  await watcher.sync();
  await watcher.close();
  await pollStats(server, drained, 'no room, participant, transport or connection left');
});
