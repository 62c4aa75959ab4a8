// Headless Chromium as the tests drive it (Debian's chromium, playwright-core):
// fake camera, microphone and screen, no network besides loopback.
import { chromium } from 'playwright-core';

export function launchChromium(extraArgs = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', ...extraArgs] });
}

// Runs in the page (page.evaluate(inbound)): per received track of the
// subscribe peer connection (by mid), its kind, frames decoded and packets.
export const inbound = async () => {
  const pc = window.parley.subscribe;
  if (!pc) return {};
  const stats = await pc.getStats();
  const out = {};
  for (const t of pc.getTransceivers()) {
    if (!t.receiver.track || t.currentDirection !== 'recvonly') continue;
    const s = [...stats.values()].find((x) => x.type === 'inbound-rtp' && x.mid === t.mid);
    if (s) out[t.mid] = { kind: s.kind, frames: s.framesDecoded || 0, packets: s.packetsReceived || 0 };
  }
  return out;
};

// Runs in the page: video frames decoded from everyone, in all.
export const videoFrames = async () => {
  const pc = window.parley.subscribe;
  let n = 0;
  for (const s of (await pc?.getStats() || new Map()).values())
    if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0;
  return n;
};

// Polls what a page receives (inbound) until pred holds; throws with the
// last reading after ms.
export async function waitFor(page, pred, what, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await page.evaluate(inbound);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: ${JSON.stringify(last)}`);
}
