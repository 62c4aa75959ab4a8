// Running parley as a service: a configuration file gives the same settings
// as the command line, and a bad value is named with its line; SIGTERM
// drains (new joins and calls refused with `draining` while the meeting
// under way keeps its media, exit 0 once the room is empty, or at
// --drain-timeout, or at a second SIGTERM); SIGHUP puts a new certificate
// and a new access-token secret in place for new connections, and keeps the
// old ones when the new files are bad.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServer, stats, pollStats } from './server.mjs';
import { connect, waitFor } from './client.mjs';
import { runBots, describe } from './bots.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env.PARLEY_BIN || path.join(root, 'build', 'release', 'signaling', 'parley');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-service-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function parley(args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function write(name, text) {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
}

test('a configuration file gives what the same command line gives; a bad value is named with its line', () => {
  const turnSecret = write('turn-secret', 'a shared secret\n');
  const cli = ['--http-port', '9123', '--bind', '0.0.0.0', '--announce-ip', '192.0.2.7', '--workers', '2',
    '--no-dynacast', '--turn-url', 'turn:turn.example.org:3478?transport=udp',
    '--turn-url', 'turns:turn.example.org:443?transport=tcp', '--turn-secret-file', turnSecret,
    '--drain-timeout', '30', '--max-rooms', '12'];
  const conf = write('same.conf', [
    '# the same settings as a file',
    'http-port = 9123',
    'bind = 0.0.0.0',
    '  announce-ip = 192.0.2.7   ; indented, with a comment',
    'workers = 2',
    'no-dynacast = true',
    'turn-url = turn:turn.example.org:3478?transport=udp',
    'turn-url = turns:turn.example.org:443?transport=tcp',
    `turn-secret-file = ${turnSecret}`,
    'drain-timeout = 30',
    'max-rooms = 12',
    ''].join('\n'));
  const fromCli = parley([...cli, '--check-config']);
  const fromFile = parley(['--check-config', '--config', conf]);
  assert.equal(fromCli.code, 0, fromCli.err);
  assert.equal(fromFile.code, 0, fromFile.err);
  assert.equal(fromFile.out, fromCli.out);
  assert.match(fromCli.out, /^http-port = 9123\n/);
  assert.match(fromCli.out, /\nturn-url = turn:turn\.example\.org:3478\?transport=udp\nturn-url = turns:/);
  // Every option of --help but the command-line-only ones, one line each.
  const keys = [...new Set(fromCli.out.trim().split('\n').map((l) => l.split(' = ')[0].replace(/ =$/, '')))];
  const helpKeys = parley(['--help']).out.match(/^ {2}--[a-z-]+/gm).map((k) => k.trim().slice(2))
    .filter((k) => !['config', 'check-config', 'help'].includes(k));
  assert.deepEqual(keys, helpKeys);
  // The command line wins, wherever --config stands.
  const over = parley(['--http-port', '9200', '--config', conf, '--turn-url', 'turn:other:3478', '--no-dynacast=false',
    '--check-config']);
  assert.equal(over.code, 0, over.err);
  assert.match(over.out, /\nhttp-port = 9200\n|^http-port = 9200\n/);
  assert.match(over.out, /\nturn-url = turn:other:3478\nturn-secret-file/);
  assert.match(over.out, /\nno-dynacast = false\n/);

  // docs/parley.conf gives every option with its default: uncommented
  // (but for its TURN example), it changes nothing.
  const sample = fs.readFileSync(path.join(root, 'docs', 'parley.conf'), 'utf8').split('\n')
    .map((l) => l.replace(/^#([a-z])/, '$1')).filter((l) => !/^turn-(url|secret-file) = ./.test(l));
  // The web root's default is where the build installs the web client (or
  // ./web without it there), which a sample cannot name for every build.
  const values = sample.filter((l) => !/^web-root = /.test(l));
  const fromSample = parley(['--check-config', '--config', write('sample.conf', values.join('\n'))]);
  assert.equal(fromSample.code, 0, fromSample.err);
  assert.equal(fromSample.out, parley(['--check-config']).out);
  const sampleKeys = sample.filter((l) => /^[a-z]/.test(l)).map((l) => l.split(' =')[0]);
  assert.deepEqual([...new Set(sampleKeys)], helpKeys, 'docs/parley.conf names every option, in order');

  for (const [text, want] of [
    ['bind = 0.0.0.0\n\nmedia-port = 70000\n', /bad\.conf:3: media-port: 70000 is out of range \(0 to 65535\)/],
    ['http-port = 80\nhttp-prot = 81\n', /bad\.conf:2: http-prot: unknown option/],
    ['workers = two\n', /bad\.conf:1: workers: 'two' is not a number/],
  ]) {
    const bad = write('bad.conf', text);
    const r = parley(['--config', bad, '--check-config']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, want);
    assert.equal(r.out, '');
  }
});

test('SIGTERM drains: joins and calls refused, the meeting\'s media go on, exit 0 once the room is empty', async () => {
  const server = await startServer(['--drain-timeout', '120']);
  const bots = runBots(server, ['--room', 'standup', '--per-room', '2', '--seconds', '10']);
  const before = await pollStats(server, (st) => st.participants === 2 && st.rtp_forwarded > 200,
    'two bots forwarding media', { timeout: 20000 });
  const dan = await connect(server, 'Dan');
  server.signal('SIGTERM');
  await waitFor(() => server.output(), (o) => o.includes('draining: 1 room, 2 participants'), 'the drain said');
  const draining = await stats(server);
  assert.equal(draining.draining, true);
  for (const msg of [{ type: 'join', room: 'standup' }, { type: 'join', room: 'elsewhere' },
    { type: 'call', to: 'nobody' }]) {
    const r = await dan.request(msg);
    assert.equal(r.type, 'error', JSON.stringify(r));
    assert.equal(r.code, 'draining', JSON.stringify(r));
    assert.match(r.message, /try again later/);
  }
  // A newcomer may still connect (a participant resuming needs that), and
  // is refused at the door all the same.
  const eve = await connect(server, 'Eve');
  assert.equal((await eve.request({ type: 'join', room: 'standup' })).code, 'draining');
  // Media keep flowing through the drain.
  const during = await pollStats(server, (st) => st.rtp_forwarded > draining.rtp_forwarded + 200,
    'forwarding going on while draining', { timeout: 10000 });
  assert.equal(during.participants, 2);
  assert.equal(during.refused_draining, 4);
  const report = await bots.done;
  for (const b of report.bots)
    for (const x of b.streams)
      assert.ok(x.packets > 0, `${b.name} receives ${x.from}/${x.kind}\n${describe(report)}`);
  assert.ok(before.rtp_forwarded < during.rtp_forwarded);
  // The bots left: the room is empty and the server exits of itself, with
  // Dan and Eve still connected.
  const { code } = await server.exited(20000);
  assert.equal(code, 0, server.output());
  assert.match(server.output(), /stopping: drained/);
  await Promise.all([dan.closed, eve.closed]);
});

test('a meeting that outlasts --drain-timeout is cut, exit 0; a second SIGTERM stops at once', async () => {
  const server = await startServer(['--drain-timeout', '2']);
  const ada = await connect(server, 'Ada');
  assert.equal((await ada.request({ type: 'join', room: 'long' })).type, 'joined');
  server.signal('SIGTERM');
  const started = Date.now();
  const { code } = await server.exited(20000);
  assert.equal(code, 0, server.output());
  assert.match(server.output(), /stopping: drain timeout/);
  assert.ok(Date.now() - started >= 1500, 'the meeting was given its drain time');
  await ada.closed;

  const again = await startServer(['--drain-timeout', '600']);
  const bob = await connect(again, 'Bob');
  assert.equal((await bob.request({ type: 'join', room: 'long' })).type, 'joined');
  again.signal('SIGTERM');
  await waitFor(() => again.output(), (o) => o.includes('draining:'), 'the drain said');
  again.signal('SIGTERM');
  const second = await again.exited(10000);
  assert.equal(second.code, 0, again.output());
  assert.match(again.output(), /stopping now/);
  await bob.closed;
});

// An operator's certificate and key pair, as openssl makes them.
function makeCert(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=parley e2e',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const fp = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'])
    .toString().trim().split('=')[1];
  return { cert, key, fp };
}

