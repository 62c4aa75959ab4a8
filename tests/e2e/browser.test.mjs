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
  server = await startServer();
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
