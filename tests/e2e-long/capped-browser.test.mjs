// Congestion control toward a subscriber, proven with browsers: three
// Chromium participants (Ada, Bob, Cleo), each in a network namespace of
// its own, publish their cameras in three layers through a relay that
// estimates each subscriber's downlink (--downlink-estimate). Once the
// meeting runs, Cleo's downlink is capped at 600 kbit/s (tbf on her veth)
// for 60 s, then the cap is lifted. From the receiving pages' getStats:
// - Cleo's audio stays whole (concealment under 2% over the capped
//   minute) and she decodes Ada's and Bob's video at 10 fps or more with
//   freezes under 5% of the time (a small layer fits her link);
// - Ada and Bob keep decoding each other at 640x360 or better;
// - no publisher encodes more than 15 key frames in that minute;
// - within 10 s of the cap's end Cleo decodes both at 640x360 again.
// Every figure is printed ('#' lines), with each publisher's
// qualityLimitationReason: three browsers on two cores may be short of
// CPU, which is told apart from the network. PARLEY_SERVER_LOG=file keeps
// the server's output, its debug lines (the estimators' cuts, the
// allocator's choices) as JSON with their times.
//
// Outside CI until it passes every run: on a 2-core machine it passed 11
// of the last 20 runs (README.md), 7 of 10 before them. What fails is
// mostly freezes: one of Cleo's videos frozen for 5-19% of the minute,
// most when the host stalls (Ada and Bob, uncapped, froze up to 19% in
// such minutes, and every estimator saw the same queue at once).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, pageUntil, watchPage } from '../e2e/browser.mjs';
import { startServer, stats } from '../e2e/server.mjs';
import { createNetwork } from '../e2e/netns.mjs';
import { waitFor } from '../e2e/client.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
const CAP_KBIT = 600;
const CAP_MS = 60000;
const LIFT_MS = 10000; // the cap lifted to the high layer decoded again
const HIGH = { width: 640, height: 360 }; // the layer a 1280x720 window's tiles ask for
const NAMES = ['Ada', 'Bob', 'Cleo'];
const CAPPED = 'Cleo';

let net, server;
const browsers = [];
const pages = {};
const ids = {}; // name -> participant id
const errors = [];

before(async () => {
  net = createNetwork();
  server = await startServer(['--bind', '0.0.0.0', '--announce-ip', net.serverAddr, '--downlink-estimate',
    ...(process.env.PARLEY_SERVER_LOG ? ['--log-level', 'debug', '--log-format', 'json'] : [])]);
  const origin = `http://${net.serverAddr}:${server.port}`;
  for (const name of NAMES) {
    const p = net.add(name.toLowerCase());
    // Chromium inside the participant's namespace: its traffic to the
    // relay goes through the participant's veth, where the cap is.
    const browser = await launchChromium(['--autoplay-policy=no-user-gesture-required',
      `--unsafely-treat-insecure-origin-as-secure=${origin}`], { netns: p.ns });
    browsers.push(browser);
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
    watchPage(page, (e) => errors.push(`${name}: ${e}`));
    pages[name] = { page, net: p };
    await page.goto(`${origin}/r/capped`);
  }
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  const stop = server && await server.stop();
  if (process.env.PARLEY_SERVER_LOG) fs.writeFileSync(process.env.PARLEY_SERVER_LOG, server.output());
  net?.destroy();
  if (stop) assert.equal(stop.code, 0, server.output());
  assert.deepEqual(errors, [], 'no page errors');
});

