// The web client in headless Chromium against the real server: a
// participant joins through the start page and publishes camera and
// microphone; the browser's ICE, DTLS and SRTP must come up with Parley's
// ICE-lite, DTLS-passive transport and media must flow to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, pageUntil } from './browser.mjs';
import { startServer, pollStats } from './server.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
let server, browser;

before(async () => {
  // The publisher here is alone: with dynacast the relay would ask it to
  // send its smallest layer only, and the uplink measured below is that of
  // a camera sent at full size.
  server = await startServer(['--no-dynacast']);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

test('a browser joins, publishes, and its media reaches the server over DTLS-SRTP', async () => {
  // localhost, so that the page is a secure context with mediaDevices.
  const page = await browser.newPage();
  await page.goto(`http://localhost:${server.port}/r/e2e-room`);
  await page.fill('#name', 'Chromium');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  assert.equal(await page.textContent('#room-name'), 'e2e-room');

  await pageUntil(page, () => window.parley.publish?.connectionState || 'no peer connection',
    (s) => s === 'connected', 'the publish peer connection connected', { timeout: 20000, interval: 250 });

  const sent = await pageUntil(page, async () => {
    const stats = await window.parley.publish.getStats();
    const out = {};
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp') out[s.kind] = (out[s.kind] || 0) + s.packetsSent;
      if (s.type === 'transport') pair = { dtls: s.dtlsState, srtp: s.srtpCipher, tls: s.tlsVersion };
    });
    return { out, pair };
  }, (s) => s.out.video > 100 && s.out.audio > 50, 'the browser sending audio and video',
  { timeout: 20000, interval: 250 });
  assert.equal(sent.pair.dtls, 'connected');
  assert.equal(sent.pair.srtp, 'SRTP_AEAD_AES_128_GCM'); // Parley's preferred profile
  // The server decrypted the browser's SRTP: count what its workers took in.
  await pollStats(server, (st) => st.transports === 1 && st.rtp_in > 150 && st.participants === 1,
    'one participant, one transport and over 150 RTP packets in');
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, 'e2e-publish.png') });
  await page.close();
});

// The relay tells the browser what arrives (transport-wide feedback), so
// Chrome's send-side estimate grows past its start value and the camera
// goes out at full quality. Without feedback the estimate never grows and
// the camera stays at a few tens of kbit/s, in its smallest simulcast layer
// only.
test('with transport-wide feedback the browser\'s estimate grows and its camera goes out at full size', async () => {
  const page = await browser.newPage();
  await page.goto(`http://localhost:${server.port}/r/e2e-quality`);
  await page.fill('#name', 'Chromium');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  const sample = async () => {
    const pc = window.parley.publish;
    if (!pc) return null;
    const out = { at: performance.now() };
    const stats = await pc.getStats();
    // The pair the transport selected: with ICE-TCP candidates another pair
    // can be nominated too, without an estimate of its own.
    let selected = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) selected = s.selectedCandidatePairId; });
    stats.forEach((s) => {
      if (s.type === 'candidate-pair' && s.id === selected) out.estimate = s.availableOutgoingBitrate || 0;
      // The camera's simulcast layers: bytes of all, the rest of the
      // full-size one (rid f).
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.bytes = (out.bytes || 0) + s.bytesSent;
        if (s.rid !== 'f') return;
        out.width = s.frameWidth;
        out.height = s.frameHeight;
        out.fps = s.framesPerSecond;
        out.limit = s.qualityLimitationReason;
      }
    });
    return out;
  };
  const start = await pageUntil(page, sample, (s) => s?.bytes > 0, 'the camera sending',
    { timeout: 20000, interval: 250 });
  // The estimate is the network's figure, whatever the CPU lets the
  // encoder do: over 1 Mbit/s on loopback once the feedback flows.
  await pageUntil(page, sample, (s) => s.estimate > 1000000,
    'the browser\'s outgoing estimate over 1 Mbit/s', { timeout: 25000, interval: 500 });
  // Then what the camera sends over a 10 s window (the measurement).
  const from = await page.evaluate(sample);
  await new Promise((r) => setTimeout(r, 10000));
  const to = await page.evaluate(sample);
  const kbps = Math.round(((to.bytes - from.bytes) * 8) / (to.at - from.at));
  const st = await pollStats(server, (s) => s.feedback_sent > 0, 'feedback sent to the publisher');
  console.log(`# publisher ${Math.round((to.at - start.at) / 1000)} s after its first packet: ` +
    `estimate ${Math.round(to.estimate / 1000)} kbit/s, sent ${kbps} kbit/s over the last 10 s, ` +
    `full-size layer ${to.width}x${to.height} at ${to.fps} fps, quality limited by ${to.limit}; ` +
    `${st.feedback_sent} feedback packets from the relay`);
  assert.ok(to.estimate > 1000000, `the estimate stayed over 1 Mbit/s (${to.estimate})`);
  // Full size, unless this machine's CPU is what holds the encoder back.
  assert.ok((to.width === 1280 && to.height === 720) || to.limit === 'cpu',
    `the camera's full-size layer goes out at 1280x720 (${to.width}x${to.height}, limited by ${to.limit})`);
  assert.ok(kbps > 250 || to.limit === 'cpu', `the camera sends over 250 kbit/s (${kbps})`);
  await page.close();
});
