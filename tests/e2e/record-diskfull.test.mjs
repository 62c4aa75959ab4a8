// A disk that fills during a recording: the recordings directory is a
// 1 MB tmpfs, three bots meet and are recorded. The recording stops on its
// own, the room hears `recording` false with reason disk_full, and the
// meeting goes on: every bot decodes every other one to the end, without
// corruption, and the server exits cleanly. (Needs root, for the mount.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer } from './server.mjs';
import { connect, waitFor } from './client.mjs';
import { runBots, describe } from './bots.mjs';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-full-'));
const recDir = path.join(dataDir, 'recordings');
let server;
before(async () => {
  fs.mkdirSync(recDir, { mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', recDir]);
  server = await startServer([], { dataDir });
});
after(async () => {
  const { code } = await server.stop();
  execFileSync('umount', [recDir]);
  fs.rmSync(dataDir, { recursive: true, force: true });
  assert.equal(code, 0, server.output());
});

test('a full disk stops the recording, says so, and the meeting goes on', async (t) => {
  const t0 = Date.now();
  const bots = runBots(server, ['--room', 'full', '--per-room', '3', '--seconds', '24']);
  const ann = await connect(server, 'Ann');
  await ann.request({ type: 'join', room: 'full' });
  await waitFor(async () => { await ann.sync(); return ann.inbox.filter((m) => m.type === 'track-published').length; },
    (n) => n >= 6, 'the bots publishing', { timeout: 15000 });
  assert.equal((await ann.request({ type: 'record', record: true })).type, 'ok');
  const on = await ann.next((m) => m.type === 'recording');
  assert.equal(on.recording, true);
  const off = await ann.next((m) => m.type === 'recording' && !m.recording, 20000, 'the recording stopped');
  assert.equal(off.reason, 'disk_full', JSON.stringify(off));
  assert.equal(off.by, 'server');
  const stoppedAt = (Date.now() - t0) / 1000;
  t.diagnostic(`recording stopped for a full disk ${stoppedAt} s into the meeting`);
  assert.match(server.errors(), /recording .* a file could not be written: No space left on device/);

  const report = await bots.done;
  for (const b of report.bots) {
    assert.equal(b.errors, 0, `${b.name}: ${b.last_error}`);
    for (const s of b.streams) {
      t.diagnostic(`${b.name} <- ${s.from} ${s.kind}: ${JSON.stringify(s.decoded)}`);
      assert.ok(s.decoded, `${b.name} decodes ${s.from}/${s.kind}\n${describe(report)}`);
      if (s.kind === 'video') {
        assert.equal(s.decoded.corrupt, 0, `${b.name} <- ${s.from}: corrupt frames`);
        // 24 s at 30 fps less the start: the meeting went on past the stop.
        assert.ok(s.decoded.frames > 500, `${b.name} <- ${s.from}: ${s.decoded.frames} frames`);
      } else {
        assert.equal(s.decoded.errors, 0, `${b.name} <- ${s.from}: Opus decode errors`);
        assert.ok(s.decoded.frames > 900, `${b.name} <- ${s.from}: ${s.decoded.frames} audio frames`);
      }
    }
  }
  await ann.close();
});