// The certificate a new TLS connection is served, by its SHA-256 fingerprint.
function servedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timed out')));
  });
}

const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
function mint(claims, key) {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return `${head}.${crypto.createHmac('sha256', key).update(head).digest('base64url')}`;
}

// A WebSocket to the TLS port (its certificate not verified: it changes
// under the test) that says hello with a token signed with `secret`.
async function tlsHello(port, secret) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, 'parley.v1', { rejectUnauthorized: false, handshakeTimeout: 5000 });
  const inbox = [];
  const waiting = [];
  ws.on('message', (d) => { const m = JSON.parse(d.toString()); (waiting.shift() || ((x) => inbox.push(x)))(m); });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  let id = 0;
  const request = (msg) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no reply to ' + JSON.stringify(msg))), 5000);
    waiting.push((m) => { clearTimeout(t); resolve(m); });
    ws.send(JSON.stringify({ ...msg, id: ++id }));
  });
  const claims = { sub: 'ada', name: 'Ada', exp: Math.floor(Date.now() / 1000) + 600 };
  const r = await request({ type: 'hello', name: 'Ada', token: mint(claims, secret) });
  return { outcome: r.type === 'error' ? r.code : r.type, request, close: () => ws.terminate() };
}

test('SIGHUP: new connections get the new certificate and secret; bad files keep the ones in use', async () => {
  const first = makeCert(path.join(tmp, 'first'));
  const second = makeCert(path.join(tmp, 'second'));
  const live = path.join(tmp, 'live');
  fs.mkdirSync(live);
  const cert = path.join(live, 'cert.pem');
  const key = path.join(live, 'key.pem');
  fs.copyFileSync(first.cert, cert);
  fs.copyFileSync(first.key, key);
  const secretA = 'the first secret, long enough for HS256';
  const secretB = 'the second secret, long enough for HS256 too';
  const secretFile = write('auth-secret', secretA + '\n');
  const server = await startServer(['--tls-cert', cert, '--tls-key', key, '--auth-secret-file', secretFile]);
  const reloads = () => (server.output().match(/reload: done/g) || []).length;
  const reload = async () => {
    const n = reloads();
    server.signal('SIGHUP');
    await waitFor(() => reloads(), (k) => k > n, 'the reload done');
  };
  try {
    assert.equal(await servedFingerprint(server.port), first.fp);
    const held = await tlsHello(server.port, secretA);
    assert.equal(held.outcome, 'welcome');
    fs.copyFileSync(second.cert, cert);
    fs.copyFileSync(second.key, key);
    fs.writeFileSync(secretFile, secretB + '\n');
    await reload();
    assert.equal(await servedFingerprint(server.port), second.fp);
    assert.equal((await tlsHello(server.port, secretB)).outcome, 'welcome');
    assert.equal((await tlsHello(server.port, secretA)).outcome, 'unauthorized');
    // The session admitted before the reload goes on.
    assert.equal((await held.request({ type: 'join', room: 'kept' })).type, 'joined');
    // Left, not lost: a lost participant would hold the drain at the end
    // for its reconnection grace.
    assert.equal((await held.request({ type: 'leave' })).type, 'left');
    held.close();
    // A certificate with another's key, and a secret too short: both
    // refused in words, the ones in use kept.
    fs.copyFileSync(first.cert, cert);
    fs.writeFileSync(secretFile, 'short\n');
    await reload();
    assert.match(server.output(), /reload: tls: .*does not belong to the certificate.*keeping the one in use/);
    assert.match(server.output(), /reload: auth: the auth secret must be .*keeping the one in use/);
    assert.equal(await servedFingerprint(server.port), second.fp);
    assert.equal((await tlsHello(server.port, secretB)).outcome, 'welcome');
  } finally {
    const { code } = await server.stop();
    assert.equal(code, 0, server.output());
  }
});
