// Simulcast through the web client in headless Chromium: Ada publishes her
// camera (Chrome's fake camera at 1280x720) in three layers; Bob watches in
// a 1600x900 window, where her tile is large, and decodes her full-size
// layer; Cleo watches in a 640x360 window, where it is small, and decodes
// her quarter-size layer from the same publisher at the same time. Then
// Cleo's window grows and shrinks: each time her tile's new size reaches
// the relay, which switches her to the layer that fits within 2 s, without
// a freeze and with decoding going on (the half-size layer, which nobody
// needed before, is switched back on at the publisher for it: dynacast).
// The publisher's layers are measured again after 20 s: the two that Bob
// and Cleo watch are sent, the one nobody watches is not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, pageUntil } from './browser.mjs';
import { startServer } from './server.mjs';
import { waitFor } from './client.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
const SWITCH_MS = 2000; // a tile's new size to the new layer decoded
const LARGE = { width: 1600, height: 900 };
const MEDIUM = { width: 1000, height: 700 };
const SMALL = { width: 640, height: 360 };
let server, browser;
const errors = [];
const pages = {};
let adaId = '';

before(async () => {
  server = await startServer();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
  assert.deepEqual(errors, [], 'no page errors');
});

// Each participant in a browser context of its own, with its window size.
async function join(name, viewport) {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  await page.goto(`http://localhost:${server.port}/r/simulcast`);
  await page.fill('#name', name);
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  return page;
}

// Runs in the publisher's page: per rid of its camera, what it sends.
const outboundByRid = async () => {
  const pc = window.parley.publish;
  if (!pc) return {};
  const out = {};
  for (const s of (await pc.getStats()).values()) {
    if (s.type !== 'outbound-rtp' || s.kind !== 'video' || !s.rid) continue;
    out[s.rid] = { at: s.timestamp, bytes: s.bytesSent || 0, rtxBytes: s.retransmittedBytesSent || 0,
      target: Math.round((s.targetBitrate || 0) / 1000), width: s.frameWidth || 0, height: s.frameHeight || 0,
      fps: s.framesPerSecond || 0, limit: s.qualityLimitationReason, frames: s.framesEncoded || 0,
      cpuMs: Math.round((s.qualityLimitationDurations?.cpu || 0) * 1000), active: s.active !== false };
  }
  return out;
};

// Runs in a subscriber's page: what it decodes of one participant's camera
// (the video in that participant's tile, by its transceiver's mid).
const inboundOf = async (pid) => {
  const pc = window.parley.subscribe;
  const video = document.querySelector(`#tiles figure[data-participant="${pid}"]:not([data-screen]) video`);
  const track = video?.srcObject?.getVideoTracks()[0];
  const t = pc?.getTransceivers().find((x) => x.receiver.track === track);
  if (!t) return null;
  const s = [...(await pc.getStats()).values()].find((x) => x.type === 'inbound-rtp' && x.mid === t.mid);
  if (!s) return null;
  const fig = video.closest('figure');
  const rect = fig.getBoundingClientRect();
  const asked = fig.dataset.tracks.split(' ').find((id) => window.parley.subscriptions.has(id));
  return { at: performance.now(), width: s.frameWidth || 0, height: s.frameHeight || 0, frames: s.framesDecoded || 0,
    fps: s.framesPerSecond || 0, dropped: s.framesDropped || 0, freezes: s.freezeCount || 0,
    freezeS: s.totalFreezesDuration || 0, keyframes: s.keyFramesDecoded || 0, plis: s.pliCount || 0,
    bytes: s.bytesReceived || 0, tile: `${Math.round(rect.width)}x${Math.round(rect.height)}`,
    asked: window.parley.subscriptions.get(asked) || null };
};

// Runs in a subscriber's page: the longest time between two frames of one
// participant's camera shown on screen (requestVideoFrameCallback) since the
// last call, which starts the next interval. Chrome's freezeCount counts a
// gap only past a threshold of its own (three frame times or 150 ms over
// one), so two viewers with stalls a few ms apart can differ by a whole
// freeze: the gaps themselves compare what each one saw.
const longestGap = (pid) => {
  const video = document.querySelector(`#tiles figure[data-participant="${pid}"]:not([data-screen]) video`);
  let w = window.parleyGaps;
  if (!w || w.video !== video) {
    w = window.parleyGaps = { video, last: 0, longest: 0 };
    const step = (now) => {
      if (w.last) w.longest = Math.max(w.longest, now - w.last);
      w.last = now;
      if (window.parleyGaps === w) video.requestVideoFrameCallback(step);
    };
    video.requestVideoFrameCallback(step);
  }
  const longest = w.longest;
  w.longest = 0;
  return Math.round(longest);
};

