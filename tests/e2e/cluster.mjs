// A cluster of parley nodes coordinated through Redis, on one machine:
// each node in a network namespace of its own with one address, Redis in
// the test's (or tool's) own namespace, all on one bridge:
//
//   host (bridge): 10.X.0.1  redis-server :6379, the clients (bots, browsers)
//   node i's namespace: 10.X.0.(10+i)  parley :8080 (HTTP, WebSocket),
//                                      :8081 (admin), media 40000
//
// The bridge is plain layer 2, so nothing is routed or forwarded. Every
// name carries a prefix unique to this process and `stop` (also run at
// exit) removes what was made. tools/cluster runs this for people.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}
const ip = (...args) => run('ip', args);

const made = { namespaces: new Set(), links: new Set(), procs: new Set() };
process.on('exit', () => {
  for (const p of made.procs) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
  for (const ns of made.namespaces) {
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
  }
  for (const l of made.links) {
    try { execFileSync('ip', ['link', 'del', l], { stdio: 'ignore' }); } catch { /* gone */ }
  }
});

// Spawns and resolves once `ready` matches its output (rejects on exit or
// after 10 s).
function start(argv, ready, what) {
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  made.procs.add(proc);
  let out = '';
  proc.on('exit', () => made.procs.delete(proc));
  const up = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 10000);
    const seen = (d) => { out += d; if (ready.test(out)) { clearTimeout(timer); resolve(); } };
    proc.stdout.on('data', seen);
    proc.stderr.on('data', seen);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited ${code}: ${out}`)); });
  });
  return { proc, up, output: () => out };
}

function exited(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.on('exit', () => resolve()));
}

// nodes: how many; subnet: X of 10.X.0.0/24 (default from the pid);
// extra: more parley options for every node; bin: the parley executable.
export async function startCluster({ nodes = 3, subnet, extra = [], bin } = {}) {
  bin = bin || process.env.PARLEY_BIN || path.join(root, 'build', 'release', 'signaling', 'parley');
  // A subnet no address of this machine is in (other tests' networks).
  const used = ip('-4', '-o', 'addr', 'show');
  const free = (n) => !used.includes(` 10.${n}.`);
  let x = subnet ?? (10 + ((process.pid + 7) % 240));
  if (subnet === undefined) for (let k = 0; k < 240 && !free(x); k++) x = 10 + ((x - 10 + 1) % 240);
  if (!free(x)) throw new Error(`10.${x}.0.0/16 is in use here`);
  const tag = `c${process.pid.toString(36)}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-cluster-'));
  const tokenFile = path.join(dir, 'admin-token');
  const adminToken = crypto.randomBytes(16).toString('hex');
  fs.writeFileSync(tokenFile, adminToken + '\n', { mode: 0o600 });
  const hostAddr = `10.${x}.0.1`;
  const bridge = `${tag}br`;
  ip('link', 'add', bridge, 'type', 'bridge');
  made.links.add(bridge);
  ip('addr', 'add', `${hostAddr}/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');

  const redisPort = 6379;
  const redisUrl = `redis://${hostAddr}:${redisPort}`;
  let redis = null;
  const startRedis = async () => {
    redis = start(['redis-server', '--bind', hostAddr, '--port', String(redisPort), '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'no', '--dir', dir],
    /Ready to accept connections/, 'redis-server');
    await redis.up;
  };
  await startRedis();

  const list = [];
  for (let i = 1; i <= nodes; i++) {
    const ns = `${tag}-n${i}`;
    const host = `${tag}h${i}`;
    const peer = `${tag}p${i}`;
    const addr = `10.${x}.0.${10 + i}`;
    ip('netns', 'add', ns);
    made.namespaces.add(ns);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', host, 'master', bridge);
    ip('link', 'set', host, 'up');
    ip('link', 'set', peer, 'netns', ns);
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${addr}/24`, 'dev', peer);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    const dataDir = path.join(dir, `node${i}`);
    const node = {
      index: i, ns, addr,
      url: `http://${addr}:8080`,
      ws: `ws://${addr}:8080/ws`,
      adminUrl: `http://${addr}:8081`,
      proc: null,
      output: () => '',
      alive() { return this.proc && this.proc.exitCode === null && this.proc.signalCode === null; },
      async start() {
        const s = start(['ip', 'netns', 'exec', ns, bin, '--bind', addr, '--http-port', '8080',
          '--admin-bind', addr, '--admin-port', '8081', '--admin-token-file', tokenFile,
          '--media-port', '40000', '--workers', '1', '--web-root', path.join(root, 'web'),
          '--data-dir', dataDir, '--redis', redisUrl, ...extra], /^listening on/m, `node ${i}`);
        this.proc = s.proc;
        this.output = s.output;
        await s.up;
      },
      signal(sig) { this.proc.kill(sig); },
      async kill(sig = 'SIGKILL') { this.proc.kill(sig); await exited(this.proc); },
      async admin(method, p) {
        const r = await fetch(`${this.adminUrl}${p}`, { method, headers: { authorization: `Bearer ${adminToken}` } });
        return r.json();
      },
      // The rooms it hosts: {name: participants}.
      async rooms() {
        const page = await this.admin('GET', '/rooms');
        return Object.fromEntries(page.rooms.map((r) => [r.name, r.participants.length]));
      },
      stats() { return this.admin('GET', '/stats'); },
    };
    list.push(node);
  }
  await Promise.all(list.map((n) => n.start()));

  return {
    dir, hostAddr, redisUrl, adminToken, nodes: list,
    // Every live node's rooms: [{node, rooms}].
    async placement() {
      const live = list.filter((n) => n.alive());
      return Promise.all(live.map(async (n) => ({ node: n.index, rooms: await n.rooms() })));
    },
    redisCli(...args) {
      return run('redis-cli', ['-h', hostAddr, '-p', String(redisPort), ...args]);
    },
    // Redis gone (SIGKILL: nothing saved), and back.
    async stopRedis() {
      redis.proc.kill('SIGKILL');
      await exited(redis.proc);
    },
    startRedis,
    // Stops every node as an operator who wants it down now does (SIGTERM
    // twice: the first only drains), then Redis, and removes the network.
    // Resolves each node's {index, code, sig, output}: a node that was
    // not killed exits 0, with its sanitizers' leak check passed.
    async stop() {
      const ends = await Promise.all(list.filter((n) => n.proc).map(async (n) => {
        if (n.alive()) {
          n.proc.kill('SIGTERM');
          setTimeout(() => n.alive() && n.proc.kill('SIGTERM'), 200);
          const hung = setTimeout(() => n.alive() && n.proc.kill('SIGKILL'), 30000);
          await exited(n.proc);
          clearTimeout(hung);
        }
        return { index: n.index, code: n.proc.exitCode, sig: n.proc.signalCode, output: n.output() };
      }));
      if (redis) { redis.proc.kill('SIGKILL'); await exited(redis.proc); }
      for (const n of list) {
        try { ip('netns', 'del', n.ns); } catch { /* gone */ }
        made.namespaces.delete(n.ns);
      }
      try { ip('link', 'del', bridge); } catch { /* gone */ }
      made.links.delete(bridge);
      fs.rmSync(dir, { recursive: true, force: true });
      return ends;
    },
  };
}
