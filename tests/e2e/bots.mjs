// Runs parley-bot against a test server and returns its JSON report.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const botBin = process.env.PARLEY_BOT || path.join(root, 'build', 'release', 'tools', 'bot', 'parley-bot');

// Measurements under impairment need a bot that keeps pace: the release
// build's when there is one (the server under test may be the sanitizer's).
export const fastBotBin = process.env.PARLEY_BOT_RELEASE || botBin;
export const impairBin = path.join(path.dirname(fastBotBin), '..', 'impair', 'parley-impair');

// prefix: a command that runs the bots elsewhere (a network namespace:
// ['ip', 'netns', 'exec', ns]); ws: the signaling URL as seen from there.
export function runBots(server, args, bin = botBin, { prefix = [], ws = server.ws } = {}) {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bot-')), 'report.json');
  const argv = [...prefix, bin, '--server', ws, '--report', report, ...args];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  // The bots run for their --seconds; one that outlives them by two minutes
  // is hung: killed, and the test fails with its output.
  const i = args.indexOf('--seconds');
  const limit = (i >= 0 ? Number(args[i + 1]) : 10) * 1000 + 120000;
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`parley-bot still running ${limit} ms after it started: ${out}`));
    }, limit);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`parley-bot exited ${code}: ${out}`));
      try {
        resolve(JSON.parse(fs.readFileSync(report, 'utf8')));
      } catch (e) {
        reject(new Error(`no report: ${e.message}: ${out}`));
      }
      fs.rmSync(path.dirname(report), { recursive: true, force: true });
    });
  });
  return { done, output: () => out, kill: () => proc.kill('SIGTERM') };
}

// The worker a room is pinned to: the server hashes room names (FNV-1a).
export function workerOf(room, workers) {
  let h = 2166136261;
  for (const c of Buffer.from(room)) h = Math.imul(h ^ c, 16777619) >>> 0;
  return h % workers;
}

// Streams as "receiver <- sender kind" lines, for readable assertion messages.
export function describe(report) {
  return report.bots.map((b) => `${b.name}: ` + b.streams.map((s) =>
    `${s.from}/${s.kind} pk=${s.packets} lost=${s.lost}` +
    (s.kind === 'video' ? ` freezes=${s.freezes}/${s.freeze_ms}ms frames=${s.frames}` : '') + ` dec=${s.decoded ? JSON.stringify(s.decoded) : '-'}`).join('; ')).join('\n');
}

// Starts parley-impair in front of the server's media port.
export async function startImpair(server, args) {
  const proc = spawn(impairBin, ['--listen', '127.0.0.1:0', '--server', `127.0.0.1:${server.mediaPort}`, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('parley-impair did not start: ' + out)), 5000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on udp:\/\/[0-9.]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`parley-impair exited ${code}: ${out}`)); });
  });
  proc.removeAllListeners('exit');
  return {
    via: `127.0.0.1:${port}`,
    async stop() {
      let timer;
      const done = new Promise((resolve, reject) => {
        timer = setTimeout(() => {
          proc.kill('SIGKILL');
          reject(new Error(`parley-impair did not exit within 10 s of SIGTERM: ${out}`));
        }, 10000);
        proc.on('exit', () => { clearTimeout(timer); resolve(JSON.parse(out.trim().split('\n').pop())); });
      });
      proc.kill('SIGTERM');
      return done;
    },
  };
}

// What a listener of the report's audio hears: the share of 20 ms frames
// concealed after retransmissions and FEC, over every audio stream.
export function audioLossAfterRepair(report) {
  let concealed = 0, turns = 0;
  for (const b of report.bots) for (const s of b.streams) {
    if (!s.playout) continue;
    concealed += s.playout.concealed;
    turns += s.playout.played + s.playout.fec + s.playout.concealed;
  }
  return turns ? concealed / turns : 1;
}