const size = (s) => `${s.width}x${s.height}`;
const kbps = (a, b, key = 'bytes') => Math.round(((b[key] - a[key]) * 8) / (b.at - a.at));
// The publisher's layers, one line per rid, with bitrates between two
// readings (bytesSent, of which retransmissions: Chrome also probes the
// network with retransmitted copies).
const layersLine = (a, b) => ['q', 'h', 'f'].filter((r) => b[r]).map((r) =>
  `${r} ${size(b[r])} ${b[r].fps} fps ${a?.[r] ? kbps(a[r], b[r]) : '?'} kbit/s ` +
  `(${a?.[r] ? kbps(a[r], b[r], 'rtxBytes') : '?'} retransmitted; encoder target ${b[r].target}) ` +
  `limit ${b[r].limit}` +
  (b[r].cpuMs ? ` (cpu-limited ${b[r].cpuMs} ms so far)` : '')).join('; ');
const inboundLine = (s) => `${size(s)} at ${s.fps} fps, tile ${s.tile}, ${s.frames} frames decoded, ` +
  `${s.dropped} dropped, ${s.freezes} freezes (${s.freezeS.toFixed(3)} s), ${s.keyframes} keyframes`;

// What the camera gives, per layer, once all three layers go out. A
// publisher whose CPU cannot keep up (qualityLimitationReason cpu, likely
// with three browsers on two cores) sends smaller layers; that is reported
// and the sizes expected below follow what it sends.
let layersAtStart = null;
let layersReadBefore = null; // two seconds before layersAtStart, for bitrates
let cpuLimited = false;

