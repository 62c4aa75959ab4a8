// The web client's pre-join screen and in-meeting controls in Chromium
// with fake devices (three cameras): the preview moves, the level meter
// moves, the pickers list the devices; joining with the camera off shows
// the others a camera-off participant; a device switched during the call
// keeps the peer connection (no new offer) while the others keep decoding;
// raised hands, the people panel, chat's unread count and the shortcuts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, pageUntil, videoFrames } from './browser.mjs';
import { startServer } from './server.mjs';
import { chromium } from 'playwright-core';

let server, browser;
const errors = [];
const pages = {};

before(async () => {
  server = await startServer();
  browser = await launchChromium(['--use-fake-device-for-media-stream=device-count=3']);
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
  assert.deepEqual(errors, [], 'no uncaught errors in the pages');
});

// A page on a meeting link, its signaling messages counted by type.
async function open(name, room) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  page.sent = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    try { page.sent.push(JSON.parse(f.payload).type); } catch { /* not JSON */ }
  }));
  await page.goto(`http://localhost:${server.port}/r/${room}`);
  await page.fill('#name', name);
  return page;
}

async function join(page) {
  await page.click('#start-submit');
  await page.waitForSelector('#meeting:not([hidden])');
  await pageUntil(page, () => window.parley.publish?.connectionState, (s) => s === 'connected',
    'the publish connection up', { timeout: 20000 });
  return page.evaluate(() => window.parley.session.participant);
}

// Two snapshots of the preview 400 ms apart differ: the picture moves.
const previewMoves = (page) => page.evaluate(async () => {
  const v = document.getElementById('prejoin-video');
  const c = document.createElement('canvas');
  c.width = 160;
  c.height = 90;
  const g = c.getContext('2d', { willReadFrequently: true });
  const snap = () => { g.drawImage(v, 0, 0, c.width, c.height); return g.getImageData(0, 0, c.width, c.height).data; };
  const a = snap();
  await new Promise((r) => setTimeout(r, 400));
  const b = snap();
  let changed = 0;
  for (let i = 0; i < a.length; i += 4) if (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) > 30) changed++;
  return { width: v.videoWidth, changed };
});

test('the pre-join screen previews a moving camera and a moving microphone level, with the devices listed', async () => {
  const page = pages.ada = await open('Ada', 'prejoin');
  assert.equal(await page.isVisible('#prejoin-video'), true);
  const moved = await waitMoving(page);
  assert.ok(moved.width > 0 && moved.changed > 50, `the preview's frames change (${JSON.stringify(moved)})`);
  // The level meter over 3 s: the fake microphone beeps, so it rises and falls.
  const levels = new Set();
  for (let i = 0; i < 30; i++) {
    levels.add(Math.round((await page.evaluate(() => document.getElementById('mic-level').value)) * 100));
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(levels.size >= 3 && Math.max(...levels) >= 10, `the level meter moves (${[...levels].join(', ')})`);
  // The pickers hold their options without being opened.
  const options = await page.evaluate(() => Object.fromEntries(['pick-camera', 'pick-mic', 'pick-speaker'].map((id) =>
    [id, [...document.getElementById(id).options].map((o) => o.textContent)])));
  assert.equal(options['pick-camera'].length, 3, JSON.stringify(options));
  assert.ok(options['pick-mic'].length >= 1 && options['pick-mic'].every((l) => l && !l.startsWith('No ')), JSON.stringify(options));
  assert.ok(options['pick-speaker'].length >= 1, JSON.stringify(options));
  assert.equal(await page.getAttribute('label:has(#pick-camera)', 'for'), null); // labelled by nesting
});

async function waitMoving(page) {
  let last;
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    last = await previewMoves(page);
    if (last.width > 0 && last.changed > 50) return last;
  }
  return last;
}

// A participant's camera-off state as another page has it: the roster
// (the server's track-muted or the joined snapshot) and the tile.
// Runs in the page.
const cameraOff = (id) => {
  const p = window.parley.roster.get(id);
  const cam = [...(p?.tracks.values() || [])].find((t) => t.kind === 'video' && t.source === 'camera');
  const tile = document.querySelector(`#tiles figure[data-participant="${id}"]:not([data-screen])`);
  return { published: !!cam, muted: cam?.muted, tile: tile?.dataset.cameraOff };
};