// Runs in a page: what it receives, per remote participant's camera (by
// the participant's tile), and its audio, in all.
const received = async () => {
  const pc = window.parley.subscribe;
  const me = window.parley.session?.participant;
  const out = { at: performance.now(), video: {}, audio: { samples: 0, concealed: 0, silent: 0, packets: 0, lost: 0 } };
  if (!pc) return out;
  const all = [...(await pc.getStats()).values()];
  for (const s of all) {
    if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
    out.audio.samples += s.totalSamplesReceived || 0;
    out.audio.concealed += s.concealedSamples || 0;
    out.audio.silent += s.silentConcealedSamples || 0;
    out.audio.packets += s.packetsReceived || 0;
    out.audio.lost += s.packetsLost || 0;
  }
  for (const fig of document.querySelectorAll('#tiles figure[data-participant]:not([data-screen])')) {
    const pid = fig.dataset.participant;
    if (pid === me) continue;
    const track = fig.querySelector('video')?.srcObject?.getVideoTracks()[0];
    const t = track && pc.getTransceivers().find((x) => x.receiver.track === track);
    const s = t && all.find((x) => x.type === 'inbound-rtp' && x.mid === t.mid);
    if (!s) continue;
    const rect = fig.getBoundingClientRect();
    out.video[pid] = { width: s.frameWidth || 0, height: s.frameHeight || 0, frames: s.framesDecoded || 0,
      fps: s.framesPerSecond || 0, freezes: s.freezeCount || 0, freezeS: s.totalFreezesDuration || 0,
      keyframes: s.keyFramesDecoded || 0, plis: s.pliCount || 0, nacks: s.nackCount || 0,
      lost: s.packetsLost || 0, bytes: s.bytesReceived || 0, paused: fig.classList.contains('paused-bw'),
      tile: `${Math.round(rect.width)}x${Math.round(rect.height)}` };
  }
  return out;
};

// Runs in a page: what its camera sends, per rid, and its uplink estimate.
const sent = async () => {
  const pc = window.parley.publish;
  const out = { at: performance.now(), rids: {}, available: 0 };
  if (!pc) return out;
  const all = [...(await pc.getStats()).values()];
  for (const s of all) {
    if (s.type !== 'outbound-rtp' || s.kind !== 'video') continue;
    out.rids[s.rid || '-'] = { width: s.frameWidth || 0, height: s.frameHeight || 0, fps: s.framesPerSecond || 0,
      frames: s.framesEncoded || 0, keyframes: s.keyFramesEncoded || 0, bytes: s.bytesSent || 0,
      limit: s.qualityLimitationReason, cpuS: s.qualityLimitationDurations?.cpu || 0,
      bandwidthS: s.qualityLimitationDurations?.bandwidth || 0 };
  }
  const transport = all.find((s) => s.type === 'transport');
  const pair = all.find((s) => s.id === transport?.selectedCandidatePairId);
  out.available = Math.round((pair?.availableOutgoingBitrate || 0) / 1000);
  return out;
};

const size = (v) => `${v.width}x${v.height}`;
const high = (v) => v && v.width >= HIGH.width && v.height >= HIGH.height;
const others = (name) => NAMES.filter((n) => n !== name);
const readAll = async (fn) => Object.fromEntries(await Promise.all(NAMES.map(async (n) =>
  [n, await pages[n].page.evaluate(fn)])));
const sum = (o, key) => Object.values(o).reduce((a, r) => a + (r[key] || 0), 0);

// What a publisher's rids did between two readings.
function sentLine(a, b) {
  return Object.keys(b.rids).sort().map((r) => {
    const x = b.rids[r], w = a.rids[r] || { frames: 0, keyframes: 0, bytes: 0, cpuS: 0, bandwidthS: 0 };
    const s = (b.at - a.at) / 1000;
    return `${r} ${size(x)} ${((x.frames - w.frames) / s).toFixed(1)} fps ` +
      `${Math.round(((x.bytes - w.bytes) * 8) / s / 1000)} kbit/s ${x.keyframes - w.keyframes} keyframes ` +
      `limit ${x.limit} (cpu ${(x.cpuS - w.cpuS).toFixed(1)} s, bandwidth ${(x.bandwidthS - w.bandwidthS).toFixed(1)} s)`;
  }).join('; ') + `; uplink estimate ${b.available} kbit/s`;
}

// What a subscriber decoded of one participant between two readings.
function videoFigures(ra, rb, pid) {
  const a = ra.video[pid], b = rb.video[pid];
  const s = (rb.at - ra.at) / 1000;
  return { fps: (b.frames - a.frames) / s, freezeS: b.freezeS - a.freezeS, freezes: b.freezes - a.freezes,
    freezePct: (100 * (b.freezeS - a.freezeS)) / s, kbps: ((b.bytes - a.bytes) * 8) / s / 1000,
    keyframes: b.keyframes - a.keyframes, plis: b.plis - a.plis, nacks: b.nacks - a.nacks, lost: b.lost - a.lost };
}
const videoLine = (f) => `${f.fps.toFixed(1)} fps decoded, ${f.kbps.toFixed(0)} kbit/s, ` +
  `${f.freezes} freezes ${f.freezeS.toFixed(2)} s (${f.freezePct.toFixed(1)}%), ${f.keyframes} keyframes decoded, ` +
  `${f.plis} PLIs, ${f.nacks} NACKs, ${f.lost} lost`;

