// Starts coturn (turnserver) for one test file on free ports, with its own
// configuration in a temporary directory, and stops it: never the system's
// service, never its configuration or database.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const tcpFree = (addr, port) => new Promise((resolve) => {
  const s = net.createServer();
  s.once('error', () => resolve(false));
  s.listen(port, addr, () => s.close(() => resolve(true)));
});

const udpFree = (addr, port) => new Promise((resolve) => {
  const s = dgram.createSocket('udp4');
  s.once('error', () => { s.close(); resolve(false); });
  s.bind(port, addr, () => s.close(() => resolve(true)));
});

// A port free for both TCP and UDP on addr (coturn listens on both).
async function freeListenPort(addr) {
  for (let tries = 0; tries < 50; tries++) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, addr, () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
    if (await udpFree(addr, port)) return port;
  }
  throw new Error(`no free TCP and UDP port on ${addr}`);
}

// `count` consecutive UDP ports free on addr, for coturn's relay range.
async function freeUdpRange(addr, count) {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20000 + Math.floor(Math.random() * 12000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await udpFree(addr, p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free UDP ports on ${addr}`);
}

const connects = (addr, port) => new Promise((resolve) => {
  const s = net.connect(port, addr);
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

// coturn listening on addr with the TURN REST secret `secret`, relaying
// only to the peers in `allowPeers` (addresses). Returns {port, relay:
// [min, max], output(), stop()}.
export async function startCoturn({ addr, secret, allowPeers, relayPorts = 20 }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-coturn-'));
  const port = await freeListenPort(addr);
  const min = await freeUdpRange(addr, relayPorts);
  const secretFile = path.join(dir, 'secret');
  fs.writeFileSync(secretFile, secret, { mode: 0o600 });
  const conf = [
    `listening-ip=${addr}`,
    `relay-ip=${addr}`,
    `listening-port=${port}`,
    // One relay port per allocation: a participant's two peer connections
    // take two. A small range keeps the test's footprint known.
    `min-port=${min}`,
    `max-port=${min + relayPorts - 1}`,
    // What the relay test is about: the TURN REST secret shared with parley.
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    'realm=parley.test',
    'fingerprint',
    // Browsers speak TURN over UDP, TCP and TLS; this test needs TCP only.
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-multicast-peers',
    // A relay must not be a way into the network it sits in: deny every
    // peer, then allow the relay's one destination. The SFU is at a private
    // address here (10.x in the test's namespaces), which is exactly what a
    // production configuration denies; allowed-peer-ip wins over
    // denied-peer-ip in coturn, so only the SFU is reachable.
    'denied-peer-ip=0.0.0.0-255.255.255.255',
    ...allowPeers.map((a) => `allowed-peer-ip=${a}`),
    `userdb=${path.join(dir, 'turndb')}`,
    `pidfile=${path.join(dir, 'turnserver.pid')}`,
    'log-file=stdout',
    'simple-log',
    'verbose',
  ];
  const confFile = path.join(dir, 'turnserver.conf');
  fs.writeFileSync(confFile, conf.join('\n') + '\n', { mode: 0o600 });
  const proc = spawn('turnserver', ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  let exited = null;
  proc.on('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + 10000;
  while (!(await connects(addr, port))) {
    if (exited) throw new Error(`turnserver exited ${exited.code}: ${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`turnserver did not listen on ${addr}:${port} within 10 s: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100)); // polling its listener
  }
  return {
    port,
    relay: [min, min + relayPorts - 1],
    output: () => out,
    async stop() {
      if (!exited) {
        const done = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