test('joining with the camera off shows the others a camera-off tile, and turning it on shows the picture', async () => {
  const bob = pages.bob = await open('Bob', 'prejoin');
  await join(bob);
  const ada = pages.ada;
  await ada.click('#prejoin-cam');
  assert.equal(await ada.getAttribute('#prejoin-cam', 'aria-pressed'), 'true');
  assert.equal(await ada.isVisible('#prejoin-camera-off'), true);
  const adaId = await join(ada);
  assert.equal(await ada.getAttribute('#cam', 'aria-pressed'), 'true', 'the meeting\'s camera button says off');
  // Bob learns it from track-muted after the track was published.
  await pageUntil(bob, cameraOff, (s) => s.published && s.muted === true && s.tile === 'true',
    'Ada\'s camera published muted, her tile camera-off, on Bob\'s page', { arg: adaId });
  // Cleo comes later: the joined snapshot says it.
  const cleo = await open('Cleo', 'prejoin');
  await join(cleo);
  await pageUntil(cleo, cameraOff, (s) => s.published && s.muted === true && s.tile === 'true',
    'Ada\'s camera muted, her tile camera-off, on Cleo\'s page', { arg: adaId });
  await cleo.click('#leave');
  await cleo.close();
  // The camera on again: Bob sees it.
  await ada.click('#cam');
  await pageUntil(bob, cameraOff, (s) => s.muted === false && s.tile === 'false',
    'Ada\'s camera unmuted on Bob\'s page', { arg: adaId });
  pages.adaId = adaId;
});

test('a camera and a microphone switched mid-call keep the peer connection, and the others keep decoding', async () => {
  const { ada, bob } = pages;
  await pageUntil(bob, videoFrames, (n) => n > 30, 'Bob decoding Ada\'s video');
  await ada.evaluate(() => { window.parley.publish.keep = 'the same connection'; });
  const offers = ada.sent.filter((t) => t === 'publish').length;
  await ada.click('#devices-toggle');
  const before = await ada.evaluate(() => ({
    camera: window.parley.publish.getSenders().find((s) => s.track?.kind === 'video').track.getSettings().deviceId,
    cameras: [...document.getElementById('pick-camera').options].map((o) => o.value) }));
  // Chromium's second fake camera is a 16-bit depth (Y16) one that gives
  // the encoder no frames; the third is an ordinary (MJPEG) camera.
  const other = before.cameras[2];
  assert.notEqual(other, before.camera);
  assert.ok(other, `a second camera to switch to (${JSON.stringify(before)})`);
  await ada.selectOption('#pick-camera', other);
  await pageUntil(ada, () => window.parley.publish.getSenders().find((s) => s.track?.kind === 'video').track.getSettings().deviceId,
    (id) => id === other, 'Ada\'s camera sender on the other camera');
  const framesAt = await bob.evaluate(videoFrames);
  await pageUntil(bob, videoFrames, (n) => n > framesAt + 30, 'Bob still decoding Ada\'s video after the switch');
  // The microphone too.
  const mics = await ada.evaluate(() => [...document.getElementById('pick-mic').options].map((o) => o.value));
  const mic = await ada.evaluate(() => window.parley.stream.getAudioTracks()[0].getSettings().deviceId);
  const otherMic = mics.find((id) => id !== mic);
  await ada.selectOption('#pick-mic', otherMic);
  await pageUntil(ada, () => window.parley.publish.getSenders().find((s) => s.track?.kind === 'audio').track.getSettings().deviceId,
    (id) => id === otherMic, 'Ada\'s microphone sender on the other microphone');
  const after = await ada.evaluate(() => ({ keep: window.parley.publish.keep, state: window.parley.publish.connectionState,
    switches: window.parley.deviceSwitches }));
  assert.deepEqual(after, { keep: 'the same connection', state: 'connected', switches: 2 });
  assert.equal(ada.sent.filter((t) => t === 'publish').length, offers, 'no new publish offer');
  const framesNow = await bob.evaluate(videoFrames);
  await pageUntil(bob, videoFrames, (n) => n > framesNow + 30, 'Bob decoding on');
  // The preview on the tile and the meter follow the new devices.
  await pageUntil(ada, () => document.getElementById('mic-level').value, (v) => v > 0.05, 'the level meter on the new microphone');
});

