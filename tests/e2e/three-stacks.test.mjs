// Three media stacks in one meeting: Firefox ESR and Chromium through the
// web client, and GStreamer's webrtcbin (tools/gst/parley-gst), each
// publishing a camera and a microphone and subscribing to the others. Every
// participant decodes every other's video and receives its audio, held for
// 90 s (longer than any consent timeout) with no transport failed or
// closed; the figures of the six directions are printed as `# ` lines.
// The machine has two shared cores: what is asserted is that media keep
// flowing in every direction, not at which resolution or rate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, pageUntil, openPage } from './browser.mjs';
import { launchFirefox, fill, firefoxVersion } from './firefox.mjs';
import { startServer, pollStats, stats as statsOf, downlinkLine } from './server.mjs';
import { runGst, decoded } from './gst.mjs';

// How long the meeting is held: the thing measured.
const HOLD_MS = 90000;
let server, firefox, chromium, gst;
const errors = [];

before(async () => {
  server = await startServer();
  [firefox, chromium] = await Promise.all([launchFirefox(),
    launchChromium(['--autoplay-policy=no-user-gesture-required'])]);
});
after(async () => {
  if (gst) await gst.stop().catch((e) => errors.push(`webrtcbin: ${e.message}`));
  await firefox?.close();
  await chromium?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

// A wait that failed says what the relay did meanwhile: which video it
// paused or switched, what it asked of the publishers.
async function explained(wait) {
  try {
    return await wait;
  } catch (e) {
    const st = await statsOf(server).catch(() => null);
    if (st) e.message = `${downlinkLine(st)}\n${e.message}`;
    throw e;
  }
}

const open = (browser, who, url) => openPage(browser, url, (e) => errors.push(`${who}: ${e}`));

// Runs in the page: what the subscribe peer connection receives, per mid,
// with the participant whose tile plays that track (the web client puts a
// remote participant's tracks in the tile of its data-participant).
const receivedFrom = async () => {
  const pc = window.parley.subscribe;
  if (!pc) return [];
  const stats = [...(await pc.getStats()).values()];
  const figs = [...document.querySelectorAll('#tiles figure[data-participant]:not([data-screen])')];
  const out = [];
  for (const t of pc.getTransceivers()) {
    if (!t.receiver.track || t.currentDirection !== 'recvonly') continue;
    const s = stats.find((x) => x.type === 'inbound-rtp' && x.mid === t.mid);
    const fig = figs.find((f) => f.querySelector('video')?.srcObject?.getTracks().includes(t.receiver.track));
    if (!s || !fig) continue;
    out.push({ from: fig.dataset.participant, kind: s.kind, frames: s.framesDecoded || 0,
      packets: s.packetsReceived || 0, lost: s.packetsLost || 0, width: s.frameWidth || 0,
      height: s.frameHeight || 0, fps: s.framesPerSecond || 0 });
  }
  return out;
};

// Runs in the page: what its camera is sent as (of its simulcast layers,
// the largest), and why it is limited.
const sent = async () => {
  const s = [...(await window.parley.publish.getStats()).values()]
    .filter((x) => x.type === 'outbound-rtp' && x.kind === 'video')
    .sort((x, y) => (y.frameWidth || 0) - (x.frameWidth || 0))[0];
  return s ? { frames: s.framesEncoded || 0, width: s.frameWidth || 0, height: s.frameHeight || 0,
    limited: s.qualityLimitationReason ?? 'n/a' } : null;
};

// One reading of what a receiver gets from one sender:
// {video: {frames, width, height, ...}, audio: {count, lost}} or null parts.
// For webrtcbin, audio counts decoded buffers; for the pages, packets.
function fromPage(list, pid) {
  const v = list.filter((x) => x.from === pid && x.kind === 'video');
  const a = list.filter((x) => x.from === pid && x.kind === 'audio');
  return { video: v.length === 1 ? v[0] : null, audio: a.length === 1 ? { ...a[0], count: a[0].packets } : null };
}
function fromGst(ev, pid) {
  const d = decoded(ev, pid);
  const v = d.video.at(-1), a = d.audio.at(-1);
  return { video: v || null, audio: a ? { ...a, count: a.buffers } : null };
}

const grew = (now, prev, frames, audio) => !!now.video && !!now.audio &&
  now.video.frames >= (prev?.video?.frames ?? 0) + frames && now.audio.count >= (prev?.audio?.count ?? 0) + audio;

const failedOrClosed = (st) => Object.entries(st)
  .filter(([k, v]) => (k.startsWith('transports_failed') || k === 'transports_closed') && v !== 0);

test('Firefox ESR, Chromium and webrtcbin in a meeting: each decodes both others\' video and receives their audio for 90 s', async () => {
  const room = 'three';
  gst = runGst(server, ['--room', room, '--name', 'webrtcbin']);
  const url = `http://localhost:${server.port}/r/${room}`;
  const fx = await open(firefox, 'Firefox', url);
  await fill(fx, '#name', 'Fox');
  await fx.click('button[type=submit]');
  await fx.waitForSelector('#meeting:not([hidden])');
  const cr = await open(chromium, 'Chromium', url);
  await cr.fill('#name', 'Chro');
  await cr.click('button[type=submit]');
  await cr.waitForSelector('#meeting:not([hidden])');
  const joined = await gst.event((e) => e.event === 'joined', 'webrtcbin to join');

  const ids = {
    fx: await pageUntil(fx, () => window.parley.session.participant, Boolean, 'Firefox\'s participant id'),
    cr: await pageUntil(cr, () => window.parley.session.participant, Boolean, 'Chromium\'s participant id'),
    gst: joined.participant,
  };
  const names = { fx: `Firefox ${firefoxVersion()}`, cr: `Chromium ${chromium.version()}`, gst: 'webrtcbin' };
  // A receiver: how to read what it gets (all senders at once), and from
  // which sender, and how long to wait for it.
  const pageReader = (page) => ({
    read: () => page.evaluate(receivedFrom),
    of: fromPage,
    until: (pred, what, ms) => pageUntil(page, receivedFrom, pred, what, { timeout: ms, interval: 500 }),
  });
  const gstReader = {
    read: async () => [...gst.events].reverse().find((e) => e.event === 'tracks'),
    of: fromGst,
    until: (pred, what, ms) => gst.event((e) => e.event === 'tracks' && pred(e), what, ms),
  };
  const receivers = { fx: pageReader(fx), cr: pageReader(cr), gst: gstReader };
  const directions = [];
  for (const to of Object.keys(receivers))
    for (const from of Object.keys(receivers))
      if (from !== to) directions.push({ from, to, name: `${names[from]} -> ${names[to]}` });
  const of = (d, reading) => receivers[d.to].of(reading, ids[d.from]);

  // Everyone decodes everyone else: per receiver, both senders at once.
  for (const to of Object.keys(receivers)) {
    const mine = directions.filter((d) => d.to === to);
    await explained(receivers[to].until((r) => mine.every((d) => {
      const x = of(d, r);
      return grew(x, null, 30, 50) && x.video.width > 0;
    }), `${names[to]} to decode video and receive audio from both others`, 90000));
  }
  const st0 = await pollStats(server, (st) => st.transports === 6 && st.transports_connected === 6,
    'six transports connected');
  assert.deepEqual(failedOrClosed(st0), [], JSON.stringify(st0));

  // Held: media keep flowing in all six directions, step after step, and no
  // transport fails or is closed. Each step waits, per receiver, for about
  // two more seconds' worth of audio and some more video frames from both
  // senders; a freeze fails the step.
  const start = Date.now();
  for (const to of Object.keys(receivers)) {
    const r = await receivers[to].read();
    for (const d of directions.filter((x) => x.to === to)) d.start = of(d, r);
  }
  let steps = 0;
  while (Date.now() - start < HOLD_MS) {
    for (const to of Object.keys(receivers)) {
      const mine = directions.filter((d) => d.to === to);
      const r = await explained(receivers[to].until((x) => mine.every((d) => grew(of(d, x), d.last || d.start, 10, 80)),
        `${names[to]} to keep decoding both others (${Math.round((Date.now() - start) / 1000)} s into the hold)`, 20000));
      for (const d of mine) d.last = of(d, r);
    }
    const st = await statsOf(server);
    assert.deepEqual(failedOrClosed(st), [], `a transport failed or was closed during the hold: ${JSON.stringify(st)}`);
    assert.equal(st.transports, 6);
    steps++;
  }
  const secs = (Date.now() - start) / 1000;
  for (const d of directions) {
    const v0 = d.start.video, v1 = d.last.video, a0 = d.start.audio, a1 = d.last.audio;
    const frames = v1.frames - v0.frames;
    const rate = d.to === 'gst' ? '' : `; framesPerSecond ${v1.fps}`;
    const lost = d.to === 'gst' ? '' : `, ${v1.lost} video / ${a1.lost} audio packets lost`;
    console.log(`# ${d.name}: video ${v1.width}x${v1.height}, ${frames} frames decoded in the hold ` +
      `(${(frames / secs).toFixed(1)} fps${rate}); audio ${a1.count - a0.count} ` +
      `${d.to === 'gst' ? 'buffers decoded' : 'packets received'}${lost}`);
  }
  for (const [who, page] of [['cr', cr], ['fx', fx]]) {
    const s = await page.evaluate(sent);
    console.log(`# ${names[who]} sends its camera at ${s.width}x${s.height}, ${s.frames} frames encoded, ` +
      `qualityLimitationReason ${s.limited}`);
  }
  const st = await statsOf(server);
  console.log(`# hold: ${secs.toFixed(0)} s in ${steps} steps; server: transports ${st.transports}, ` +
    `${failedOrClosed(st).length ? failedOrClosed(st).map(([k, v]) => `${k} ${v}`).join(', ') : 'transports_failed* 0, transports_closed 0'}, ` +
    `rtp_forwarded ${st.rtp_forwarded}, keyframe_requests ${st.keyframe_requests}`);
  assert.deepEqual(failedOrClosed(st), []);

  // Everyone leaves; webrtcbin's own account agrees: no transport closed
  // under it, no error, both transports connected throughout.
  const report = await gst.stop();
  gst = null;
  assert.deepEqual(report.transport_closed, [], JSON.stringify(report));
  assert.deepEqual(report.errors, [], JSON.stringify(report));
  for (const which of ['publish', 'subscribe'])
    assert.deepEqual(report[which].states.filter((s) => !['new', 'connecting', 'connected'].includes(s)), [],
      `webrtcbin's ${which} states: ${JSON.stringify(report[which].states)}`);
  console.log(`# webrtcbin (${report.gstreamer}): SRTP publish ${report.publish.srtp}, subscribe ${report.subscribe.srtp}; ` +
    `${report.subscribe.offers} subscribe offers`);
  await fx.click('#leave');
  await cr.click('#leave');
  await pollStats(server, (x) => x.participants === 0 && x.transports === 0, 'the meeting over');
  await fx.close();
  await cr.close();
  assert.deepEqual(errors, []);
});
