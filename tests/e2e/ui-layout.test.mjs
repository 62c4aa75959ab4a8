// The meeting layout of the web client in headless Chromium, measured from
// the DOM: at 1280x720 with 2, 3, 6 and 12 participants and at 390x844 (a
// phone held upright) with 3, the tiles (one's own included) cover at least
// 60% of the window, none overlaps another, none is cut off or outside the
// window, all are 16:9, and the controls are in the window. The other
// participants are a second page (Bob, whose fake microphone beeps) and
// parley-bots (VP8 video, an Opus tone). On Bob's tile Ada sees the ring
// while he speaks, the muted-microphone mark within a second of his click
// (the time from the click to the mark is printed and asserted), his
// initials once his camera is off, a pinned tile and his screen share on
// stage, and in speaker view one who speaks on stage.
// Screenshots go to build/e2e-layout-<n>.png and build/e2e-layout-3-narrow.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, pageUntil } from './browser.mjs';
import { startServer } from './server.mjs';
import { runBots, fastBotBin } from './bots.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
const ROOM = 'ui-layout';
const DESKTOP = { width: 1280, height: 720 };
const PHONE = { width: 390, height: 844 };
const MUTE_MS = 1000; // a click on mute to the mark on the other page
let server, browser, ada, bob;
const errors = [];
const bots = [];

before(async () => {
  server = await startServer();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required',
    '--auto-select-desktop-capture-source=Entire screen']);
  fs.mkdirSync(outDir, { recursive: true });
});
after(async () => {
  for (const b of bots) b.kill();
  for (const b of bots) await b.done.catch(() => {});
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
  assert.deepEqual(errors, [], 'no page errors');
});

async function join(name, viewport) {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  await page.goto(`http://localhost:${server.port}/r/${ROOM}`);
  await page.fill('#name', name);
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  return page;
}

// `n` more bots in the room, named bot-<first>..., sending 320x240 VP8 and a
// tone, decoding nothing (the browser's CPU is what is measured here).
function addBots(first, n) {
  const b = runBots(server, ['--room', ROOM, '--per-room', String(n), '--first-index', String(first),
    '--decode', '0', '--seconds', '120'], fastBotBin);
  bots.push(b);
  return b;
}

// Runs in the page: every tile's box in the window and what is wrong with
// the layout.
const measure = () => {
  const vw = innerWidth, vh = innerHeight;
  const tiles = [...document.querySelectorAll('#tiles > figure.tile')]
    .filter((f) => !f.closest('[hidden]') && f.getClientRects().length)
    .map((f) => {
      const r = f.getBoundingClientRect();
      return { id: f.dataset.participantId || f.id, x: r.x, y: r.y, w: r.width, h: r.height,
        video: !!f.querySelector('video')?.videoWidth };
    });
  const problems = [];
  for (const [i, a] of tiles.entries()) {
    if (a.x < -0.5 || a.y < -0.5 || a.x + a.w > vw + 0.5 || a.y + a.h > vh + 0.5)
      problems.push(`${a.id} outside the window: ${Math.round(a.x)},${Math.round(a.y)} ${Math.round(a.w)}x${Math.round(a.h)}`);
    if (Math.abs(a.w / a.h - 16 / 9) > 0.03) problems.push(`${a.id} not 16:9: ${a.w}x${a.h}`);
    for (const b of tiles.slice(i + 1)) {
      const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
      const oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      if (ox > 0.5 && oy > 0.5) problems.push(`${a.id} overlaps ${b.id}`);
    }
  }
  // The controls are reachable: each in the window.
  for (const b of document.querySelectorAll('#meeting .controls button')) {
    if (b.hidden || !b.getClientRects().length) continue;
    const r = b.getBoundingClientRect();
    if (r.x < 0 || r.y < 0 || r.right > vw + 0.5 || r.bottom > vh + 0.5) problems.push(`button ${b.id} outside the window`);
  }
  if (document.documentElement.scrollWidth > vw) problems.push(`the page is ${document.documentElement.scrollWidth} px wide`);
  const area = tiles.reduce((s, t) => s + t.w * t.h, 0);
  return { n: tiles.length, coverage: area / (vw * vh), problems, tiles,
    layout: document.getElementById('tiles').dataset.layout || '',
    sizes: tiles.map((t) => `${Math.round(t.w)}x${Math.round(t.h)}`) };
};

// Waits for n tiles whose layout holds still (two readings alike), then
// asserts on it and saves a screenshot.
async function checkLayout(page, n, shot, what) {
  let prev = '';
  const m = await pageUntil(page, measure, (x) => {
    const key = JSON.stringify(x.tiles);
    const still = x.n === n && key === prev;
    prev = key;
    return still;
  }, `${what}: ${n} tiles laid out`, { timeout: 20000, interval: 300 });
  await page.screenshot({ path: path.join(outDir, shot) });
  console.log(`# ${what}: ${n} tiles cover ${(m.coverage * 100).toFixed(1)}% of the window ` +
    `(${m.layout}: ${m.sizes.join(', ')})`);
  assert.deepEqual(m.problems, [], `${what}: no overlap, nothing outside the window`);
  assert.ok(m.coverage >= 0.6, `${what}: the tiles cover ${(m.coverage * 100).toFixed(1)}% (at least 60%)`);
  return m;
}

