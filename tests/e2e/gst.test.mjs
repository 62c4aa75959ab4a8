// GStreamer's webrtcbin (tools/gst/parley-gst, webrtcbin's defaults but for
// max-bundle) and the web client in headless Chromium in one room, through
// the relay: Chromium decodes what webrtcbin publishes from an offer with
// bundle-only sections and no a=ssrc lines (the relay binds its packets by
// the MID header extension), webrtcbin decodes Chromium's video and its
// audio, and webrtcbin's transports, which libnice keeps alive with Binding
// indications and RTCP rather than consent checks, outlive the 30 s consent
// period with nothing failed or closed. Last, the same offer from a client
// that never runs ICE: its transport fails for "no check", counted per
// reason in /stats and logged with its participant.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, inboundByKind } from './browser.mjs';
import { startServer, stats } from './server.mjs';
import { runGst, decoded } from './gst.mjs';
import { connect, waitFor } from './client.mjs';

let server, browser, page, gst, gstOffer;
before(async () => {
  server = await startServer();
  browser = await launchChromium();
});
after(async () => {
  if (gst) {
    const report = await gst.stop();
    console.log(`# webrtcbin (${report.gstreamer}): SRTP publish ${report.publish.srtp}, ` +
      `subscribe ${report.subscribe.srtp}; ${report.subscribe.offers} subscribe offers`);
  }
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});


// What the page's camera track was encoded as: frames, and why it was
// limited, if it was (of its simulcast layers, the largest).
const outbound = async () => {
  const s = [...(await window.parley.publish.getStats()).values()]
    .filter((x) => x.type === 'outbound-rtp' && x.kind === 'video')
    .sort((x, y) => (y.frameWidth || 0) - (x.frameWidth || 0))[0];
  return s ? { frames: s.framesEncoded, limited: s.qualityLimitationReason,
    width: s.frameWidth, height: s.frameHeight } : null;
};

const failedOrClosed = (st) => Object.entries(st)
  .filter(([k, v]) => (k.startsWith('transports_failed') || k === 'transports_closed') && v !== 0);

test('Chromium decodes a webrtcbin publisher whose max-bundle offer names no SSRC', async () => {
  // webrtcbin leaves a=ssrc out when it makes the offer before its
  // payloaders settle their caps, which is a matter of timing on a loaded
  // machine: --no-ssrc takes them out always, as clients that signal less
  // do, so that the relay must bind the packets by MID every time.
  gst = runGst(server, ['--room', 'gst', '--name', 'webrtcbin', '--no-ssrc']);
  const { offer } = await gst.event((e) => e.event === 'published', 'webrtcbin\'s publish offer');
  gstOffer = offer;
  // The shape under test, as webrtcbin wrote it.
  assert.match(offer, /^a=group:BUNDLE \S+ \S+/m, offer);
  assert.equal((offer.match(/^m=/gm) || []).length, 2, offer);
  assert.equal((offer.match(/^a=bundle-only/gm) || []).length, 1, offer);
  assert.match(offer, /^m=audio 0 /m, offer);
  assert.doesNotMatch(offer, /^a=ssrc/m, offer);
  assert.match(offer, /^a=extmap:\d+ urn:ietf:params:rtp-hdrext:sdes:mid/m, offer);
  await gst.event((e) => e.event === 'connection-state' && e.transport === 'publish' &&
    e.state === 'connected', 'webrtcbin\'s publish transport to connect');

  page = await browser.newPage();
  await page.goto(`http://localhost:${server.port}/r/gst`);
  await page.fill('#name', 'Chromium');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  const got = await waitFor(() => inboundByKind(page), (g) => g.video?.frames > 60 && g.audio?.packets > 100,
    'Chromium to decode webrtcbin\'s video and receive its audio', { timeout: 30000, interval: 500 });
  assert.equal(got.video.width, 320, 'at webrtcbin\'s resolution');
  assert.equal(got.video.height, 240);
  const st = await stats(server);
  assert.equal(st.dropped_unknown_ssrc, 0, 'every packet of webrtcbin bound to its track');
  console.log(`# webrtcbin -> Chromium: ${got.video.frames} video frames decoded at ` +
    `${got.video.width}x${got.video.height}, ${got.audio.packets} audio packets`);
});