test('raised hands, the people panel, chat with its unread count, toasts and shortcuts', async () => {
  const { ada, bob, adaId } = pages;
  // H raises Ada's hand (focus not in a text field): Bob gets a toast and sees it in the panel.
  await ada.locator('body').press('h');
  await pageUntil(ada, () => document.getElementById('hand').getAttribute('aria-pressed'), (v) => v === 'true', 'Ada\'s hand button pressed');
  await pageUntil(bob, () => document.getElementById('toasts').textContent, (t) => t.includes('Ada raised a hand'), 'the toast on Bob\'s page');
  await bob.click('#people-toggle');
  await pageUntil(bob, (id) => document.querySelector(`#people li[data-participant="${id}"]`)?.dataset.hand,
    (h) => h === 'true', 'Ada\'s hand in Bob\'s people panel', { arg: adaId });
  assert.equal(await bob.textContent('#people-count'), '2');
  // Escape closes the panel, the focus back on its button.
  await bob.keyboard.press('Escape');
  assert.equal(await bob.isVisible('#people-panel'), false);
  assert.equal(await bob.evaluate(() => document.activeElement.id), 'people-toggle');
  // Ctrl+D mutes Ada's microphone: her entry says so on Bob's page.
  await ada.keyboard.press('Control+d');
  await pageUntil(bob, (id) => document.querySelector(`#people li[data-participant="${id}"]`)?.dataset.micOff,
    (v) => v === 'true', 'Ada\'s microphone off in Bob\'s people panel', { arg: adaId });
  assert.equal(await ada.getAttribute('#mic', 'aria-pressed'), 'true');
  assert.match(await ada.getAttribute('#mic', 'title'), /Ctrl\+D/);
  // Chat while Bob's chat is closed counts as unread; opening it clears the count.
  await ada.click('#chat-toggle');
  await ada.fill('#chat-text', 'one');
  await ada.press('#chat-text', 'Enter');
  await ada.fill('#chat-text', 'two');
  await ada.press('#chat-text', 'Enter');
  await pageUntil(bob, () => document.getElementById('chat-unread').textContent, (t) => t === '2', 'two unread on Bob\'s page');
  // M typed in the chat field is text, not a shortcut.
  await ada.press('#chat-text', 'm');
  assert.equal(await ada.getAttribute('#mic', 'aria-pressed'), 'true');
  await bob.click('#chat-toggle');
  assert.equal(await bob.isVisible('#chat-unread'), false);
  assert.match(await bob.textContent('#messages'), /Ada: one.*Ada: two/s);
  // The invite link.
  await ada.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await ada.click('#invite');
  await pageUntil(ada, () => document.getElementById('toasts').textContent, (t) => t.includes('Invite link copied'), 'the copy confirmation');
  assert.equal(await ada.evaluate(() => navigator.clipboard.readText()), `http://localhost:${server.port}/r/prejoin`);
  // Ada leaves: Bob is told.
  await ada.click('#leave');
  await pageUntil(bob, () => document.getElementById('toasts').textContent, (t) => t.includes('Ada left'), 'the leave toast');
  await pageUntil(bob, () => document.getElementById('people').children.length, (n) => n === 1, 'Bob alone in his panel');
});

// Without Chromium's fake permission UI a prompt is refused; the page is
// granted the microphone only, so the camera is denied.
test('a denied camera is said plainly, and the meeting goes on with the microphone', async () => {
  const denied = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection'] });
  try {
    const context = await denied.newContext({ permissions: ['microphone'] });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`Dan: ${e.message}`));
    await page.goto(`http://localhost:${server.port}/r/prejoin-denied`);
    await page.waitForSelector('#device-message:not([hidden])');
    assert.match(await page.textContent('#device-message'), /Access to your camera was denied: you join without it/);
    assert.equal(await page.textContent('#prejoin-cam'), 'No camera');
    assert.equal(await page.isDisabled('#prejoin-cam'), true);
    await page.fill('#name', 'Dan');
    const dan = await join(page);
    const eve = await open('Eve', 'prejoin-denied');
    await join(eve);
    const tracks = await pageUntil(eve, (id) => [...(window.parley.roster.get(id)?.tracks.values() || [])].map((t) => t.kind),
      (k) => k.includes('audio'), 'Dan\'s microphone published', { arg: dan });
    assert.deepEqual(tracks, ['audio'], 'Dan publishes no camera');
    await pageUntil(eve, cameraOff, (s) => s.tile === 'true', 'Dan\'s tile camera-off', { arg: dan });
    await eve.close();
  } finally {
    await denied.close();
  }
});