const tileOf = (id) => `#tiles figure[data-participant-id="${id}"]`;

test('two people: the other large, oneself small beside; speaking, mute, camera off and pin on the tile', async () => {
  ada = await join('Ada Lovelace', DESKTOP);
  bob = await join('Bob', { width: 480, height: 270 });
  const bobId = await bob.evaluate(() => window.parley.session.participant);
  const adaId = await ada.evaluate(() => window.parley.session.participant);
  const m = await checkLayout(ada, 2, 'e2e-layout-2.png', '1280x720, two people');
  const other = m.tiles.find((t) => t.id === bobId);
  const self = m.tiles.find((t) => t.id === adaId);
  assert.ok(other && self, `Bob's tile and Ada's own: ${JSON.stringify(m.tiles)}`);
  assert.ok(other.w > self.w * 2, `Bob's tile large (${other.w}), Ada's own small (${self.w})`);

  // Bob's fake microphone beeps: his tile on Ada's page gets the ring.
  await ada.evaluate((sel) => {
    window.ringSeen = 0;
    const fig = document.querySelector(sel);
    const look = () => { if (!window.ringSeen && fig.classList.contains('speaking')) window.ringSeen = Date.now(); };
    new MutationObserver(look).observe(fig, { attributes: true });
    look();
  }, tileOf(bobId));
  await pageUntil(ada, () => window.ringSeen, (t) => t > 0, 'the ring on Bob\'s tile while he speaks',
    { timeout: 15000, interval: 100 });
  const ring = await ada.evaluate((sel) => getComputedStyle(document.querySelector(sel), '::after').borderTopColor,
    `${tileOf(bobId)}.speaking`).catch(() => '');
  console.log(`# Bob speaking: ring on his tile (${ring || 'gone again before it was read'})`);

  // Bob mutes: the mark on his tile on Ada's page, timed from the click.
  const mark = `${tileOf(bobId)} [aria-label="microphone muted"]`;
  assert.equal(await ada.evaluate((sel) => document.querySelector(sel)?.hidden, mark), true, 'no mark before');
  await ada.evaluate((sel) => {
    window.markSeen = 0;
    const el = document.querySelector(sel);
    new MutationObserver(() => { if (!el.hidden && !window.markSeen) window.markSeen = Date.now(); })
      .observe(el, { attributes: true });
  }, mark);
  const t0 = Date.now();
  await bob.click('#mic');
  const seenAt = await pageUntil(ada, () => window.markSeen, (t) => t > 0, 'the muted mark on Bob\'s tile',
    { timeout: 5000, interval: 20 });
  const ms = seenAt - t0;
  console.log(`# Bob mutes: the mark on Ada's page ${ms} ms after the click`);
  assert.ok(ms < MUTE_MS, `the mark within ${MUTE_MS} ms (${ms} ms)`);
  assert.ok(await ada.evaluate((sel) => document.querySelector(sel).getClientRects().length > 0, mark), 'the mark is shown');
  // Muted, he no longer rings.
  await pageUntil(ada, (sel) => document.querySelector(sel).dataset.speaking, (s) => s === 'false',
    'no ring while muted', { arg: tileOf(bobId) });

  // Bob's camera off: his tile shows his initial, not a black picture.
  assert.equal(await ada.getAttribute(tileOf(bobId), 'data-camera-off'), 'false');
  await bob.click('#cam');
  await pageUntil(ada, (sel) => {
    const f = document.querySelector(sel);
    return { off: f.dataset.cameraOff, initial: getComputedStyle(f, '::before').content,
      video: getComputedStyle(f.querySelector('video')).visibility };
  }, (s) => s.off === 'true' && s.initial === '"B"' && s.video === 'hidden', 'Bob\'s initial instead of his picture',
  { arg: tileOf(bobId) });
  // Ada's page asks the relay for none of his black frames meanwhile, and
  // for his picture again once he unmutes, which she then decodes.
  const bobVideo = (sel) => {
    const f = document.querySelector(sel);
    const id = (f.dataset.tracks || '').split(' ').find((t) => window.parley.subscriptions.has(t));
    const track = f.querySelector('video').srcObject?.getVideoTracks()[0];
    return { asked: window.parley.subscriptions.get(id) || null, track: track?.id };
  };
  await pageUntil(ada, bobVideo, (s) => s.asked?.paused === true, 'Bob\'s muted camera paused for Ada',
    { arg: tileOf(bobId) });
  const framesOf = async (trackId) => {
    const t = window.parley.subscribe.getReceivers().find((r) => r.track.id === trackId);
    const s = [...(await t.getStats()).values()].find((x) => x.type === 'inbound-rtp');
    return s?.framesDecoded || 0;
  };
  const { track: bobTrack } = await ada.evaluate(bobVideo, tileOf(bobId));
  await bob.click('#cam');
  await pageUntil(ada, (sel) => document.querySelector(sel).dataset.cameraOff, (s) => s === 'false',
    'Bob\'s picture back', { arg: tileOf(bobId) });
  await pageUntil(ada, bobVideo, (s) => s.asked?.paused === false, 'Bob\'s camera resumed for Ada',
    { arg: tileOf(bobId) });
  const resumedAt = await ada.evaluate(framesOf, bobTrack);
  await pageUntil(ada, framesOf, (n) => n > resumedAt + 10, 'Ada decoding Bob\'s picture again',
    { arg: bobTrack, timeout: 10000 });
  // Ada's own tile: two initials would show, the connection mark is there.
  assert.equal(await ada.getAttribute('#me', 'data-initial'), 'AL');
  await ada.waitForSelector('#me .quality', { state: 'attached', timeout: 10000 });

  // Ada pins her own tile from the keyboard: it goes on stage, Bob's in the
  // strip; Enter again and the gallery is back.
  await ada.focus('#me .pin');
  await ada.keyboard.press('Enter');
  const pinned = await pageUntil(ada, measure, (x) => x.layout === 'stage', 'Ada\'s own tile on stage');
  const [meT, bobT] = [adaId, bobId].map((id) => pinned.tiles.find((t) => t.id === id));
  assert.ok(meT.w > bobT.w * 2, `the pinned tile is the large one (${meT.w} against ${bobT.w})`);
  assert.equal(await ada.getAttribute('#me .pin', 'aria-pressed'), 'true');
  await ada.keyboard.press('Enter');
  await pageUntil(ada, measure, (x) => x.layout === 'gallery', 'the gallery back');

  // Bob shares his screen: on Ada's page it goes on stage, the cameras
  // beside it; when he stops, the gallery is back.
  await bob.click('#screen');
  const shared = await pageUntil(ada, () => ({ stage: document.querySelector('#tiles > [data-stage]')?.dataset.screen || '',
    layout: document.getElementById('tiles').dataset.layout }), (x) => x.stage === 'true', 'Bob\'s screen on stage',
  { timeout: 15000 });
  assert.equal(shared.layout, 'stage');
  const withScreen = await checkLayout(ada, 3, 'e2e-layout-screen.png', '1280x720, two people and a screen share');
  assert.ok(Math.max(...withScreen.tiles.map((t) => t.w)) > 2 * Math.min(...withScreen.tiles.map((t) => t.w)),
    'the screen large, the cameras small');
  await bob.click('#screen');
  await pageUntil(ada, measure, (x) => x.layout === 'gallery' && x.n === 2, 'the gallery back after the share');
});

