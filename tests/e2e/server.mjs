// Starts a parley server on free ports for one test file and stops it.
import { spawn } from 'node:child_process';
import net from 'node:net';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './client.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// Ports for the servers under test come from below the kernel's ephemeral
// range (32768 and up by default), where no browser's or bot's outgoing
// connection takes one between the pick and the server's bind; a port
// another test file's server took in that moment is caught at start
// (see startServer).
const LOW = 20000, HIGH = 32000;
const pick = () => LOW + Math.floor(Math.random() * (HIGH - LOW));

// Whether a TCP listener can take the port now.
function tcpFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function udpFree(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freePort() {
  for (let i = 0; i < 100; i++) {
    const p = pick();
    if (await tcpFree(p)) return p;
  }
  throw new Error('no TCP port free');
}

// The media port takes UDP and TCP (ICE-TCP) on the same number.
async function freeMediaPort() {
  for (let i = 0; i < 100; i++) {
    const p = pick();
    if (await udpFree(p) && await tcpFree(p)) return p;
  }
  throw new Error('no port free for both UDP and TCP');
}

// ports: {port, mediaPort, dataDir} to start again where a stopped server was
// (same ports, same database); by default every server gets a fresh data dir.
// A port taken between the pick and the bind (by another test file's
// server) is a lost race for a resource, not a fault of the server: the
// start is tried again on other ports, at most a few times.
export async function startServer(extra = [], ports = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(extra, ports);
    } catch (e) {
      const lostPort = /cannot (listen on|bind UDP and TCP) /.test(e.message);
      if (!lostPort || ports.port || ports.mediaPort || attempt === 5) throw e;
    }
  }
}

async function startOnce(extra, ports) {
  const bin = process.env.PARLEY_BIN || path.join(root, 'build', 'release', 'signaling', 'parley');
  const port = ports.port || await freePort();
  const mediaPort = ports.mediaPort || await freeMediaPort();
  const dataDir = ports.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'parley-data-'));
  // The admin listener (/stats, /metrics, the admin API) on a port the
  // kernel picks, unless the test names one; the server prints it.
  const admin = extra.includes('--admin-port') ? [] : ['--admin-port', '0'];
  const tokenFile = extra[extra.indexOf('--admin-token-file') + 1];
  const adminToken = extra.includes('--admin-token-file') ? fs.readFileSync(tokenFile, 'utf8').split('\n')[0] : null;
  const proc = spawn(bin, ['--http-port', String(port), '--media-port', String(mediaPort), '--workers', '1',
    '--web-root', path.join(root, 'web'), '--data-dir', dataDir, ...admin, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 10000);
    proc.stdout.on('data', (d) => { out += d; if (/^listening on/m.test(out)) { clearTimeout(timer); resolve(); } });
    proc.stderr.on('data', (d) => { out += d; err += d; });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      // A start tried again on other ports takes a fresh directory too.
      if (!ports.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      reject(new Error(`server exited ${code}: ${out}`));
    });
  });
  proc.removeAllListeners('exit');
  const [, adminScheme, adminPort] = out.match(/^admin listening on (https?):\/\/[^ ]*:(\d+)/m);
  return {
    port,
    mediaPort,
    dataDir,
    url: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    adminPort: Number(adminPort),
    adminUrl: `${adminScheme}://127.0.0.1:${adminPort}`,
    adminToken,
    // Headers for the admin listener: its bearer token when it has one.
    adminHeaders: () => (adminToken ? { authorization: `Bearer ${adminToken}` } : {}),
    output: () => out,
    // What it wrote to stderr alone (its log).
    errors: () => err,
    // Sends a signal and returns at once (SIGHUP reloads, a first SIGTERM
    // starts draining).
    signal: (sig) => proc.kill(sig),
    // Resolves {code, sig} once the server has exited of itself; one still
    // running after `ms` is killed and the test fails with its output.
    exited(ms = 30000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, sig: proc.signalCode });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          proc.kill('SIGKILL');
          reject(new Error(`server still running after ${ms} ms: ${out}`));
        }, ms);
        proc.on('exit', (code, sig) => { clearTimeout(timer); resolve({ code, sig }); });
      });
    },
    // Stops the server now and resolves {code, sig} once it has exited; one
    // that does not exit within `ms` is killed and the test fails with its
    // output. A first SIGTERM only starts a drain (meetings go on): the
    // signal is sent again, as an operator who wants it down at once does.
    async stop(signal = 'SIGTERM', ms = 30000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return { code: proc.exitCode, sig: proc.signalCode };
      let timer;
      const exited = new Promise((resolve) => proc.on('exit', (code, sig) => { clearTimeout(timer); resolve({ code, sig }); }));
      const hung = new Promise((_, reject) => {
        timer = setTimeout(() => {
          proc.kill('SIGKILL');
          reject(new Error(`server did not exit within ${ms} ms of ${signal}: ${out}`));
        }, ms);
      });
      proc.kill(signal);
      const again = setTimeout(() => proc.exitCode === null && proc.signalCode === null && proc.kill(signal), 200);
      exited.then(() => clearTimeout(again));
      return Promise.race([exited, hung]);
    },
  };
}

// The server's counters (GET /stats on the admin listener).
export async function stats(server) {
  return (await fetch(`${server.adminUrl}/stats`, { headers: server.adminHeaders() })).json();
}

// The relay's account of its subscribers' downlinks, for a message about
// video that fell short: pauses, dropped backlogs, probes, refusals, layer
// switches, and what it asked of the publishers.
export const downlinkLine = (st) => `relay: ${st.video_pauses} video pauses (${st.videos_paused} now), ` +
  `${st.video_flushes} flushes, ${st.probes} probes, ${st.pacer_refused} refused by pacers, ` +
  `${st.layer_switches} layer switches, ${st.keyframe_requests} keyframe requests ` +
  `(${st.nack_keyframes} for NACKs), ${st.layers_paused_at_publisher} layers off at publishers`;

// Polls /stats until pred holds and returns those stats; throws with what
// was awaited and the last stats seen.
export function pollStats(server, pred, what, opts) {
  return waitFor(() => stats(server), pred, `${what} (server /stats)`, opts);
}

// Nothing left: no room, participant, transport or connection.
export const drained = (st) => st.rooms === 0 && st.participants === 0 && st.transports === 0 &&
  st.connections === 0;
