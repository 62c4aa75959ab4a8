// Dynacast and the connection-quality marks, through the web client in
// headless Chromium. Ada publishes her camera (the fake camera at
// 1280x720) in three layers; Bob watches her in a small window, where her
// tile needs only the quarter-size layer q: the relay tells Ada to switch
// h and f off, and her f layer stops growing (bytesSent and framesEncoded
// flat over a window). Bob's window grows: the relay asks for f at once,
// Ada sends it again within 2 s and Bob decodes it. On this clean
// loopback link each tile's quality mark says "good"; with 40% of what the
// relay sends dropped (nftables), Bob's mark for Ada is no longer good, and
// it is good again once the loss ends.
// The relay estimates downlinks (its default), so what a subscriber needs
// is what its allocation grants; DYNACAST_ESTIMATE=0 runs the same with
// `--downlink-estimate=false`, where it is the layer its tile asks for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, pageUntil } from './browser.mjs';
import { startServer } from './server.mjs';
import { waitFor } from './client.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
// With two people the other's tile is the large one (the own view a small
// tile beside it): in a 400 px wide window it is at most 307 px wide.
const SMALL = { width: 400, height: 300 };
const LARGE = { width: 1600, height: 900 };
const FLAT_MS = 3000; // the window over which an unneeded layer must not grow
const ON_MS = 2000; // a tile grown to the layer sent again
const DECODE_MS = 3000; // a tile grown to the layer decoded
const ESTIMATE = process.env.DYNACAST_ESTIMATE !== '0';
let server, browser, table = '';
const errors = [];
const pages = {};
let adaId = '';

before(async () => {
  // Without ICE-TCP: the lossy case drops the relay's UDP, which a pair
  // nominated over TCP (a loaded machine's checks can end that way) would
  // not see, and the mark would rightly stay good.
  server = await startServer(['--no-ice-tcp', ...(ESTIMATE ? [] : ['--downlink-estimate=false'])]);
  if (!ESTIMATE) console.log('# with --downlink-estimate=false');
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
});
after(async () => {
  if (table) execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'pipe' });
  for (const page of Object.values(pages)) await page.close().catch(() => {});
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
  assert.deepEqual(errors, [], 'no page errors');
});

async function join(name, viewport) {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  await page.goto(`http://localhost:${server.port}/r/dynacast`);
  await page.fill('#name', name);
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  return page;
}

const stats = async () => (await fetch(`${server.adminUrl}/stats`)).json();

// Runs in the publisher's page: per rid of its camera, what it sends.
const outboundByRid = async () => {
  const pc = window.parley.publish;
  if (!pc) return {};
  const out = {};
  for (const s of (await pc.getStats()).values()) {
    if (s.type !== 'outbound-rtp' || s.kind !== 'video' || !s.rid) continue;
    out[s.rid] = { at: s.timestamp, bytes: s.bytesSent || 0, frames: s.framesEncoded || 0,
      width: s.frameWidth || 0, height: s.frameHeight || 0, active: s.active !== false,
      limit: s.qualityLimitationReason };
  }
  return out;
};

// Runs in a subscriber's page: what it decodes of a participant's camera.
const inboundOf = async (pid) => {
  const pc = window.parley.subscribe;
  const video = document.querySelector(`#tiles figure[data-participant="${pid}"]:not([data-screen]) video`);
  const track = video?.srcObject?.getVideoTracks()[0];
  const t = pc?.getTransceivers().find((x) => x.receiver.track === track);
  if (!t) return null;
  const s = [...(await pc.getStats()).values()].find((x) => x.type === 'inbound-rtp' && x.mid === t.mid);
  if (!s) return null;
  const fig = video.closest('figure');
  return { width: s.frameWidth || 0, height: s.frameHeight || 0, frames: s.framesDecoded || 0,
    fps: s.framesPerSecond || 0, freezes: s.freezeCount || 0, quality: fig.dataset.quality || '',
    why: fig.querySelector('.quality')?.title || '' };
};

const size = (s) => `${s.width}x${s.height}`;
const ridLine = (o) => ['q', 'h', 'f'].filter((r) => o[r]).map((r) =>
  `${r} ${o[r].bytes} bytes ${o[r].frames} frames${o[r].active ? '' : ' (inactive)'}`).join('; ');

