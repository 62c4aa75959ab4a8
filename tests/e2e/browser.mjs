// Headless Chromium as the tests drive it (Debian's chromium, playwright-core):
// fake camera, microphone and screen, no network besides loopback (or a
// network namespace's, netns.mjs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { waitFor } from './client.mjs';

// An executable that runs Chromium inside network namespace ns (netns.mjs),
// for playwright's executablePath: playwright talks to it over pipes, which
// `ip netns exec` passes on. It is needed only until Chromium started.
function chromiumInNamespace(ns) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-chromium-')), 'chromium');
  fs.writeFileSync(file, `#!/bin/sh\nexec ip netns exec '${ns}' /usr/bin/chromium "$@"\n`, { mode: 0o755 });
  return file;
}

// {netns}: the browser runs in that network namespace.
export function launchChromium(extraArgs = [], { netns } = {}) {
  const executablePath = netns ? chromiumInNamespace(netns) : '/usr/bin/chromium';
  const launched = chromium.launch({ executablePath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', ...extraArgs] });
  if (!netns) return launched;
  const gone = () => fs.rmSync(path.dirname(executablePath), { recursive: true, force: true });
  return launched.finally(gone);
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

// Hands onError a Chromium page's uncaught errors and every one of the
// server's files it failed to load (a script that did not load shows later
// only as a name that is not defined). Chromium only: Firefox's driver
// answers these network events with UnsupportedOperation.
export function watchPage(page, onError) {
  page.on('pageerror', (e) => onError(e.message));
  const own = (r) => ['document', 'script', 'stylesheet'].includes(r.resourceType()) &&
    /^https?:/.test(r.url());
  page.on('requestfailed', (r) => {
    if (own(r)) onError(`${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (own(r.request()) && r.status() >= 400) onError(`${r.url()}: HTTP ${r.status()}`);
  });
}

// A new page of either browser at url, its uncaught errors handed to onError.
export async function openPage(browser, url, onError) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => onError(e.message));
  await page.goto(url);
  return page;
}
