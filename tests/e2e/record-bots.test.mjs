// A meeting recorded through the relay: three parley-bot participants
// publish VP8 and Opus; a participant starts the recording with `record`,
// everyone in the room hears `recording`, one who joins later sees it in
// `joined`; an operator stops it through the admin API. Within 15 s of the
// stop the admin listing has it finished with one WebM per bot and the
// mix, and ffprobe reads every file: VP8 and Opus for as long as it was
// recorded, and the mix's Opus as long.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function probe(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries',
    'stream=codec_name,codec_type,width,height:format=duration', '-of', 'json', file]);
  return JSON.parse(out);
}

// Duration of one stream: the last packet's end, as players see it.
function streamSeconds(file, kind) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', kind === 'video' ? 'v:0' : 'a:0',
    '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file]).toString();
  let first = Infinity, last = 0;
  for (const line of out.trim().split('\n')) {
    const [pts, dur] = line.split(',').map(Number);
    if (!Number.isFinite(pts)) continue;
    first = Math.min(first, pts);
    last = Math.max(last, pts + (Number.isFinite(dur) ? dur : 0));
  }
  return { first, last };
}

test('three bots recorded: the room sees it, an operator stops it, ffprobe reads every file', async (t) => {
  const bots = runBots(server, ['--room', 'rec', '--per-room', '3', '--seconds', '22']);
  const ann = await connect(server, 'Ann');
  const joined = await ann.request({ type: 'join', room: 'rec' });
  assert.equal(joined.type, 'joined');
  assert.equal(joined.recording, false);
  // The bots publish: their tracks are in the room.
  await waitFor(async () => { await ann.sync(); return ann.inbox.filter((m) => m.type === 'track-published').length; },
    (n) => n >= 6, 'the three bots\' audio and video published', { timeout: 15000 });
  await sleep(1000);

  const ok = await ann.request({ type: 'record', record: 'yes' });
  assert.equal(ok.code, 'bad_request');
  const started = Date.now();
  assert.equal((await ann.request({ type: 'record', record: true })).type, 'ok');
  const on = await ann.next((m) => m.type === 'recording');
  assert.equal(on.recording, true);
  assert.match(on.recording_id, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(on.by, joined.participant.id);

  await sleep(4000);
  const late = await connect(server, 'Lee');
  const lateJoined = await late.request({ type: 'join', room: 'rec' });
  assert.equal(lateJoined.recording, true, 'a latecomer sees the recording in joined');
  assert.equal(lateJoined.recording_id, on.recording_id);

  await sleep(6000);
  const res = await fetch(`${server.adminUrl}/rooms/rec/recording`, {
    method: 'POST', headers: server.adminHeaders(), body: JSON.stringify({ record: false }) });
  assert.equal(res.status, 200, await res.clone().text());
  const stopped = Date.now();
  assert.deepEqual(await res.json(), { room: 'rec', recording: false });
  for (const c of [ann, late]) {
    const off = await c.next((m) => m.type === 'recording' && m.recording === false);
    assert.equal(off.by, 'operator');
    assert.equal(off.recording_id, on.recording_id);
  }
  const seconds = (stopped - started) / 1000;

  const listing = await waitFor(async () => (await fetch(`${server.adminUrl}/rooms/rec/recordings`,
    { headers: server.adminHeaders() })).json(),
  (b) => b.recordings?.some((r) => r.id === on.recording_id && r.state === 'finished'),
  'the recording listed finished', { timeout: 15000 });
  const rec = listing.recordings.find((r) => r.id === on.recording_id);
  const webms = rec.files.filter((f) => f.name.endsWith('.webm'));
  const mix = rec.files.find((f) => f.name === 'mix.ogg');
  assert.ok(mix, JSON.stringify(rec.files));
  assert.equal(webms.length, 3, `one file per publishing bot: ${JSON.stringify(rec.files)}`);
  for (const f of webms) {
    const p = probe(f.absolute_path);
    const kinds = Object.fromEntries(p.streams.map((s) => [s.codec_type, s]));
    assert.equal(kinds.video?.codec_name, 'vp8', `${f.name}: ${JSON.stringify(p)}`);
    assert.equal(kinds.audio?.codec_name, 'opus', `${f.name}: ${JSON.stringify(p)}`);
    assert.ok(kinds.video.width > 0 && kinds.video.height > 0, JSON.stringify(kinds.video));
    for (const kind of ['audio', 'video']) {
      const { first, last } = streamSeconds(f.absolute_path, kind);
      t.diagnostic(`${f.display_name} ${kind}: ${first.toFixed(2)}-${last.toFixed(2)} s of ${seconds} s` +
        (kind === 'video' ? ` ${kinds.video.width}x${kinds.video.height}` : ''));
      assert.ok(last - first > seconds - 2 && last < seconds + 1.5,
        `${f.name} ${kind}: ${first}-${last} s of a ${seconds} s recording`);
    }
    assert.ok(f.bytes > 10000, `${f.name}: ${f.bytes} bytes`);
  }
  const m = streamSeconds(mix.absolute_path, 'audio');
  t.diagnostic(`mix: ${m.first.toFixed(2)}-${m.last.toFixed(2)} s; speech ${JSON.stringify(rec.speech)}`);
  assert.ok(Math.abs(m.last - seconds) < 1.5, `mix: ${m.last} s of a ${seconds} s recording`);
  assert.ok(Array.isArray(rec.speech));

  // The recording's counters: what the worker handed it, nothing dropped
  // for a full queue, frames written, nothing active once it finished.
  const text = await (await fetch(`${server.adminUrl}/metrics`, { headers: server.adminHeaders() })).text();
  const metric = (re) => Number((text.match(re) || [])[1]);
  assert.equal(metric(/^parley_recordings_active (\d+)/m), 0);
  assert.equal(metric(/^parley_recordings_started_total\{kind="meeting"\} (\d+)/m), 1);
  assert.ok(metric(/^parley_recording_packets_total (\d+)/m) > 1000, text);
  assert.equal(metric(/^parley_recording_packets_dropped_total\{reason="queue_full"\} (\d+)/m), 0);
  assert.ok(metric(/^parley_recording_frames_total (\d+)/m) > 1000);

  const report = await bots.done;
  assert.equal(report.bots.length, 3);
  await ann.close();
  await late.close();
});