test('webrtcbin decodes Chromium\'s video and receives its audio', async () => {
  assert.ok(gst && page, 'the previous test set the room up');
  const ev = await gst.event((e) => {
    const d = decoded(e);
    return e.event === 'tracks' && d.video.some((v) => v.frames > 60 && v.width > 0) &&
      d.audio.some((a) => a.buffers > 100);
  }, 'webrtcbin to decode Chromium\'s video and audio');
  const d = decoded(ev);
  assert.equal(d.video.length, 1, JSON.stringify(ev));
  assert.equal(d.audio.length, 1, JSON.stringify(ev));
  const v = d.video[0], a = d.audio[0];
  assert.equal(v.source, 'camera');
  // At whatever size Chromium's encoder chose (it scales down under a low
  // bandwidth estimate; webrtcbin asks for no size, so the relay forwards
  // the largest layer it has), in its camera's aspect ratio (16:9).
  const cam = await page.evaluate(() => window.parley.stream.getVideoTracks()[0].getSettings());
  assert.ok(v.width >= 160 && v.width * cam.height === v.height * cam.width, JSON.stringify({ v, cam }));
  console.log(`# Chromium -> webrtcbin: ${v.frames} video frames decoded at ${v.width}x${v.height}, ` +
    `${a.buffers} audio buffers decoded`);
});

// In the whole suite (tools/test) three-stacks holds webrtcbin 90 s with
// the same checks in the release run: this one is left out there, and in
// the sanitizer build's run, which is for what the server does, not for
// how long (the consent timers run under the sanitizer in consent.test).
const covered = process.env.PARLEY_E2E_SUITE && 'three-stacks holds webrtcbin 90 s in the release run';
test('webrtcbin\'s transports outlive the consent period: 65 s, nothing failed or closed', { skip: covered }, async () => {
  assert.ok(gst && page, 'the first test set the room up');
  const connected = (t) => gst.events.find((e) => e.event === 'connection-state' &&
    e.transport === t && e.state === 'connected');
  await gst.event((e) => connected('subscribe'), 'webrtcbin\'s subscribe transport to connect');
  const since = Math.max(connected('publish').at, connected('subscribe').at);
  // The time watched is the thing measured: twice webrtcbin's keepalive
  // interval (25 s) and more than twice the relay's consent period.
  const last = await gst.event((e) => e.event === 'tracks' && e.at >= since + 65000,
    '65 s of webrtcbin connected', 90000);
  const st = await stats(server);
  assert.deepEqual(failedOrClosed(st), [], JSON.stringify(st));
  assert.equal(st.transports, 4, 'a publish and a subscribe transport each');
  const bad = gst.events.filter((e) => e.event === 'transport-closed' ||
    (e.event === 'connection-state' && e.state !== 'connecting' && e.state !== 'connected'));
  assert.deepEqual(bad, []);
  // Media still flows both ways at the end: webrtcbin keeps decoding, and
  // so does Chromium.
  const before = decoded(last).video[0].frames;
  const chromeBefore = (await inboundByKind(page)).video.frames;
  const later = await gst.event((e) => e.event === 'tracks' && e.at >= last.at + 3000 &&
    decoded(e).video[0].frames > before + 30, 'webrtcbin to keep decoding');
  const chrome = await waitFor(() => inboundByKind(page), (g) => g.video.frames > chromeBefore + 30,
    'Chromium to keep decoding');
  const secs = (later.at - since) / 1000;
  const sent = await page.evaluate(outbound);
  const v = decoded(later).video[0], a = decoded(later).audio[0];
  console.log(`# ${Math.round((last.at - since) / 1000)} s connected: transports failed 0, closed 0`);
  console.log(`# Chromium -> webrtcbin over ${secs.toFixed(0)} s: ${v.frames} frames ` +
    `(${(v.frames / secs).toFixed(1)}/s) at ${v.width}x${v.height}, ${a.buffers} audio buffers ` +
    `(Chromium encoded ${sent.frames} frames at ${sent.width}x${sent.height}, limited by ${sent.limited})`);
  console.log(`# webrtcbin -> Chromium: ${chrome.video.frames} frames at ` +
    `${chrome.video.width}x${chrome.video.height}, ${chrome.audio.packets} audio packets`);
});

test('a transport no check ever reaches fails as no_check, logged with its participant', async () => {
  assert.ok(gstOffer, 'the first test captured webrtcbin\'s offer');
  // webrtcbin's offer, published by a client that never runs ICE.
  const c = await connect(server, 'Silent');
  const joined = await c.request({ type: 'join', room: 'silent' });
  const answer = await c.request({ type: 'publish', sdp: gstOffer,
    sources: { video0: 'camera', audio1: 'microphone' } });
  assert.equal(answer.type, 'publish-answer', JSON.stringify(answer));
  const before = await stats(server);
  const closed = await c.next((m) => m.type === 'transport-closed', 40000, 'transport-closed');
  assert.equal(closed.transport, 'publish');
  const st = await stats(server);
  assert.equal(st.transports_failed_no_check - before.transports_failed_no_check, 1, JSON.stringify(st));
  assert.equal(st.transports_failed, before.transports_failed + 1);
  const line = server.output().split('\n').find((l) => l.includes('(no_check)'));
  assert.ok(line && line.includes(joined.participant.id), server.output());
  console.log(`# ${line.trim()}`);
  await c.close();
});