test('one camera in three layers: a large tile decodes the full-size layer, a small one the quarter-size layer, at once', async () => {
  pages.ada = await join('Ada', LARGE);
  pages.bob = await join('Bob', LARGE);
  pages.cleo = await join('Cleo', SMALL);
  adaId = await pages.ada.evaluate(() => window.parley.session.participant);
  // Bob and Cleo switch their cameras off (black frames at a low rate): the
  // machine's CPU goes to Ada's three encodings and the decoders watched.
  for (const [name, page] of [['Bob', pages.bob], ['Cleo', pages.cleo]]) {
    await pageUntil(page, () => !!window.parley.stream?.getVideoTracks().length, (x) => x, `${name}'s camera open`);
    await page.click('#cam');
    assert.equal(await page.getAttribute('#cam', 'aria-pressed'), 'true');
  }

  // Ada's camera at 1280x720, sent as three layers.
  const settings = await pages.ada.evaluate(() => window.parley.stream.getVideoTracks()[0].getSettings());
  assert.equal(`${settings.width}x${settings.height}`, '1280x720', 'the fake camera gives 1280x720');
  await pageUntil(pages.ada, outboundByRid, (o) => ['q', 'h', 'f'].every((r) => o[r]?.frames > 10),
    'Ada sending three layers', { timeout: 30000, interval: 250 });
  const sdp = await pages.ada.evaluate(() => window.parley.publish.remoteDescription.sdp);
  assert.match(sdp, /a=simulcast:recv q;h;f/, 'the server\'s answer takes the three layers');
  // The layers at the sizes asked for (a quarter, half and full), unless
  // the CPU holds the encoder back. Nobody watches h (Bob's tile takes f,
  // Cleo's q): the relay switches it off 3 s after it was last needed
  // (dynacast), which may come before Ada's own estimate has grown it to
  // its full size; its size is then checked when Cleo's tile needs it.
  const full = await pageUntil(pages.ada, outboundByRid,
    (o) => (o.q.width === 320 && (o.h.width === 640 || o.h.active === false) && o.f.width === 1280) ||
      o.f.limit === 'cpu',
    'Ada\'s layers at 320, 640 (or h switched off) and 1280 wide', { timeout: 20000, interval: 250 });
  layersAtStart = await pageUntil(pages.ada, outboundByRid, (o) => o.f.at - full.f.at >= 2000,
    'two seconds more of Ada\'s layers', { timeout: 10000, interval: 250 });
  layersReadBefore = full;
  cpuLimited = Object.values(layersAtStart).some((l) => l.limit === 'cpu');
  console.log(`# Ada's camera ${settings.width}x${settings.height} at ${settings.frameRate} fps, layers: ` +
    layersLine(full, layersAtStart));
  if (cpuLimited) console.log('# Ada\'s encoder is limited by the CPU (qualityLimitationReason cpu)');

  // Bob's tile for Ada is large (at least 640 px wide in 1600x900, with
  // three participants), Cleo's small; each asks for its size.
  const bobTile = await pageUntil(pages.bob, inboundOf, (s) => s?.asked?.max_width >= 640, 'Bob asking for his tile\'s size',
    { arg: adaId });
  assert.ok(Number(bobTile.tile.split('x')[0]) >= 640, `Bob's tile for Ada is ${bobTile.tile}`);
  await pageUntil(pages.cleo, inboundOf, (s) => s?.asked?.max_width > 0 && s.asked.max_width <= 320,
    'Cleo asking for her small tile\'s size', { arg: adaId });

  // At the same time: Bob decodes the full-size layer, Cleo the quarter
  // (the sizes Ada sends them at now, which the CPU may have changed).
  const both = await waitFor(async () => [await pages.bob.evaluate(inboundOf, adaId),
    await pages.cleo.evaluate(inboundOf, adaId), await pages.ada.evaluate(outboundByRid)],
  ([b, c, a]) => b && c && size(b) === size(a.f) && size(c) === size(a.q) && b.fps > 0 && c.fps > 0,
  'Bob decoding Ada\'s full-size layer and Cleo her quarter-size one', { timeout: 30000, interval: 250 });
  console.log(`# Bob (1600x900) decodes Ada: ${inboundLine(both[0])}, asked ${JSON.stringify(both[0].asked)}`);
  console.log(`# Cleo (640x360) decodes Ada: ${inboundLine(both[1])}, asked ${JSON.stringify(both[1].asked)}`);
  if (!cpuLimited) {
    assert.equal(size(both[0]), '1280x720');
    assert.equal(size(both[1]), '320x180');
  }
  // And both keep decoding at those sizes.
  await waitFor(async () => [await pages.bob.evaluate(inboundOf, adaId), await pages.cleo.evaluate(inboundOf, adaId)],
    ([b, c]) => b.frames > both[0].frames + 40 && c.frames > both[1].frames + 40 &&
      size(b) === size(both[0]) && size(c) === size(both[1]), 'both going on at their sizes',
    { timeout: 15000, interval: 250 });
  fs.mkdirSync(outDir, { recursive: true });
  await pages.bob.screenshot({ path: path.join(outDir, 'e2e-simulcast-large.png') });
  await pages.cleo.screenshot({ path: path.join(outDir, 'e2e-simulcast-small.png') });
});

