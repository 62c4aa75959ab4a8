// parley-bot's Janus adapter (--signaling janus) against a real Janus, the
// Debian package, started as tools/bench --against janus starts it
// (tools/janus-run: VideoRoom and WebSockets only, ICE-lite). The bots must
// decode each other through Janus as through Parley: right identity, no
// corrupt frame, delay measured; a leaver's streams end by Janus's own
// renegotiation; simulcast subscribers get the layer they ask for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBots, describe } from './bots.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const janusRun = path.join(root, 'tools', 'janus-run');

let janus; // { ws, ip, proc, dir, output() }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port, proc, output, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) break;
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`janus did not listen on ${port}: ${output()}`);
}

before(async () => {
  try {
    execFileSync('sh', ['-c', 'command -v janus'], { stdio: 'ignore' });
  } catch {
    throw new Error('janus is not installed: tools/install-deps installs it (Debian package janus)');
  }
  const ip = execFileSync(janusRun, ['--print-ip'], { encoding: 'utf8' }).trim();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-janus-'));
  const proc = spawn(janusRun, ['--dir', dir, '--ws-port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  janus = { ws: `ws://127.0.0.1:${port}/`, ip, proc, dir, output: () => out };
  await waitPort(port, proc, janus.output);
});

after(async () => {
  if (!janus) return;
  if (janus.proc.exitCode === null) {
    const exited = new Promise((r) => janus.proc.on('exit', r));
    janus.proc.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(janus.dir, { recursive: true, force: true });
});

const bots = (args) => runBots(janus, ['--signaling', 'janus', '--bind', janus.ip, ...args]).done;

// As bots.test.mjs: every decoded stream shows the right sender, no corrupt
// frame, nothing from an unannounced SSRC.
function assertClean(report) {
  for (const b of report.bots) {
    assert.equal(b.errors, 0, `${b.name}: ${b.last_error}`);
    assert.equal(b.unknown_ssrc_packets, 0, `${b.name} got packets of no announced stream`);
    for (const s of b.streams) {
      if (!s.decoded) continue;
      assert.equal(s.decoded.identity_ok, true, `${b.name} <- ${s.from} ${s.kind}: ${JSON.stringify(s.decoded)}`);
      if (s.kind === 'video') {
        assert.equal(s.decoded.corrupt, 0, `${b.name} <- ${s.from}: corrupt frames`);
        assert.equal(s.decoded.out_of_order, 0, `${b.name} <- ${s.from}: frames out of order`);
      } else {
        assert.equal(s.decoded.errors, 0, `${b.name} <- ${s.from}: Opus decode errors`);
      }
    }
  }
}

test('three bots in a Janus room decode each other; one leaves and its streams end', async () => {
  const report = await bots(['--room', 'janus-three', '--per-room', '3', '--seconds', '8',
    '--leave-after', '5']);
  assertClean(report);
  assert.equal(report.summary.corrupt_frames, 0);
  assert.equal(report.summary.wrong_identity_streams, 0);
  assert.ok(report.summary.video_delay_us, 'video delay measured through Janus');
  assert.ok(report.summary.video_delay_us.p50 < 100000, `delay ${JSON.stringify(report.summary.video_delay_us)}`);
  const leaver = report.bots.find((b) => b.name === 'bot-2');
  for (const b of report.bots) {
    const others = report.bots.filter((o) => o !== b).map((o) => o.name).sort();
    for (const kind of ['audio', 'video']) {
      const from = b.streams.filter((x) => x.kind === kind).map((x) => x.from).sort();
      assert.deepEqual(from, others, `${b.name} receives ${kind} from every other bot\n${describe(report)}`);
    }
    for (const x of b.streams) {
      assert.ok(x.decoded, `${b.name} decodes ${x.from}/${x.kind}`);
      // Five seconds at least, minus the time to connect.
      const min = x.kind === 'video' ? 60 : 100;
      assert.ok(x.decoded.frames > min, `${b.name} <- ${x.from} ${x.kind}: ${x.decoded.frames} frames`);
    }
    if (b === leaver) continue;
    assert.equal(b.peers_left, 1, `${b.name} was told that bot-2 left`);
    for (const x of b.streams.filter((s) => s.from === 'bot-2')) {
      assert.equal(x.active, false, `${b.name} <- bot-2 ${x.kind} ended by Janus's renegotiation`);
      assert.equal(x.packets_after_end, 0);
    }
  }
});

test('simulcast through Janus: each subscriber decodes the layer its size asks for', async () => {
  // As Parley picks: the smallest layer covering the size, else the largest.
  const asks = [['160x90', '160x90'], ['320x180', '320x180'], ['640x360', '640x360'],
    ['0x0', '640x360'], ['200x100', '320x180']];
  const report = await bots(['--room', 'janus-simulcast', '--per-room', String(asks.length),
    '--seconds', '8', '--simulcast', '--max-size', asks.map(([ask]) => ask).join(',')]);
  assertClean(report);
  for (const b of report.bots) {
    const ask = `${b.max_size[0]}x${b.max_size[1]}`;
    const owed = asks.find(([a]) => a === ask)[1];
    const video = b.streams.filter((x) => x.kind === 'video');
    assert.equal(video.length, asks.length - 1, `${b.name}: every other bot\n${describe(report)}`);
    for (const x of video) {
      const sizes = x.frame_sizes || {};
      const top = Object.entries(sizes).sort((p, q) => q[1] - p[1])[0];
      assert.ok(top, `${b.name} <- ${x.from}: frames received`);
      assert.equal(top[0], owed, `${b.name} (asks ${ask}) <- ${x.from}: ${JSON.stringify(sizes)}`);
      assert.equal(x.picture_id_gaps, 0, `${b.name} <- ${x.from}: picture ids continuous across layers`);
    }
  }
});
