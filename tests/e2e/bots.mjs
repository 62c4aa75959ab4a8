// Runs parley-bot against a test server and returns its JSON report.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const botBin = process.env.PARLEY_BOT || path.join(root, 'build', 'release', 'tools', 'bot', 'parley-bot');

export function runBots(server, args) {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bot-')), 'report.json');
  const proc = spawn(botBin, ['--server', server.ws, '--report', report, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const done = new Promise((resolve, reject) => {
    proc.on('exit', (code) => {
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
    `${s.from}/${s.kind} pk=${s.packets} lost=${s.lost} dec=${s.decoded ? JSON.stringify(s.decoded) : '-'}`).join('; ')).join('\n');
}
