// https and wss end to end. A server with --tls-self-signed serves the web
// client with its security headers and the certificate whose fingerprint it
// printed; two Chromium pages (certificate errors ignored in this test only)
// meet through it under a host name that is a secure context only because
// of https, and decode each other's video. A server with --tls-cert and
// --tls-key serves an openssl-made certificate that verifies against itself.
// Plain http and ws to a TLS port get nowhere; bad TLS options are refused in
// plain words.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { launchChromium, receives } from './browser.mjs';
import { startServer } from './server.mjs';
import { waitFor } from './client.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-tls-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function stopClean(server) {
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
}

// One request on a connection of its own; `tls` holds the TLS options of
// this request only (a CA to trust, or no verification at all).
function get(url, tls = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { agent: false, ALPNProtocols: ['h2', 'http/1.1'], ...tls }, (res) => {
      const peer = res.socket.getPeerCertificate?.();
      const alpn = res.socket.alpnProtocol;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, raw: res.rawHeaders, peer, alpn, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
  });
}

// Resolves 'open' or 'error: ...' for a WebSocket to url; with a name, says
// hello first and resolves the reply's type.
// A reply that never comes resolves 'no reply within 10 s'.
function wsOutcome(url, options = {}, name) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'parley.v1', { handshakeTimeout: 5000, ...options });
    const timer = setTimeout(() => { ws.terminate(); resolve('no reply within 10 s'); }, 10000);
    const done = (v) => { clearTimeout(timer); resolve(v); };
    ws.on('open', () => {
      if (!name) { ws.close(); done('open'); return; }
      ws.send(JSON.stringify({ type: 'hello', name, id: 1 }));
    });
    ws.on('message', (data) => { ws.close(); done(JSON.parse(data.toString()).type); });
    ws.on('error', (e) => done('error: ' + e.message));
  });
}

const fingerprintIn = (output) => output.match(/SHA-256 fingerprint ([0-9A-F]{2}(?::[0-9A-F]{2}){31})/)?.[1];

function assertSecurityHeaders(res, wsScheme, what) {
  const csp = Object.fromEntries(res.headers['content-security-policy'].split(';').map((d) => d.trim())
    .filter(Boolean).map((d) => { const [k, ...v] = d.split(/\s+/); return [k, v.join(' ')]; }));
  assert.deepEqual(csp, {
    'default-src': "'self'", 'script-src': "'self'", 'style-src': "'self'",
    'img-src': "'self' data: blob:", 'media-src': "'self' blob: mediastream:",
    'frame-ancestors': "'none'", 'base-uri': "'none'", 'form-action': "'self'",
    'connect-src': `'self' ${wsScheme}`,
  }, what);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(res.headers['referrer-policy'], 'no-referrer', what);
  // Not pinned to https: a LAN address may serve plain http another day.
  assert.equal(res.headers['strict-transport-security'], undefined, what);
  // Each once: a second policy (lws's own set) would narrow ours.
  const names = res.raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  for (const h of ['content-security-policy', 'x-content-type-options', 'referrer-policy'])
    assert.equal(names.filter((n) => n === h).length, 1, `${what}: ${h} once`);
  assert.ok(!names.includes('x-xss-protection'), what);
}

test('--tls-self-signed: https with security headers, the printed certificate, wss; plain http and ws refused', async () => {
  const server = await startServer(['--tls-self-signed']);
  try {
    assert.match(server.output(), new RegExp(`listening on https://127\\.0\\.0\\.1:${server.port}`));
    const fingerprint = fingerprintIn(server.output());
    assert.ok(fingerprint, server.output());
    const base = `https://127.0.0.1:${server.port}`;
    const insecure = { rejectUnauthorized: false };

    // Verification stays on by default: the self-signed certificate fails it.
    await assert.rejects(get(`${base}/`), /self[- ]signed/i);

    const page = await get(`${base}/`, insecure);
    assert.equal(page.status, 200);
    assert.match(page.body, /<script src="\/parley.js"><\/script>/);
    assert.equal(page.alpn, 'http/1.1');
    assertSecurityHeaders(page, 'wss:', '/');
    for (const p of ['/r/tls-room', '/parley.js', '/parley.css'])
      assertSecurityHeaders(await get(`${base}${p}`, insecure), 'wss:', p);
    // The admin listener is TLS too, with the same certificate.
    const adminStats = await get(`https://127.0.0.1:${server.adminPort}/stats`, insecure);
    assert.equal(adminStats.peer.fingerprint256, fingerprint);
    assertSecurityHeaders(adminStats, 'wss:', 'admin /stats');

    // The certificate served is the one whose fingerprint was printed: an
    // ECDSA leaf for the bind address and localhost, valid 30 days.
    const cert = page.peer;
    assert.equal(cert.fingerprint256, fingerprint);
    const san = cert.subjectaltname.split(', ');
    for (const n of ['DNS:localhost', 'IP Address:127.0.0.1']) assert.ok(san.includes(n), cert.subjectaltname);
    assert.equal(cert.asn1Curve, 'prime256v1');
    assert.equal(cert.ca, false);
    const days = (Date.parse(cert.valid_to) - Date.now()) / 86400e3;
    assert.ok(days > 29.9 && days <= 30, `valid for ${days} days`);
    assert.ok(Date.parse(cert.valid_from) < Date.now());

    // wss speaks the protocol; plain http and ws to the TLS port do not.
    assert.equal(await wsOutcome(`wss://127.0.0.1:${server.port}/ws`, insecure, 'Ada'), 'welcome');
    assert.match(await wsOutcome(`ws://127.0.0.1:${server.port}/ws`), /^error/);
    await assert.rejects(get(`http://127.0.0.1:${server.port}/`));
    assert.equal(await wsOutcome(`wss://127.0.0.1:${server.port}/ws`, insecure, 'Grace'), 'welcome');
  } finally {
    await stopClean(server);
  }
});


