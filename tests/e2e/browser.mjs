// Headless Chromium as the tests drive it (Debian's chromium, playwright-core):
// fake camera, microphone and screen, no network besides loopback.
import { chromium } from 'playwright-core';
import { waitFor } from './client.mjs';

// `executablePath` may be a wrapper that runs Chromium elsewhere (say, in a
// network namespace: `exec ip netns exec NS /usr/bin/chromium "$@"`).
export function launchChromium(extraArgs = [], { executablePath = '/usr/bin/chromium' } = {}) {
  return chromium.launch({ executablePath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', ...extraArgs] });
}

// Runs in the page (page.evaluate(inbound)), in Chromium and Firefox: per
// track the subscribe peer connection is receiving now (by mid), its kind,
// frames decoded with their size and rate, packets received and lost, and
// the audio energy.
export const inbound = async () => {
  const pc = window.parley.subscribe;
  if (!pc) return {};
  const stats = await pc.getStats();
  const out = {};
  for (const t of pc.getTransceivers()) {
    if (!t.receiver.track || t.currentDirection !== 'recvonly') continue;
    const s = [...stats.values()].find((x) => x.type === 'inbound-rtp' && x.mid === t.mid);
    if (s) {
      out[t.mid] = { kind: s.kind, frames: s.framesDecoded || 0, packets: s.packetsReceived || 0,
        lost: s.packetsLost || 0, width: s.frameWidth || 0, height: s.frameHeight || 0,
        fps: s.framesPerSecond || 0, energy: s.totalAudioEnergy || 0 };
    }
  }
  return out;
};

// What a page with one other participant receives, by kind.
export const inboundByKind = (page) => page.evaluate(inbound)
  .then((m) => Object.fromEntries(Object.values(m).map((s) => [s.kind, s])));

// Runs in the page: video frames decoded from everyone, in all.
export const videoFrames = async () => {
  const pc = window.parley.subscribe;
  let n = 0;
  for (const s of (await pc?.getStats() || new Map()).values())
    if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0;
  return n;
};

// Polls fn in the page (page.evaluate(fn, arg)) until pred holds for what
// it returns, and returns that; throws with what was awaited and the last
// reading after `timeout` ms.
export function pageUntil(page, fn, pred, what, { timeout = 15000, interval = 200, arg } = {}) {
  return waitFor(() => page.evaluate(fn, arg), pred, what, { timeout, interval });
}

// Polls what a page receives (inbound) until pred holds; throws with the
// last reading after ms.
export function receives(page, pred, what, ms = 30000) {
  return pageUntil(page, inbound, pred, what, { timeout: ms, interval: 500 });
}

// Whether the element is shown: present, not inside anything hidden, laid out.
export const visible = (page, sel) => page.evaluate((s) => {
  const el = document.querySelector(s);
  return !!el && !el.closest('[hidden]') && el.getClientRects().length > 0;
}, sel);

// What a page's peer connection (window.parley[which]) shows of its ICE, in
// Chromium and Firefox: the server's ufrag in the remote description, and
// the selected pair (id, state, responses to the browser's checks).
export const iceOf = (page, which) => page.evaluate(async (w) => {
  const pc = window.parley[w];
  if (!pc || !pc.remoteDescription) return null;
  const ufrag = /a=ice-ufrag:(\S+)/.exec(pc.remoteDescription.sdp)[1];
  const all = [...(await pc.getStats()).values()];
  const transport = all.find((s) => s.type === 'transport');
  const pair = all.find((s) => s.id === transport?.selectedCandidatePairId);
  return { ufrag, pair: pair?.id, state: pair?.state, responses: pair?.responsesReceived || 0,
    connection: pc.connectionState };
}, which);

// A new page of either browser at url, its uncaught errors handed to onError.
export async function openPage(browser, url, onError) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => onError(e.message));
  await page.goto(url);
  return page;
}
