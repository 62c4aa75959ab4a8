// Access tokens against the real server started with --auth-secret: tokens
// are minted here with node's own HMAC (an implementation independent of
// the server's libjwt) and with parley-token. Every bad token is refused
// with `unauthorized`, the connection closed, and the user never shows in
// presence; a guest token bound to a room is refused elsewhere; publishing
// needs can_publish and receiving can_subscribe.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { startServer, pollStats } from './server.mjs';
import { Client } from './client.mjs';

const secret = 'an e2e secret that is long enough for HS256';
let server, observer;
const fixture = (name) => fs.readFileSync(new URL(`../fixtures/sdp/${name}`, import.meta.url), 'utf8');

const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
function mint(claims, { key = secret, alg = 'HS256' } = {}) {
  const head = b64({ alg, typ: 'JWT' }) + '.' + b64(claims);
  const mac = crypto.createHmac(alg === 'HS512' ? 'sha512' : 'sha256', key).update(head).digest('base64url');
  return `${head}.${mac}`;
}
const now = () => Math.floor(Date.now() / 1000);

async function hello(token, name = 'Someone') {
  const c = new Client(server.ws);
  await c.opened;
  const msg = { type: 'hello', name };
  if (token !== undefined) msg.token = token;
  const r = await c.request(msg);
  return { c, r };
}