test('two browsers meet over https and wss and decode each other', async () => {
  const server = await startServer(['--tls-self-signed']);
  // parley.test is not localhost: without https the page would not be a
  // secure context and would get no camera.
  const browser = await launchChromium(['--ignore-certificate-errors',
    '--host-resolver-rules=MAP parley.test 127.0.0.1']);
  try {
    const origin = `https://parley.test:${server.port}`;
    const pages = [];
    const sockets = [];
    const violations = [];
    for (const name of ['Ada', 'Grace']) {
      const page = await browser.newPage();
      page.on('websocket', (ws) => sockets.push(ws.url()));
      page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text()); });
      await page.addInitScript(() => document.addEventListener('securitypolicyviolation',
        (e) => console.error(`Content-Security-Policy violation: ${e.violatedDirective} ${e.blockedURI}`)));
      const res = await page.goto(`${origin}/r/tls-room`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-security-policy'], /connect-src 'self' wss:/);
      assert.deepEqual(await page.evaluate(() => [location.protocol, window.isSecureContext]), ['https:', true]);
      await page.fill('#name', name);
      await page.click('button[type=submit]');
      await page.waitForSelector('#meeting:not([hidden])');
      pages.push(page);
    }
    assert.ok(sockets.length >= 2 && sockets.every((u) => u === `wss://parley.test:${server.port}/ws`), sockets.join());

    const oneRemote = (s) => {
      const v = Object.values(s);
      return v.some((x) => x.kind === 'video' && x.frames > 30) && v.some((x) => x.kind === 'audio' && x.packets > 50);
    };
    for (const [i, page] of pages.entries()) {
      const first = await receives(page, oneRemote, `${i ? 'Grace' : 'Ada'} decodes the other`);
      const frames = Object.values(first).filter((x) => x.kind === 'video')[0].frames;
      await receives(page, (s) => Object.values(s).some((x) => x.kind === 'video' && x.frames > frames + 30),
        'video keeps decoding');
    }
    await waitFor(async () => JSON.parse((await get(`https://127.0.0.1:${server.adminPort}/stats`,
      { rejectUnauthorized: false })).body), (st) => st.participants === 2, 'two participants (server /stats)');
    fs.mkdirSync(outDir, { recursive: true });
    await pages[1].screenshot({ path: path.join(outDir, 'e2e-tls.png') });
    assert.deepEqual(violations, []);
    for (const page of pages) await page.close();
  } finally {
    await browser.close();
    await stopClean(server);
  }
});

// An operator's certificate and key, as openssl makes them.
function operatorCert() {
  const cert = path.join(tmp, 'cert.pem');
  const key = path.join(tmp, 'key.pem');
  if (!fs.existsSync(cert))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=parley e2e',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

test('--tls-cert and --tls-key serve an operator certificate that verifies', async () => {
  const { cert, key } = operatorCert();
  const want = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'])
    .toString().trim().split('=')[1];
  const server = await startServer(['--tls-cert', cert, '--tls-key', key]);
  try {
    assert.match(server.output(), new RegExp(`listening on https://127\\.0\\.0\\.1:${server.port}`));
    assert.equal(fingerprintIn(server.output()), want);
    // Verified against the certificate itself, host name included.
    const trust = { ca: fs.readFileSync(cert) };
    const page = await get(`https://127.0.0.1:${server.port}/`, trust);
    assert.equal(page.status, 200);
    assert.equal(page.peer.fingerprint256, want);
    assertSecurityHeaders(page, 'wss:', '/');
    assert.equal(await wsOutcome(`wss://localhost:${server.port}/ws`, trust, 'Linus'), 'welcome');
    assert.match(await wsOutcome(`ws://127.0.0.1:${server.port}/ws`), /^error/);
  } finally {
    await stopClean(server);
  }
});

test('a plain server keeps its headers with ws: in connect-src', async () => {
  const server = await startServer();
  try {
    assert.match(server.output(), /listening on http:\/\//);
    assertSecurityHeaders(await get(`${server.url}/`), 'ws:', '/');
    await assert.rejects(get(`https://127.0.0.1:${server.port}/`, { rejectUnauthorized: false }));
  } finally {
    await stopClean(server);
  }
});

test('bad TLS options are refused in plain words', async () => {
  const { cert } = operatorCert();
  const other = path.join(tmp, 'other-key.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', other],
    { stdio: 'ignore' });
  // The refusal may follow the start-up's own lines (the recordings kept).
  const cases = [
    [['--tls-cert', cert], /exited 2: .*--tls-cert FILE with --tls-key FILE/s],
    [['--tls-key', other], /exited 2: .*--tls-cert FILE with --tls-key FILE/s],
    [['--tls-self-signed', '--tls-cert', cert, '--tls-key', other], /exited 2: .*or --tls-self-signed alone/s],
    [['--tls-cert', cert, '--tls-key', other], /exited 1: .*private key .*other-key.pem does not belong to the certificate/s],
    [['--tls-cert', path.join(tmp, 'missing.pem'), '--tls-key', other], /exited 1: .*cannot open the certificate .*missing.pem: No such file/s],
    [['--tls-cert', other, '--tls-key', other], /exited 1: .*other-key.pem holds no PEM certificate/s],
  ];
  for (const [args, want] of cases)
    await assert.rejects(startServer(args), want, args.join(' '));
});