let warm = null; // readings once the meeting runs

test('three participants, each in its own namespace, decode each other at 640x360', async () => {
  for (const name of NAMES) {
    const { page } = pages[name];
    await page.fill('#name', name);
    await page.click('button[type=submit]');
    await page.waitForSelector('#meeting:not([hidden])');
    ids[name] = await pageUntil(page, () => window.parley.session?.participant, (x) => !!x, `${name}'s id`);
  }
  // Warm-up: every page decodes both others on the high layer for its
  // tiles, and every camera sends its three layers.
  await waitFor(() => readAll(received), (r) => NAMES.every((n) =>
    others(n).every((o) => high(r[n].video[ids[o]]) && r[n].video[ids[o]].frames > 60)),
  'every page decoding both others at 640x360', { timeout: 60000, interval: 1000 });
  // The full-size layer, which no tile needs, dynacast may have switched
  // off after its first frames.
  await waitFor(() => readAll(sent), (r) => NAMES.every((n) => ['q', 'h'].every((rid) => r[n].rids[rid]?.frames > 30) &&
    r[n].rids.f?.frames > 0), 'every camera sending its three layers', { timeout: 30000, interval: 1000 });
  const r0 = await readAll(received), s0 = await readAll(sent);
  // A sampling window of the uncapped meeting, for comparison.
  const r1 = await waitFor(() => readAll(received), (r) => r.Ada.at - r0.Ada.at >= 5000, 'five seconds more',
    { timeout: 15000, interval: 1000 });
  const s1 = await readAll(sent);
  for (const n of NAMES) {
    console.log(`# before the cap, ${n} sends: ${sentLine(s0[n], s1[n])}`);
    for (const o of others(n)) {
      const v = r1[n].video[ids[o]];
      console.log(`# before the cap, ${n} decodes ${o}: ${size(v)} (tile ${v.tile}), ` +
        videoLine(videoFigures(r0[n], r1[n], ids[o])));
    }
  }
  warm = { r: r1, s: s1 };
});

let capped = null; // readings at the cap's start and end