test('three people at 1280x720 and on a phone held upright', async () => {
  addBots(0, 1);
  await checkLayout(ada, 3, 'e2e-layout-3.png', '1280x720, three people');
  // Speaker view: one who speaks (the bot's tone) on stage, the others in
  // the strip.
  await ada.click('#view-mode');
  const onStage = await pageUntil(ada, () => {
    const f = document.querySelector('#tiles > [data-stage]');
    return f && { id: f.dataset.participantId, spoke: window.parley.speakersSeen.has(f.dataset.participantId) };
  }, (x) => x?.spoke, 'a speaker on stage in speaker view');
  await checkLayout(ada, 3, 'e2e-layout-speaker.png', '1280x720, three people, speaker view');
  assert.ok(onStage.id, 'the stage tile is a participant\'s');
  await ada.click('#view-mode');
  await pageUntil(ada, measure, (x) => x.layout === 'gallery', 'the gallery back');
  await ada.setViewportSize(PHONE);
  await checkLayout(ada, 3, 'e2e-layout-3-narrow.png', '390x844, three people');
  await ada.setViewportSize(DESKTOP);
  // Bob leaves: the bots are the others from here on.
  await bob.click('#leave');
  await bob.close();
  await checkLayout(ada, 2, 'e2e-layout-2-bot.png', '1280x720, two people again');
});

test('six and twelve people at 1280x720', async () => {
  addBots(1, 4);
  await checkLayout(ada, 6, 'e2e-layout-6.png', '1280x720, six people');
  addBots(5, 6);
  const m = await checkLayout(ada, 12, 'e2e-layout-12.png', '1280x720, twelve people');
  // The bots' pictures play in their tiles.
  await pageUntil(ada, measure, (x) => x.tiles.filter((t) => t.video).length >= 11, 'the bots\' video in their tiles',
    { timeout: 20000, interval: 500 });
  assert.equal(m.layout, 'gallery');
});