test('layers nobody needs stop at the publisher; a grown tile brings f back within 2 s', async () => {
  pages.ada = await join('Ada', LARGE);
  pages.bob = await join('Bob', SMALL);
  adaId = await pages.ada.evaluate(() => window.parley.session.participant);
  // Bob's camera off: the CPU goes to Ada's encoder and Bob's decoder.
  await pageUntil(pages.bob, () => !!window.parley.stream?.getVideoTracks().length, (x) => x, 'Bob\'s camera open');
  await pages.bob.click('#cam');

  // Bob decodes Ada's quarter-size layer in his small tile.
  const small = await pageUntil(pages.bob, inboundOf, (s) => s?.frames > 30 && s.width > 0 && s.width <= 320,
    'Bob decoding Ada\'s quarter-size layer', { timeout: 30000, interval: 250, arg: adaId });
  console.log(`# Bob (${SMALL.width}x${SMALL.height}) decodes Ada at ${size(small)}, ${small.fps} fps`);
  // The relay asks Ada for q only; her encoder takes it.
  const told = await pageUntil(pages.ada, () => window.parley.layersActive || null,
    (a) => a && a.join() === 'q', 'Ada told to send q only', { timeout: 15000, interval: 250 });
  // Bob's camera is simulcast too (off, sending black): his layers count
  // in /stats as well, so Ada's are told apart by what her page got.
  const st = await waitFor(stats, (s) => s.layers_paused_at_publisher >= 2, 'h and f paused at the publisher in /stats',
    { timeout: 5000, interval: 250 });
  console.log(`# Ada told ${JSON.stringify(told)}; /stats dynacast_updates ${st.dynacast_updates}, ` +
    `layers_paused_at_publisher ${st.layers_paused_at_publisher}`);

  // f stops growing: once two readings a second apart agree, a window of
  // FLAT_MS in which it must not move at all (q goes on meanwhile).
  let prev = await pages.ada.evaluate(outboundByRid);
  const settled = await pageUntil(pages.ada, outboundByRid, (o) => {
    const flat = o.f && prev.f && o.f.at - prev.f.at >= 1000 && o.f.bytes === prev.f.bytes;
    if (!prev.f || !o.f || o.f.at - prev.f.at >= 1000) prev = o;
    return flat;
  }, 'Ada\'s f layer no longer sending', { timeout: 10000, interval: 250 });
  const end = await pageUntil(pages.ada, outboundByRid, (o) => o.f.at - settled.f.at >= FLAT_MS,
    `${FLAT_MS} ms more of Ada's layers`, { timeout: FLAT_MS + 5000, interval: 250 });
  console.log(`# Ada's layers at the window's start: ${ridLine(settled)}`);
  console.log(`# Ada's layers ${Math.round(end.f.at - settled.f.at)} ms later: ${ridLine(end)}`);
  assert.equal(end.f.bytes, settled.f.bytes, 'f bytesSent flat');
  assert.equal(end.f.frames, settled.f.frames, 'f framesEncoded flat');
  assert.equal(end.h.bytes, settled.h.bytes, 'h bytesSent flat');
  assert.ok(end.q.frames > settled.q.frames + 30, 'q still encodes');
  const bobStill = await pages.bob.evaluate(inboundOf, adaId);
  assert.ok(bobStill.frames > small.frames, 'Bob still decodes Ada');
  fs.mkdirSync(outDir, { recursive: true });
  await pages.bob.screenshot({ path: path.join(outDir, 'e2e-dynacast-small.png') });

  // Bob's window grows: his tile's new size reaches the relay (after the
  // client's 250 ms settling), which asks Ada for f at once.
  const before = await pages.ada.evaluate(outboundByRid);
  const pausedBefore = (await stats()).layers_paused_at_publisher;
  const t0 = Date.now();
  await pages.bob.setViewportSize(LARGE);
  const on = await pageUntil(pages.ada, outboundByRid, (o) => o.f.bytes > before.f.bytes && o.f.frames > before.f.frames,
    'Ada\'s f layer sending again', { timeout: ON_MS + 8000, interval: 50 });
  const onMs = Date.now() - t0;
  const big = await pageUntil(pages.bob, inboundOf, (s) => s.width >= 1280 || (on.f.width && s.width === on.f.width),
    'Bob decoding Ada\'s f layer', { timeout: DECODE_MS + 8000, interval: 50, arg: adaId });
  const decodeMs = Date.now() - t0;
  const after2 = await pageUntil(pages.ada, outboundByRid, (o) => o.f.at - on.f.at >= 1000, 'a second of f',
    { timeout: 5000, interval: 250 });
  console.log(`# Bob's window 1600x900: Ada's f sending again ${onMs} ms later ` +
    `(${before.f.bytes} -> ${on.f.bytes} bytes, ${after2.f.bytes} a second on); ` +
    `Bob decodes ${size(big)} ${decodeMs} ms later, ${big.freezes} freezes so far`);
  const st2 = await waitFor(stats, (s) => s.layers_paused_at_publisher === pausedBefore - 1,
    'one layer less paused in /stats', { timeout: 5000, interval: 250 });
  console.log(`# /stats dynacast_updates ${st2.dynacast_updates}, layers_paused_at_publisher ` +
    `${st2.layers_paused_at_publisher} (${pausedBefore} before), layer_switches ${st2.layer_switches}; ` +
    `Bob's camera told ${JSON.stringify(await pages.bob.evaluate(() => window.parley.layersActive || null))}`);
  assert.ok(onMs <= ON_MS, `f sent again within ${ON_MS} ms (${onMs} ms)`);
  assert.ok(decodeMs <= DECODE_MS, `f decoded within ${DECODE_MS} ms (${decodeMs} ms)`);
  assert.ok(after2.f.bytes > on.f.bytes, 'f keeps sending');
  assert.deepEqual(await pages.ada.evaluate(() => window.parley.layersActive), ['q', 'f']);
  await pages.bob.screenshot({ path: path.join(outDir, 'e2e-dynacast-large.png') });
});