before(async () => {
  server = await startServer(['--auth-secret', secret]);
  ({ c: observer } = await hello(mint({ sub: 'observer', name: 'Olga', exp: now() + 600 })));
});
after(async () => {
  await observer?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

test('bad tokens are refused, the connection closed, and nobody sees the user', async () => {
  const cases = {
    missing: undefined,
    malformed: 'not-a-jwt',
    'badly signed': mint({ sub: 'mallory', exp: now() + 600 }, { key: 'some other secret, also long enough' }),
    'another algorithm': mint({ sub: 'mallory', exp: now() + 600 }, { alg: 'HS512' }),
    'unsigned (alg none)': `${b64({ alg: 'none' })}.${b64({ sub: 'mallory', exp: now() + 600 })}.`,
    expired: mint({ sub: 'mallory', exp: now() - 5 }),
    'not yet valid': mint({ sub: 'mallory', exp: now() + 600, nbf: now() + 300 }),
    'no expiry': mint({ sub: 'mallory' }),
  };
  for (const [what, token] of Object.entries(cases)) {
    const { c, r } = await hello(token, 'Mallory');
    assert.equal(r.type, 'error', what);
    assert.equal(r.code, 'unauthorized', `${what}: ${JSON.stringify(r)}`);
    assert.equal(await c.closed, 1008, `${what}: closed with 1008`);
  }
  const { c: late, r: w } = await hello(mint({ sub: 'late', exp: now() + 600 }), 'Late');
  assert.equal(w.type, 'welcome');
  assert.deepEqual(w.online.map((u) => u.id), ['observer'], 'no trace of the refused ones');
  // The observer hears of Late, who came after them all: anything it was
  // told of Mallory would have come first.
  await observer.next((m) => m.type === 'presence' && m.user.id === 'late');
  assert.equal(observer.inbox.find((m) => m.type === 'presence' && m.user.id === 'mallory'), undefined);
  await late.close();
  await pollStats(server, (st) => st.auth_refused >= Object.keys(cases).length,
    `${Object.keys(cases).length} refusals counted`);
});

test('a token names the user; the name in the token wins', async () => {
  const { c, r } = await hello(mint({ sub: 'ada', name: 'Ada Lovelace', exp: now() + 600 }), 'Whoever');
  assert.deepEqual(r.user, { id: 'ada', name: 'Ada Lovelace' });
  const p = await observer.next((m) => m.type === 'presence' && m.user.id === 'ada');
  assert.equal(p.status, 'online');
  await c.close();
});

test('a guest token joins its room only; elsewhere it is refused and closed', async () => {
  const guest = mint({ sub: 'guest1', name: 'Guest', room: 'townhall', exp: now() + 600 });
  let { c, r } = await hello(guest);
  assert.equal(r.type, 'welcome');
  assert.equal((await c.request({ type: 'join', room: 'townhall' })).type, 'joined');
  const e = await c.request({ type: 'call', to: 'observer' });
  assert.equal(e.code, 'forbidden', 'guests do not call');
  assert.equal((await c.request({ type: 'join', room: 'board' })).code, 'forbidden');
  assert.equal(await c.closed, 1008);
  // Guests are not in the directory: nobody saw it come or go (the next
  // one to come, who is, marks how far the observer has heard).
  ({ c, r } = await hello(mint({ sub: 'x', exp: now() + 600 })));
  assert.equal(r.online.find((u) => u.id === 'guest1'), undefined);
  await observer.next((m) => m.type === 'presence' && m.user.id === 'x');
  assert.equal(observer.inbox.find((m) => m.type === 'presence' && m.user.id === 'guest1'), undefined);
  await c.close();
});

test('can_publish and can_subscribe are enforced', async () => {
  const viewer = (await hello(mint({ sub: 'viewer', can_publish: false, exp: now() + 600 }))).c;
  await viewer.request({ type: 'join', room: 'webinar' });
  const e = await viewer.request({ type: 'publish', sdp: fixture('chromium156-publish-offer.sdp'), sources: {} });
  assert.equal(e.code, 'forbidden');
  const deaf = (await hello(mint({ sub: 'deaf', can_subscribe: false, exp: now() + 600 }))).c;
  await deaf.request({ type: 'join', room: 'webinar' });
  const speaker = (await hello(mint({ sub: 'speaker', exp: now() + 600 }))).c;
  await speaker.request({ type: 'join', room: 'webinar' });
  const pa = await speaker.request({ type: 'publish', sdp: fixture('chromium156-publish-offer.sdp'), sources: {} });
  assert.equal(pa.type, 'publish-answer');
  const offer = await viewer.event('subscribe-offer');
  assert.ok(Object.keys(offer.tracks).length >= 2, 'the viewer receives');
  await deaf.event('track-published');
  // The offers went out with the publish answer: a round trip brings in
  // whatever the server sent the deaf one.
  await deaf.sync();
  assert.equal(deaf.inbox.find((m) => m.type === 'subscribe-offer'), undefined, 'no media offered');
  const track = Object.values(offer.tracks)[0].track_id;
  assert.equal((await deaf.request({ type: 'subscription', track_id: track, paused: true })).code, 'forbidden');
  for (const c of [viewer, deaf, speaker]) await c.close();
});

test('recording needs can_record: forbidden without it, the room told with it', async () => {
  const plain = (await hello(mint({ sub: 'plain', exp: now() + 600 }))).c;
  await plain.request({ type: 'join', room: 'recorded' });
  const refused = await plain.request({ type: 'record', record: true });
  assert.equal(refused.code, 'forbidden', JSON.stringify(refused));
  const chair = (await hello(mint({ sub: 'chair', can_record: true, exp: now() + 600 }))).c;
  const j = await chair.request({ type: 'join', room: 'recorded' });
  assert.equal(j.recording, false);
  assert.equal((await chair.request({ type: 'record', record: true })).type, 'ok');
  for (const c of [plain, chair]) {
    const on = await c.next((m) => m.type === 'recording');
    assert.equal(on.recording, true);
    assert.equal(on.by, j.participant.id);
  }
  assert.equal((await plain.request({ type: 'record', record: false })).code, 'forbidden');
  assert.equal((await chair.request({ type: 'record', record: false })).type, 'ok');
  assert.equal((await plain.next((m) => m.type === 'recording')).recording, false);
  for (const c of [plain, chair]) await c.close();
});

test('parley-token mints what the server accepts', async () => {
  const bin = path.join(path.dirname(path.dirname(process.env.PARLEY_BIN ||
    path.join(process.cwd(), 'build', 'release', 'signaling', 'parley'))), 'tools', 'token', 'parley-token');
  const token = execFileSync(bin, ['--secret', secret, '--sub', 'grace', '--name', 'Grace Hopper',
    '--room', 'standup', '--no-publish', '--ttl', '60'], { encoding: 'utf8' }).trim();
  const { c, r } = await hello(token);
  assert.deepEqual(r.user, { id: 'grace', name: 'Grace Hopper' });
  await c.request({ type: 'join', room: 'standup' });
  const e = await c.request({ type: 'publish', sdp: fixture('chromium156-publish-offer.sdp'), sources: {} });
  assert.equal(e.code, 'forbidden');
  await c.close();
  assert.throws(() => execFileSync(bin, ['--secret', 'short', '--sub', 'x'], { stdio: 'pipe' }));
});

test('the web client passes the token from its link and joins', async () => {
  const { launchChromium } = await import('./browser.mjs');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const token = mint({ sub: 'webguest', name: 'Web Guest', room: 'townhall', exp: now() + 600 });
    await page.goto(`http://localhost:${server.port}/r/townhall#token=${token}`);
    await page.fill('#name', 'Typed Name');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.getElementById('room-name')?.textContent === 'townhall',
      null, { timeout: 15000 });
    assert.equal(await page.evaluate(() => window.parley.user.id), 'webguest');
    // Without the token the same page is refused, in words.
    const bare = await browser.newPage();
    await bare.goto(`http://localhost:${server.port}/r/townhall`);
    await bare.fill('#name', 'No Token');
    await bare.click('button[type=submit]');
    await bare.waitForFunction(() => /token/.test(document.getElementById('status')?.textContent || ''),
      null, { timeout: 15000 });
  } finally {
    await browser.close();
  }
});