// Cleo's window is resized; from the moment it is, the layer that fits her
// tile's new size must be decoded within SWITCH_MS, with no freeze over
// 300 ms, frames decoded all along and hardly any dropped. A layer that
// dynacast had switched off at Ada is first switched on again by her
// browser, which reconfigures its encoder (1 to 4 s on this machine while
// three browsers share two cores): the switch is then timed from the
// moment Ada encodes that layer again, and how long that took is printed
// (dynacast.test bounds it, on its own).
async function resizeAndSwitch(viewport, layer) {
  // The switch is measured from a settled meeting: Bob on Ada's full-size
  // layer and both decoding steadily (five frames or more in each of two
  // half seconds, no freeze ending). A stall of the machine just before
  // (three browsers on two cores, a screenshot, Ada's encoder restarting a
  // layer) would otherwise count as the switch's, and a downlink estimate
  // that such a stall cut, and has not grown back yet, as Bob being moved.
  let prev = null;
  await waitFor(async () => [await pages.bob.evaluate(inboundOf, adaId), await pages.cleo.evaluate(inboundOf, adaId),
    await pages.ada.evaluate(outboundByRid)], ([b, c, a]) => {
    const was = prev;
    prev = { b, c };
    return !!was && size(b) === size(a.f) && b.frames - was.b.frames >= 5 && c.frames - was.c.frames >= 5 &&
      b.freezes === was.b.freezes && c.freezes === was.c.freezes;
  }, 'Bob on Ada\'s full-size layer and both decoding steadily before the resize', { timeout: 20000, interval: 500 });
  // Ada's layer encoding: at the resize when it was on (its frames grew
  // over the half second before), else when its frames first grow again.
  const adaEarlier = await pages.ada.evaluate(outboundByRid);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const adaBefore = await pages.ada.evaluate(outboundByRid);
  const before = await pages.cleo.evaluate(inboundOf, adaId);
  const bobBefore = await pages.bob.evaluate(inboundOf, adaId);
  await pages.cleo.evaluate(longestGap, adaId);
  await pages.bob.evaluate(longestGap, adaId);
  const t0 = Date.now();
  await pages.cleo.setViewportSize(viewport);
  let layerOn = adaBefore[layer].frames > adaEarlier[layer].frames ? t0 : null;
  const [switched, ada] = await waitFor(async () => [await pages.cleo.evaluate(inboundOf, adaId),
    await pages.ada.evaluate(outboundByRid)], ([c, a]) => {
    if (layerOn === null && a[layer].frames > adaBefore[layer].frames) layerOn = Date.now();
    return size(c) === size(a[layer]);
  }, `Cleo decoding Ada's ${layer} layer after her window went ${viewport.width}x${viewport.height}`,
  { timeout: SWITCH_MS + 8000, interval: 50 });
  const done = Date.now();
  const resumeMs = (layerOn ?? done) - t0;
  const ms = done - Math.max(t0, layerOn ?? t0);
  if (resumeMs > 0) console.log(`# Ada's ${layer} layer was off: encoding again ${resumeMs} ms after the resize`);
  // A second more on the new layer, for freezes and drops around the switch.
  const later = await pageUntil(pages.cleo, inboundOf, (s) => s.at - switched.at >= 1000,
    'a second of the new layer', { timeout: 5000, interval: 100, arg: adaId });
  const gapMs = await pages.cleo.evaluate(longestGap, adaId);
  const bobGapMs = await pages.bob.evaluate(longestGap, adaId);
  const bobLater = await pages.bob.evaluate(inboundOf, adaId);
  const bobFreezeS = bobLater.freezeS - bobBefore.freezeS;
  const bobDropped = bobLater.dropped - bobBefore.dropped;
  const adaLater = await pages.ada.evaluate(outboundByRid);
  const freezes = later.freezes - before.freezes;
  const freezeS = later.freezeS - before.freezeS;
  const dropped = later.dropped - before.dropped;
  const decoded = later.frames - before.frames;
  console.log(`# Cleo ${viewport.width}x${viewport.height}: ${size(before)} -> ${size(later)} ` +
    `(Ada's ${layer} layer ${size(ada[layer])}) in ${ms} ms ` +
    `(asked ${JSON.stringify(later.asked)}); over the switch ${decoded} frames decoded, ${dropped} dropped, ` +
    `${freezes} freezes (${freezeS.toFixed(3)} s), longest gap ${gapMs} ms, ` +
    `${later.keyframes - before.keyframes} keyframes, ` +
    `now ${later.fps} fps; Bob meanwhile ${size(bobLater)}, ${bobLater.frames - bobBefore.frames} frames, ` +
    `${bobLater.freezes - bobBefore.freezes} freezes (${bobFreezeS.toFixed(3)} s), longest gap ${bobGapMs} ms, ` +
    `${bobDropped} dropped, ` +
    `${bobLater.keyframes - bobBefore.keyframes} keyframes`);
  assert.ok(ms <= SWITCH_MS, `the layer switched within ${SWITCH_MS} ms (${ms} ms)`);
  // The relay keeps the old layer going until the new one's key frame: the
  // switch itself freezes nothing. A layer the relay had switched off
  // (dynacast) comes back by Chromium reconfiguring its encoder, which
  // stalls every layer of the camera for a moment (key frames on all of
  // them): Bob, whose layer does not change, then stalls as long. What
  // Cleo's picture stands still beyond Bob's longest stall is the
  // switch's: her longest gap between frames shown over the switch, less
  // his over the same time, is under 300 ms.
  assert.ok(gapMs - bobGapMs <= 300, `no freeze over 300 ms beyond the publisher's own ` +
    `(longest gap ${gapMs} ms, ${freezes} freezes, ${freezeS.toFixed(3)} s; Bob, not switched, ` +
    `longest gap ${bobGapMs} ms, ${bobFreezeS.toFixed(3)} s)`);
  assert.ok(later.frames > switched.frames && decoded > 0, 'decoding goes on after the switch');
  // Frames the decoder or renderer drops for want of CPU (three browsers
  // on two cores, two of them decoding 1280x720) Bob drops too, on the
  // same layer of the same camera at the same time; what Cleo drops
  // beyond that is the switch's.
  assert.ok(dropped - bobDropped <= Math.max(5, decoded / 10), `${dropped} of ${decoded} frames dropped ` +
    `over the switch (Bob, not switched, ${bobDropped})`);
  // Bob is not moved by Cleo's window.
  assert.equal(size(bobLater), size(adaLater.f));
  assert.ok(bobLater.frames > bobBefore.frames);
}

