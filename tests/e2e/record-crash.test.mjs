// A server killed with SIGKILL 15 s into a recording: the files it was
// writing hold at least 12 s of media that ffprobe reads (clusters and Ogg
// pages go to the kernel as they complete), and the server started again
// on the same data dir lists the recording as interrupted with exactly the
// files that are there, each readable: nothing half-listed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer } from './server.mjs';
import { connect, waitFor } from './client.mjs';
import { runBots } from './bots.mjs';

const servers = [];
after(async () => {
  for (const s of servers) await s.stop('SIGKILL').catch(() => {});
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The media a file holds, from its first packet to the end of its last.
function seconds(file, kind) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', kind === 'video' ? 'v:0' : 'a:0',
    '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file]).toString();
  let first = Infinity, last = 0;
  for (const line of out.trim().split('\n')) {
    const [pts, dur] = line.split(',').map(Number);
    if (!Number.isFinite(pts)) continue;
    first = Math.min(first, pts);
    last = Math.max(last, pts + (Number.isFinite(dur) ? dur : 0));
  }
  return last - first;
}

test('SIGKILL 15 s into a recording leaves readable files of 12 s and more, listed as interrupted', async (t) => {
  const server = await startServer();
  servers.push(server);
  const bots = runBots(server, ['--room', 'crash', '--per-room', '2', '--seconds', '40']);
  bots.done.catch(() => {}); // they lose their server: their report does not matter
  const ann = await connect(server, 'Ann');
  await ann.request({ type: 'join', room: 'crash' });
  await waitFor(async () => { await ann.sync(); return ann.inbox.filter((m) => m.type === 'track-published').length; },
    (n) => n >= 4, 'both bots publishing', { timeout: 15000 });
  await sleep(1000);
  assert.equal((await ann.request({ type: 'record', record: true })).type, 'ok');
  const { recording_id: id } = await ann.next((m) => m.type === 'recording');
  await sleep(15000);
  const { sig } = await server.stop('SIGKILL');
  assert.equal(sig, 'SIGKILL');
  bots.kill();

  const dir = path.join(server.dataDir, 'recordings', id);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.state, 'recording');
  // Ann, who sends nothing, has a file too: created when she was added.
  const webms = manifest.files.filter((f) => f.name.endsWith('.webm') && f.display_name.startsWith('bot-'));
  assert.equal(webms.length, 2, JSON.stringify(manifest.files));
  for (const f of webms) {
    for (const kind of ['audio', 'video']) {
      const s = seconds(path.join(dir, f.name), kind);
      t.diagnostic(`${f.display_name} ${kind}: ${s.toFixed(2)} s readable`);
      assert.ok(s >= 12, `${f.name} ${kind}: ${s} s readable after the kill`);
    }
  }
  const mix = seconds(path.join(dir, 'mix.ogg'), 'audio');
  t.diagnostic(`mix: ${mix.toFixed(2)} s readable`);
  assert.ok(mix >= 12, `mix.ogg: ${mix} s readable after the kill`);

  // Started again: recovery marks it interrupted, and what is listed is there.
  const again = await startServer([], { dataDir: server.dataDir });
  servers.push(again);
  const listing = await (await fetch(`${again.adminUrl}/rooms/crash/recordings`, { headers: again.adminHeaders() })).json();
  assert.equal(listing.recordings.length, 1, JSON.stringify(listing));
  const rec = listing.recordings[0];
  assert.equal(rec.id, id);
  assert.equal(rec.state, 'interrupted');
  assert.deepEqual(rec.files.map((f) => f.name).sort(), fs.readdirSync(dir).filter((n) => n !== 'manifest.json').sort());
  for (const f of rec.files) {
    assert.equal(f.bytes, fs.statSync(f.absolute_path).size, f.name);
    const res = await fetch(again.url + f.url, { headers: { range: 'bytes=0-15' } });
    assert.equal(res.status, 206, f.name);
  }
  await ann.close().catch(() => {});
  const { code } = await again.stop();
  assert.equal(code, 0, again.output());
});
