// One-on-one calls through the web client in headless Chromium: Alice calls
// Bob with a topic, Bob's page rings with a banner, he answers, both see and
// hear each other in the call view with its timer, and after the hang-up both
// are back in the lobby. Carol, online too, watches their status dots and
// finds Bob busy. Then the other outcomes: an audio-only call, a decline, a
// cancel, no answer, do not disturb, and the missed heads-ups they leave.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, inbound, pageUntil, visible } from './browser.mjs';
import { startServer, pollStats } from './server.mjs';
import { connect, waitFor } from './client.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
const RING_TIMEOUT = 6;
const TOPIC = 'Quick question about the release';
let server, browser;
const errors = [];
const pages = {};

before(async () => {
  server = await startServer(['--ring-timeout', String(RING_TIMEOUT)]);
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

// Each person in a browser context of their own, like separate machines.
async function signIn(name, page) {
  if (!page) {
    page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  }
  await page.goto(`http://localhost:${server.port}/`);
  await page.fill('#name', name);
  await page.click('button[type=submit]');
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.textContent('#me-name'), name);
  return page;
}

const until = (page, fn, pred, what, ms = 15000, arg) => pageUntil(page, fn, pred, what, { timeout: ms, arg });

const text = (page, sel) => page.evaluate((s) => document.querySelector(s)?.textContent.trim(), sel);
const row = (name) => `#online-people li[data-name="${name}"]`;
const statusOf = (page, name) => page.evaluate((s) => document.querySelector(s)?.dataset.status || 'absent', row(name));
const untilStatus = (page, name, status, who) =>
  until(page, (s) => document.querySelector(s)?.dataset.status || 'absent', (s) => s === status,
    `${who} sees ${name} ${status}`, 10000, row(name));
const notice = (page, re, what) =>
  until(page, () => document.querySelector('#notice').hidden ? '' : document.querySelector('#notice').textContent,
    (t) => re.test(t), what, 10000 + RING_TIMEOUT * 1000);

async function call(from, to, { topic = '', audioOnly = false } = {}) {
  await from.click(`${row(to)} .call-btn`);
  if (topic) await from.fill(`${row(to)} input[name=topic]`, topic);
  if (audioOnly) await from.check(`${row(to)} input[name=audio]`);
  await from.click(`${row(to)} .call-form button[type=submit]`);
}

const kinds = (s, kind) => Object.values(s).filter((x) => x.kind === kind);
const seconds = (t) => t.split(':').reduce((a, x) => a * 60 + Number(x), 0);

test('Alice calls Bob with a topic: ring, answer, video both ways, hang up, back in the lobby', async () => {
  const alice = pages.alice = await signIn('Alice');
  const bob = pages.bob = await signIn('Bob');
  const carol = pages.carol = await signIn('Carol');
  // Presence: each lobby lists the two others as available, never oneself.
  for (const [page, me, others] of [[alice, 'Alice', ['Bob', 'Carol']], [bob, 'Bob', ['Alice', 'Carol']],
    [carol, 'Carol', ['Alice', 'Bob']]]) {
    for (const o of others) await untilStatus(page, o, 'online', me);
    assert.equal(await statusOf(page, me), 'absent');
    assert.equal(await visible(page, '#online-empty'), false);
  }

  await call(alice, 'Bob', { topic: TOPIC });
  await until(alice, () => document.querySelector('#outgoing-state').textContent, (t) => t === 'ringing',
    'Alice sees her call ringing');
  assert.ok(await visible(alice, '#outgoing'));
  assert.equal(await text(alice, '#outgoing-to'), 'Bob');
  assert.equal(await text(alice, '#outgoing-topic'), TOPIC);
  assert.equal(await alice.evaluate(() => window.parley.ring), 'ringback');
  // While one call rings, Alice cannot place another.
  assert.equal(await alice.isDisabled(`${row('Carol')} .call-btn`), true);

  await bob.waitForSelector('#incoming:not([hidden])');
  assert.equal(await text(bob, '#incoming-from'), 'Alice');
  assert.equal(await text(bob, '#incoming-topic'), TOPIC);
  assert.equal(await text(bob, '#incoming-kind'), 'Video call');
  assert.match(await text(bob, '#incoming-title'), /^Alice is calling you$/);
  assert.ok(await visible(bob, '#accept-call'));
  assert.ok(await visible(bob, '#decline-call'));
  // The ring is being played: tones scheduled on a running audio context.
  const ring = await bob.evaluate(() => ({ ring: window.parley.ring, state: window.parley.audioContext?.state }));
  assert.deepEqual(ring, { ring: 'incoming', state: 'running' });
  assert.match(await bob.title(), /Alice is calling/);
  await untilStatus(carol, 'Alice', 'ringing', 'Carol');
  await untilStatus(carol, 'Bob', 'ringing', 'Carol');
  fs.mkdirSync(outDir, { recursive: true });
  await bob.screenshot({ path: path.join(outDir, 'e2e-incoming-call.png') });

  await bob.click('#accept-call');
  assert.equal(await bob.evaluate(() => window.parley.ring), '');
  assert.equal(await visible(bob, '#incoming'), false);
  for (const [page, peer] of [[alice, 'Bob'], [bob, 'Alice']]) {
    await page.waitForSelector('#meeting.call:not([hidden])');
    assert.equal(await visible(page, '#lobby'), false);
    assert.equal(await visible(page, '#outgoing'), false);
    assert.equal(await text(page, '#room-name'), peer);
    assert.equal(await text(page, '#call-topic'), TOPIC);
    assert.ok(await visible(page, '#hangup'));
    assert.equal(await visible(page, '#leave'), false);
    assert.equal(await page.evaluate(() => window.parley.ring), '');
    assert.equal(new URL(page.url()).pathname, '/');
  }

  // Both decode the other's video and receive the other's audio, and keep
  // doing so.
  const oneEach = (s) => kinds(s, 'video').length === 1 && kinds(s, 'video')[0].frames > 30 &&
    kinds(s, 'audio').length === 1 && kinds(s, 'audio')[0].packets > 50;
  for (const [page, who] of [[alice, 'Alice'], [bob, 'Bob']]) {
    const first = await until(page, inbound, oneEach, `${who} receives the other`, 30000);
    await until(page, inbound, (s) => kinds(s, 'video')[0].frames > kinds(first, 'video')[0].frames + 30 &&
      kinds(s, 'audio')[0].packets > kinds(first, 'audio')[0].packets + 50, `${who}'s media keeps flowing`);
  }
  for (const [page, peer] of [[alice, 'Bob'], [bob, 'Alice']]) {
    const captions = await page.$$eval('#tiles figure[data-participant] figcaption', (f) => f.map((x) => x.textContent));
    assert.deepEqual(captions, [peer]);
    const playing = await page.evaluate(() => [...document.querySelectorAll('#tiles video')]
      .map((v) => v.videoWidth > 0 && !v.paused));
    assert.deepEqual(playing, [true, true], 'own preview and the other person both play');
  }
  await untilStatus(carol, 'Alice', 'in-call', 'Carol');
  await untilStatus(carol, 'Bob', 'in-call', 'Carol');

  // The timer runs, in seconds, the same on both sides.
  const t1 = await text(alice, '#call-timer');
  assert.match(t1, /^\d\d:\d\d$/);
  const since = Date.now();
  const timers = () => Promise.all([text(alice, '#call-timer'), text(bob, '#call-timer')]);
  const [t2] = await waitFor(timers, ([a]) => seconds(a) >= seconds(t1) + 2,
    `Alice's call timer to go 2 s past ${t1}`, { timeout: 10000, interval: 200 });
  assert.ok(Date.now() - since >= 1000, `${t1} then ${t2} after only ${Date.now() - since} ms`);
  await waitFor(timers, ([a, b]) => Math.abs(seconds(a) - seconds(b)) <= 1,
    'Alice\'s and Bob\'s call timers within a second of each other', { timeout: 5000, interval: 200 });

  // Bob is taken: Carol's call to him is busy, and the call goes on.
  await call(carol, 'Bob');
  await notice(carol, /Bob is busy/, 'Carol hears that Bob is busy');
  assert.equal(await visible(carol, '#outgoing'), false);
  assert.equal(await bob.evaluate(() => window.parley.incoming), null);
  assert.equal(await carol.isDisabled(`${row('Bob')} .call-btn`), false);

  await alice.screenshot({ path: path.join(outDir, 'e2e-call-view.png') });

  await alice.click('#hangup');
  for (const [page, peer] of [[alice, 'Bob'], [bob, 'Alice']]) {
    await page.waitForSelector('#lobby:not([hidden])');
    assert.equal(await visible(page, '#meeting'), false);
    await untilStatus(page, peer, 'online', peer === 'Bob' ? 'Alice' : 'Bob');
    assert.ok(await visible(page, row(peer)));
    assert.ok(await visible(page, row('Carol')));
    const left = await page.evaluate(() => ({ pub: window.parley.publish, sub: window.parley.subscribe,
      stream: window.parley.stream, room: window.parley.session.room, tiles: document.querySelectorAll('#tiles figure[data-participant]').length }));
    assert.deepEqual(left, { pub: null, sub: null, stream: null, room: '', tiles: 0 });
  }
  await notice(bob, /Alice hung up/, 'Bob hears that Alice hung up');
  await untilStatus(carol, 'Alice', 'online', 'Carol');
  await untilStatus(carol, 'Bob', 'online', 'Carol');
  // The server took both out of the private room.
  await pollStats(server, (st) => st.participants === 0, 'nobody left in the private room');
  assert.deepEqual(errors, []);
});

test('an audio-only call sends and receives the microphone only, and either side may hang up', async () => {
  const { alice, bob } = pages;
  await call(alice, 'Bob', { audioOnly: true, topic: 'Just audio' });
  await bob.waitForSelector('#incoming:not([hidden])');
  assert.equal(await text(bob, '#incoming-kind'), 'Audio call');
  await bob.click('#accept-call');
  for (const [page, who] of [[alice, 'Alice'], [bob, 'Bob']]) {
    await page.waitForSelector('#meeting.call:not([hidden])');
    assert.equal(await visible(page, '#cam'), false);
    await until(page, inbound, (s) => kinds(s, 'audio').length === 1 && kinds(s, 'audio')[0].packets > 50,
      `${who} hears the other`, 30000);
    const sent = await page.evaluate(() => window.parley.publish.getSenders().map((s) => s.track?.kind));
    assert.deepEqual(sent, ['audio']);
    assert.deepEqual(kinds(await page.evaluate(inbound), 'video'), []);
    assert.equal(await page.evaluate(() => window.parley.stream.getVideoTracks().length), 0);
  }
  await bob.click('#hangup');
  for (const page of [alice, bob]) await page.waitForSelector('#lobby:not([hidden])');
  await notice(alice, /Bob hung up/, 'Alice hears that Bob hung up');
  assert.deepEqual(errors, []);
});

test('decline, cancel, no answer and do not disturb; missed heads-ups to call back or dismiss', async () => {
  const { alice, bob, carol } = pages;
  // Bob declines.
  await call(alice, 'Bob');
  await bob.waitForSelector('#incoming:not([hidden])');
  assert.equal(await visible(bob, '#incoming-topic'), false);
  await bob.click('#decline-call');
  await notice(alice, /Bob declined/, 'Alice hears that Bob declined');
  assert.equal(await visible(alice, '#outgoing'), false);
  assert.equal(await visible(bob, '#incoming'), false);
  assert.equal(await bob.evaluate(() => window.parley.ring), '');

  // Alice gives up before Bob answers.
  await call(alice, 'Bob', { topic: 'Never mind' });
  await bob.waitForSelector('#incoming:not([hidden])');
  await alice.click('#cancel-call');
  await bob.waitForSelector('#incoming', { state: 'hidden' });
  assert.equal(await bob.evaluate(() => window.parley.ring), '');
  assert.equal(await alice.evaluate(() => window.parley.ring), '');

  // Nobody answers: both hear it, and Bob keeps a heads-up with the topic.
  await call(alice, 'Bob', { topic: 'Lunch?' });
  await bob.waitForSelector('#incoming:not([hidden])');
  await notice(alice, /Bob did not answer/, 'Alice hears that Bob did not answer');
  await bob.waitForSelector('#incoming', { state: 'hidden' });
  assert.equal(await bob.evaluate(() => window.parley.ring), '');
  const heldFor = (topic) => bob.locator('#missed-list li', { has: bob.locator('.topic', { hasText: topic }) });
  const lunch = heldFor('Lunch?');
  await lunch.waitFor();
  assert.match(await lunch.textContent(), /^Alice called, no answer/);

  // Bob does not want to be disturbed: Carol's call does not ring him and
  // becomes a heads-up he receives when he is available again.
  await bob.click('label.switch');
  // The note shows once the server has confirmed the status, not at the click.
  await until(bob, () => ({ checked: document.querySelector('#dnd').checked,
    note: !document.querySelector('#dnd-note').closest('[hidden]') }), (s) => s.checked && s.note,
  'Bob sees his do-not-disturb switch on and its note', 10000);
  await untilStatus(carol, 'Bob', 'dnd', 'Carol');
  await untilStatus(alice, 'Bob', 'dnd', 'Alice');
  // Bob's page notes whether it ever shows a ringing banner, and whether a
  // heads-up arrives while do not disturb is still on; both are checked
  // once the heads-up, which the server sends after it all, has arrived.
  await bob.evaluate(() => {
    const seen = window.dndWatch = { rang: false, heldEarly: false };
    new MutationObserver(() => {
      if (!document.querySelector('#incoming').closest('[hidden]')) seen.rang = true;
      if (document.querySelectorAll('#missed-list li').length > 1 && document.querySelector('#dnd').checked)
        seen.heldEarly = true;
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await call(carol, 'Bob', { topic: 'Heads-up: deploy at 3' });
  await notice(carol, /does not want to be disturbed/, 'Carol hears that Bob is not to be disturbed');
  await bob.click('label.switch');
  await untilStatus(carol, 'Bob', 'online', 'Carol');
  const deploy = heldFor('Heads-up: deploy at 3');
  await deploy.waitFor();
  assert.deepEqual(await bob.evaluate(() => window.dndWatch), { rang: false, heldEarly: false },
    'no ring on do not disturb, and the heads-up only once it is off');
  assert.match(await deploy.textContent(), /^Carol called while you were on do not disturb/);
  assert.equal(await text(bob, '#missed-title'), 'Missed heads-ups (2)');
  assert.deepEqual(await bob.$$eval('#missed-list li strong', (s) => s.map((x) => x.textContent)), ['Carol', 'Alice']);

  // Dismissed is gone for good: signing in again brings back only the other.
  await lunch.locator('.dismiss').click();
  await lunch.waitFor({ state: 'detached' });
  // The acknowledgement has reached the server once a new device of Bob's
  // is welcomed without that heads-up.
  await waitFor(async () => {
    const probe = await connect(server, 'Bob');
    await probe.close();
    return probe.welcomeMsg.missed.map((m) => m.topic);
  }, (topics) => !topics.includes('Lunch?'), 'the server to forget the dismissed heads-up',
  { timeout: 10000, interval: 100 });
  await signIn('Bob', bob);
  await deploy.waitFor();
  assert.equal(await bob.locator('#missed-list li').count(), 1);
  await untilStatus(carol, 'Bob', 'online', 'Carol');

  // Call back: Carol's page rings with the topic in reply; the heads-up goes.
  await deploy.locator('.call-back').click();
  await carol.waitForSelector('#incoming:not([hidden])');
  assert.equal(await text(carol, '#incoming-from'), 'Bob');
  assert.equal(await text(carol, '#incoming-topic'), 'Re: Heads-up: deploy at 3');
  await deploy.waitFor({ state: 'detached' });
  assert.ok(await visible(bob, '#missed-empty'));
  await carol.click('#decline-call');
  await notice(bob, /Carol declined/, 'Bob hears that Carol declined');
  // Nothing left over the server's store either.
  await signIn('Bob', bob);
  assert.equal(await bob.locator('#missed-list li').count(), 0);
  assert.deepEqual(errors, []);
});
