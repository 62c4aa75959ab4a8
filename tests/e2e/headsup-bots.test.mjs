// Video heads-ups through the relay, at the protocol level: Bob is in
// do-not-disturb, the caller's call is declined for it, and the caller
// leaves a message. The caller is the user "bot-0" (open mode derives the
// user id from the name), so the parley-bot named bot-0 records into the
// message's room for it: VP8 and Opus from a real encoder. Bob leaves
// do-not-disturb and gets the heads-up with its message; the file plays
// over HTTP (ffprobe reads VP8 and Opus of the length recorded) and the
// acknowledgement deletes it from disk. Others may not join the message's
// room, and a message shorter than a second is not kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer } from './server.mjs';
import { connect, waitFor } from './client.mjs';
import { runBots } from './bots.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

function streams(url) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,codec_type',
    '-show_entries', 'format=duration', '-of', 'json', url]);
  return JSON.parse(out);
}

test('a caller leaves Bob a video message; Bob gets it after dnd, plays it, acknowledges it', async () => {
  const bob = await connect(server, 'Bob');
  assert.equal((await bob.request({ type: 'status', status: 'dnd' })).status, 'dnd');
  const ann = await connect(server, 'bot-0');
  const ringing = await ann.request({ type: 'call', to: bob.user.id, topic: 'the release' });
  assert.equal(ringing.type, 'call-ringing');
  const declined = await ann.next((m) => m.type === 'call-declined');
  assert.equal(declined.reason, 'dnd');

  const eve = await connect(server, 'Eve');
  assert.equal((await eve.request({ type: 'message-start', to: eve.user.id })).code, 'bad_request');
  const ready = await ann.request({ type: 'message-start', to: bob.user.id, call_id: ringing.call_id });
  assert.equal(ready.type, 'message-ready', JSON.stringify(ready));
  assert.equal(ready.room, `message-${ready.message_id}`);
  assert.equal(ready.max_seconds, 120);
  assert.equal((await eve.request({ type: 'join', room: ready.room })).code, 'forbidden');
  assert.equal((await eve.request({ type: 'message-stop', message_id: ready.message_id })).code, 'not_found');

  // bot-0 is the caller: it joins the message's room, publishes 6 s and
  // leaves, which stops the recording.
  const started = Date.now();
  const report = await runBots(server, ['--room', ready.room, '--per-room', '1', '--seconds', '6']).done;
  assert.equal(report.bots.length, 1);
  const saved = await ann.next((m) => m.type === 'message-saved', 20000, 'message-saved');
  const seconds = (Date.now() - started) / 1000;
  assert.equal(saved.message_id, ready.message_id);
  assert.ok(saved.duration_ms > 4000 && saved.duration_ms < seconds * 1000, JSON.stringify(saved));

  // Bob in dnd hears nothing yet; leaving it brings the heads-up.
  await bob.sync();
  assert.equal(bob.inbox.find((m) => m.type === 'missed'), undefined);
  await bob.request({ type: 'status', status: 'online' });
  const missed = await bob.next((m) => m.type === 'missed');
  const item = missed.items.find((i) => i.call_id === ringing.call_id);
  assert.ok(item, JSON.stringify(missed));
  assert.equal(item.reason, 'dnd');
  assert.equal(item.message.id, ready.message_id);
  assert.equal(item.message.audio_only, false);
  assert.match(item.message.url, new RegExp(`^/recordings/${ready.message_id}/[A-Za-z0-9._-]+\\.webm$`));

  const res = await fetch(server.url + item.message.url, { headers: { range: 'bytes=0-99' } });
  assert.equal(res.status, 206);
  const p = streams(server.url + item.message.url);
  assert.deepEqual(p.streams.map((s) => s.codec_name).sort(), ['opus', 'vp8'], JSON.stringify(p));
  const dur = Number(p.format.duration);
  assert.ok(dur > 4 && dur < seconds + 1, `the message lasts ${dur} s`);

  const dir = path.join(server.dataDir, 'recordings', ready.message_id);
  assert.ok(fs.existsSync(dir));
  // A later welcome lists it too.
  const bob2 = await connect(server, 'Bob');
  assert.ok(bob2.welcomeMsg.missed.some((i) => i.message?.id === ready.message_id));
  assert.equal((await bob.request({ type: 'missed-ack', call_ids: [ringing.call_id] })).type, 'ok');
  await waitFor(() => fs.existsSync(dir), (e) => !e, 'the message gone from disk');
  assert.equal((await fetch(server.url + item.message.url)).status, 404);
  for (const c of [bob, bob2, ann, eve]) await c.close();
});

test('a heads-up from the lobby; one shorter than a second is not kept', async () => {
  const carl = await connect(server, 'Carl');
  const dan = await connect(server, 'Dan');
  const ready = await dan.request({ type: 'message-start', to: carl.user.id, audio_only: true });
  assert.equal(ready.type, 'message-ready');
  const joined = await dan.request({ type: 'join', room: ready.room });
  assert.equal(joined.recording, true);
  assert.equal(joined.recording_id, ready.message_id);
  assert.equal((await dan.request({ type: 'message-stop', message_id: ready.message_id })).type, 'ok');
  const saved = await dan.next((m) => m.type === 'message-saved', 15000, 'message-saved');
  assert.equal(saved.duration_ms, 0, 'nothing was sent: nothing kept');
  await carl.sync();
  assert.equal(carl.inbox.find((m) => m.type === 'missed'), undefined);
  await waitFor(() => fs.existsSync(path.join(server.dataDir, 'recordings', ready.message_id)),
    (e) => !e, 'the empty message removed');
  for (const c of [carl, dan]) await c.close();
});