test('a subscriber\'s window resized: the layer that fits its tile within 2 s, without a freeze', async () => {
  assert.ok(layersAtStart, 'the meeting of the first test');
  await resizeAndSwitch(MEDIUM, 'h'); // a 480x270 tile: the half-size layer
  await resizeAndSwitch(LARGE, 'f');
  await resizeAndSwitch(SMALL, 'q');
  await pages.cleo.screenshot({ path: path.join(outDir, 'e2e-simulcast-resized.png') });
});

test('the publisher\'s layers 20 s on: the two watched ones sending at their sizes, the other off', async () => {
  assert.ok(layersAtStart, 'the meeting of the first test');
  // Cleo's window small again, as the resizes end (set here too, so that
  // this case measures the layers whatever became of the one before).
  await pages.cleo.setViewportSize(SMALL);
  // Cleo's medium tile needed h a moment ago: the relay switches it off
  // 3 s after it was last needed. The window starts once Ada was told and
  // her h layer stopped (two readings a second apart agree).
  await pageUntil(pages.ada, () => window.parley.layersActive || null, (a) => a?.join() === 'q,f',
    'Ada told to send q and f only', { timeout: 10000, interval: 250 });
  let prev = await pages.ada.evaluate(outboundByRid);
  const from = await pageUntil(pages.ada, outboundByRid, (o) => {
    const flat = o.h.at - prev.h.at >= 1000 && o.h.frames === prev.h.frames;
    if (o.h.at - prev.h.at >= 1000) prev = o;
    return flat;
  }, 'Ada\'s h layer no longer encoding', { timeout: 10000, interval: 250 });
  // The measurement window: what Ada sends over 20 s.
  const to = await pageUntil(pages.ada, outboundByRid, (o) => o.f.at - from.f.at >= 20000,
    'twenty seconds of Ada\'s layers', { timeout: 30000, interval: 1000 });
  console.log(`# Ada's layers before: ${layersLine(layersReadBefore, layersAtStart)}`);
  console.log(`# Ada's layers 20 s later: ${layersLine(from, to)}`);
  const limited = Object.values(to).filter((l) => l.limit === 'cpu').length > 0;
  if (limited) console.log('# Ada\'s encoder is limited by the CPU (qualityLimitationReason cpu)');
  // A publisher short of CPU may stop its upper layers: that is reported,
  // and only the quarter-size layer is then required. Bob watches f, Cleo
  // q: nobody has needed h for more than 3 s, so the relay has asked Ada
  // to switch it off (dynacast), and it does not encode.
  const stopped = ['q', 'h', 'f'].filter((r) => !(to[r]?.frames > from[r]?.frames));
  if (stopped.length) console.log(`# Ada's layers not encoding any more: ${stopped.join(', ')}`);
  assert.deepEqual(await pages.ada.evaluate(() => window.parley.layersActive), ['q', 'f'], 'Ada asked for q and f');
  assert.equal(to.h.frames, from.h.frames, 'layer h, which nobody watches, does not encode');
  for (const r of limited ? ['q'] : ['q', 'f']) {
    assert.ok(to[r].frames > from[r].frames, `layer ${r} still encodes`);
    assert.ok(kbps(from[r], to[r]) > 0, `layer ${r} still sends`);
    if (!limited) assert.equal(size(to[r]), size(layersAtStart[r]), `layer ${r} keeps its size`);
  }
  // The full-size layer gets most of the bitrate (a quarter-size layer is
  // capped at 150 kbit/s).
  if (!limited)
    assert.ok(kbps(from.f, to.f) > kbps(from.q, to.q), 'the full-size layer sends more than the quarter-size one');
  for (const page of Object.values(pages)) await page.close();
});