test('on a clean link each tile\'s quality mark says good', async () => {
  assert.ok(adaId, 'the meeting of the first test');
  const bob = await pageUntil(pages.bob, inboundOf, (s) => s?.quality === 'good', 'Bob\'s tile for Ada marked good',
    { timeout: 20000, interval: 500, arg: adaId });
  console.log(`# Bob's tile for Ada: ${bob.quality} (${bob.why}), ${size(bob)} at ${bob.fps} fps`);
  const ada = await pageUntil(pages.ada, () => {
    const me = document.getElementById('me');
    return { quality: me.dataset.quality || '', why: me.querySelector('.quality')?.title || '' };
  }, (q) => q.quality === 'good', 'Ada\'s own tile marked good', { timeout: 20000, interval: 500 });
  console.log(`# Ada's own tile: ${ada.quality} (${ada.why})`);
  // The mark is shown in the tile.
  const shown = await pages.bob.evaluate((pid) => {
    const el = document.querySelector(`#tiles figure[data-participant="${pid}"] .quality`);
    return !!el && el.getClientRects().length > 0 && getComputedStyle(el).backgroundColor;
  }, adaId);
  assert.ok(shown, 'the mark is laid out');
  await pages.bob.screenshot({ path: path.join(outDir, 'e2e-quality.png') });
});

test('on a lossy downlink the mark is no longer good, and good again after', async () => {
  assert.ok(adaId, 'the meeting of the first test');
  table = `parley_dyna_${server.mediaPort}`;
  const nft = (...args) => execFileSync('nft', args, { stdio: 'pipe' });
  nft('add', 'table', 'inet', table);
  nft('add', 'chain', 'inet', table, 'in', '{ type filter hook input priority 0; }');
  nft('add', 'rule', 'inet', table, 'in', 'iifname', 'lo', 'udp', 'sport', String(server.mediaPort),
    'numgen', 'random', 'mod', '100', '<', '40', 'counter', 'drop');
  const t0 = Date.now();
  const bad = await pageUntil(pages.bob, inboundOf, (s) => s?.quality && s.quality !== 'good',
    'Bob\'s tile for Ada marked fair or poor', { timeout: 20000, interval: 250, arg: adaId });
  console.log(`# 40% of the relay's packets dropped: Bob's mark for Ada ${bad.quality} after ` +
    `${Date.now() - t0} ms (${bad.why})`);
  execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'pipe' });
  table = '';
  const t1 = Date.now();
  const good = await pageUntil(pages.bob, inboundOf, (s) => s?.quality === 'good',
    'Bob\'s tile for Ada good again', { timeout: 30000, interval: 250, arg: adaId });
  console.log(`# loss over: good again after ${Date.now() - t1} ms, ${size(good)} at ${good.fps} fps`);
});