test(`${CAPPED}'s downlink capped at ${CAP_KBIT} kbit/s for 60 s: audio whole, a smaller layer at 10 fps or more, the others untouched`, async () => {
  assert.ok(warm, 'the meeting of the first test');
  const me = pages[CAPPED];
  const statsBefore = await stats(server);
  const r0 = await readAll(received), s0 = await readAll(sent);
  const tbf0 = me.net.capCounters();
  me.net.cap(CAP_KBIT);
  const t0 = Date.now();
  // Sampling windows of 5 s through the capped minute: the others' sizes
  // as they go, and Cleo's, for the figures.
  const samples = [];
  let last = r0;
  while (Date.now() - t0 < CAP_MS) {
    const wait = Math.min(5000, CAP_MS - (Date.now() - t0));
    last = await waitFor(() => readAll(received), (r) => r.Ada.at - last.Ada.at >= wait, 'the next sample',
      { timeout: wait + 10000, interval: 500 });
    samples.push({ t: Date.now() - t0, r: last });
  }
  const r1 = await readAll(received), s1 = await readAll(sent);
  const tbf1 = me.net.capCounters();
  const statsAfter = await stats(server);
  capped = { r0, r1 };
  await me.page.screenshot({ path: path.join(outDir, 'e2e-capped.png') });

  const seconds = (r1[CAPPED].at - r0[CAPPED].at) / 1000;
  console.log(`# cap ${CAP_KBIT} kbit/s on ${CAPPED}'s downlink for ${seconds.toFixed(1)} s: tbf sent ` +
    `${Math.round(((tbf1.bytes - tbf0.bytes) * 8) / seconds / 1000)} kbit/s, ${tbf1.packets - tbf0.packets} packets, ` +
    `dropped ${tbf1.dropped - tbf0.dropped}`);
  const counters = ['retransmissions', 'pacer_rtx_dropped', 'probes', 'padding_bytes', 'nack_repeats',
    'nack_keyframes', 'allocations', 'video_pauses', 'alloc_probes', 'pacer_refused', 'downlink_feedback', 'layer_switches'];
  const delta = (k) => (statsAfter[k] ?? 0) - (statsBefore[k] ?? 0);
  console.log(`# relay over the capped minute: ${counters.map((k) => `${k} ${delta(k)}`).join(', ')}`);
  for (const { t, r } of samples) {
    console.log(`# at ${(t / 1000).toFixed(0)} s: ` + NAMES.map((n) => `${n} decodes ` + others(n).map((o) => {
      const v = r[n].video[ids[o]];
      return `${o} ${size(v)}${v.paused ? ' (paused)' : ''}`;
    }).join(', ')).join('; '));
  }

  // Cleo's audio: concealment over the capped minute.
  const a0 = r0[CAPPED].audio, a1 = r1[CAPPED].audio;
  const concealed = a1.concealed - a0.concealed, samplesIn = a1.samples - a0.samples;
  const concealPct = (100 * concealed) / Math.max(1, samplesIn);
  console.log(`# ${CAPPED}'s audio: ${concealed} of ${samplesIn} samples concealed (${concealPct.toFixed(2)}%, ` +
    `${a1.silent - a0.silent} of them silent), ${a1.packets - a0.packets} packets, ${a1.lost - a0.lost} lost`);
  // Every publisher's key frames and limits over the minute.
  const keyframes = {};
  for (const n of NAMES) {
    keyframes[n] = sum(s1[n].rids, 'keyframes') - sum(s0[n].rids, 'keyframes');
    console.log(`# during the cap, ${n} sends: ${sentLine(s0[n], s1[n])}`);
  }
  const cpu = NAMES.filter((n) => Object.keys(s1[n].rids).some((rid) =>
    s1[n].rids[rid].cpuS - (s0[n].rids[rid]?.cpuS || 0) > 1));
  console.log(cpu.length ? `# limited by the CPU (qualityLimitationReason cpu for over 1 s): ${cpu.join(', ')}` :
    '# no publisher limited by the CPU');
  const figures = {};
  for (const n of NAMES) {
    for (const o of others(n)) {
      const f = videoFigures(r0[n], r1[n], ids[o]);
      figures[`${n}<${o}`] = f;
      console.log(`# during the cap, ${n} decodes ${o}: ${size(r1[n].video[ids[o]])}, ${videoLine(f)}`);
    }
  }

  assert.ok(concealPct < 2, `${CAPPED}'s audio concealment under 2% (${concealPct.toFixed(2)}%)`);
  for (const o of others(CAPPED)) {
    const f = figures[`${CAPPED}<${o}`];
    assert.ok(f.fps >= 10, `${CAPPED} decodes ${o} at 10 fps or more (${f.fps.toFixed(1)})`);
    assert.ok(f.freezePct < 5, `${CAPPED}'s freezes of ${o} under 5% (${f.freezePct.toFixed(1)}%)`);
  }
  // Ada and Bob decode each other on the high layer all along.
  for (const n of others(CAPPED)) {
    for (const o of others(CAPPED).filter((x) => x !== n)) {
      const low = samples.filter(({ r }) => !high(r[n].video[ids[o]]));
      assert.deepEqual(low.map(({ t, r }) => `${t} ms: ${size(r[n].video[ids[o]])}`), [],
        `${n} decodes ${o} at 640x360 or better throughout`);
      assert.ok(figures[`${n}<${o}`].fps >= 10, `${n} decodes ${o} at 10 fps or more`);
    }
  }
  for (const n of NAMES)
    assert.ok(keyframes[n] <= 15, `${n} encodes at most 15 key frames in the capped minute (${keyframes[n]})`);
});

test('the cap lifted: the capped participant decodes both others at 640x360 within 10 s', async () => {
  assert.ok(capped, 'the capped minute of the test before');
  const me = pages[CAPPED];
  me.net.cap(null);
  const t0 = Date.now();
  const back = await waitFor(() => me.page.evaluate(received),
    (r) => others(CAPPED).every((o) => high(r.video[ids[o]])), `${CAPPED} back on 640x360`,
    { timeout: LIFT_MS + 20000, interval: 250 });
  const ms = Date.now() - t0;
  console.log(`# cap lifted: ${CAPPED} decodes ` + others(CAPPED).map((o) => `${o} at ${size(back.video[ids[o]])}`)
    .join(', ') + ` after ${ms} ms`);
  assert.ok(ms <= LIFT_MS, `back on the high layer within ${LIFT_MS} ms (${ms} ms)`);
  await me.page.screenshot({ path: path.join(outDir, 'e2e-capped-lifted.png') });
});
