// ICE over TCP. Bots told to use TCP only meet one over UDP. And a
// participant whose network lets no UDP out: Chromium in
// a network namespace whose nftables drop every UDP packet it sends joins
// two bots through the relay's passive TCP candidate (RFC 6544). Both of
// its peer connections must select a TCP pair, it must decode both bots,
// and both bots must decode it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, inbound } from './browser.mjs';
import { startServer, stats, pollStats, downlinkLine } from './server.mjs';
import { runBots, fastBotBin, describe } from './bots.mjs';
import { createNetwork } from './netns.mjs';
import { waitFor } from './client.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let net, server, browser;
before(async () => {
  net = createNetwork();
  server = await startServer(['--bind', '0.0.0.0', '--announce-ip', net.serverAddr]);
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  net?.destroy();
  assert.equal(code, 0, server.output());
});

// Chromium inside the participant's namespace.
function chromiumIn(p, origin) {
  return launchChromium([`--unsafely-treat-insecure-origin-as-secure=${origin}`], { netns: p.ns });
}

// Runs in the page: the selected candidate pair of one peer connection,
// with its local and remote candidates.
const selectedPair = async (which) => {
  const pc = window.parley[which];
  if (!pc) return null;
  const all = [...(await pc.getStats()).values()];
  const transport = all.find((s) => s.type === 'transport');
  const pair = all.find((s) => s.id === transport?.selectedCandidatePairId);
  if (!pair) return { state: pc.connectionState };
  const local = all.find((s) => s.id === pair.localCandidateId);
  const remote = all.find((s) => s.id === pair.remoteCandidateId);
  const c = (x) => x && { protocol: x.protocol, type: x.candidateType, tcpType: x.tcpType,
    address: x.address, port: x.port };
  return { state: pc.connectionState, pair: pair.state, local: c(local), remote: c(remote),
    bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived };
};

// Bots told to use TCP only (parley-bot --ice-tcp) and a bot over UDP in
// one room: everyone decodes everyone, the right picture and tone, with
// no corrupt frame, through two connections per TCP bot.
test('bots over ICE-TCP and over UDP decode each other', async () => {
  const room = 'mixed';
  // Three identities in both processes, so that each reads the others' right.
  const common = ['--room', room, '--seconds', '8', '--bind', '0.0.0.0', '--clips', '3'];
  const tcpBots = runBots(server, [...common, '--per-room', '2', '--ice-tcp'], fastBotBin);
  const udpBot = runBots(server, [...common, '--per-room', '1', '--first-index', '2'], fastBotBin);
  const during = await pollStats(server, (st) => st.tcp_connections === 4,
    'two TCP connections per TCP bot', { timeout: 15000, interval: 200 });
  const reports = [await tcpBots.done, await udpBot.done];
  const bots = reports.flatMap((r) => r.bots);
  // The relay's account of the downlinks, for a video that fell short.
  const relay = downlinkLine(await stats(server));
  const text = reports.map(describe).join('\n');
  assert.equal(bots.length, 3);
  for (const b of bots) {
    assert.equal(b.errors, 0, `${b.name}: ${b.last_error}`);
    const others = bots.filter((o) => o !== b).map((o) => o.name).sort();
    for (const kind of ['audio', 'video']) {
      const from = b.streams.filter((x) => x.kind === kind).map((x) => x.from).sort();
      assert.deepEqual(from, others, `${b.name} receives ${kind} from both others\n${text}`);
    }
    for (const x of b.streams) {
      assert.ok(x.decoded, `${b.name} decodes ${x.from}/${x.kind}`);
      assert.equal(x.decoded.identity_ok, true, `${b.name} <- ${x.from}: ${JSON.stringify(x.decoded)}`);
      if (x.kind === 'video') {
        assert.ok(x.decoded.frames > 120, `${b.name} <- ${x.from}: ${x.decoded.frames} frames; ${relay}`);
        assert.equal(x.decoded.corrupt, 0);
      } else {
        assert.ok(x.decoded.frames > 200, `${b.name} <- ${x.from}: ${x.decoded.frames} audio frames`);
        assert.equal(x.decoded.errors, 0);
      }
    }
  }
  assert.equal(during.tcp_dropped_garbage + during.tcp_dropped_oversized + during.tcp_dropped_slow +
    during.tcp_send_dropped, 0, JSON.stringify(during));
  await pollStats(server, (st) => st.tcp_connections === 0 && st.transports === 0,
    'the TCP bots\' connections closed with their transports', { timeout: 15000, interval: 200 });
});

test('a browser without UDP meets two bots over ICE-TCP, both ways', async () => {
  const p = net.add('tcp');
  p.blockUdp();
  const origin = `http://${net.serverAddr}:${server.port}`;
  browser = await chromiumIn(p, origin);

  const room = 'icetcp';
  // The bots stay 24 s, then leave by themselves: what they decode of the
  // browser is most of that time.
  const bots = runBots(server, ['--room', room, '--per-room', '2', '--seconds', '24',
    '--bind', '0.0.0.0'], fastBotBin);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/r/${room}`);
  await page.fill('#name', 'NoUDP');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');

  // Both of the browser's peer connections run over TCP to the relay's
  // passive candidate.
  for (const which of ['publish', 'subscribe']) {
    const sel = await waitFor(() => page.evaluate(selectedPair, which),
      (s) => s?.state === 'connected' && s.local && s.remote,
      `the browser's ${which} connection to select a pair`, { timeout: 30000, interval: 500 });
    console.log(`${which}: ${JSON.stringify(sel)}`);
    assert.equal(sel.local.protocol, 'tcp', `${which}: local candidate ${JSON.stringify(sel)}`);
    assert.equal(sel.remote.protocol, 'tcp', `${which}: remote candidate ${JSON.stringify(sel)}`);
    assert.equal(sel.remote.address, net.serverAddr);
    assert.equal(sel.remote.port, server.mediaPort);
  }

  // The browser decodes both bots' video and receives both tones.
  const got = await waitFor(() => page.evaluate(inbound), (m) => {
    const s = Object.values(m);
    return s.filter((x) => x.kind === 'video' && x.frames > 90).length === 2 &&
      s.filter((x) => x.kind === 'audio' && x.packets > 150 && x.energy > 0).length === 2;
  }, 'the browser to decode both bots over TCP', { timeout: 45000, interval: 500 });
  console.log(`browser receives: ${JSON.stringify(got)}`);
  for (const s of Object.values(got).filter((x) => x.kind === 'video'))
    assert.equal(s.width, 320, `at the bots' resolution: ${JSON.stringify(s)}`);
  fs.mkdirSync(path.join(root, 'build'), { recursive: true });
  await page.screenshot({ path: path.join(root, 'build', 'ice-tcp-browser.png') });

  const st = await stats(server);
  console.log(`udp dropped in the namespace: ${p.udpDropped()}; server tcp: ` +
    JSON.stringify(Object.fromEntries(Object.entries(st).filter(([k]) => k.startsWith('tcp_')))));
  assert.ok(p.udpDropped() > 0, 'the browser tried UDP and the namespace dropped it');
  assert.ok(st.tcp_connections >= 2, `a TCP connection per peer connection: ${JSON.stringify(st)}`);
  assert.equal(st.tcp_dropped_garbage + st.tcp_dropped_oversized + st.tcp_dropped_slow, 0,
    JSON.stringify(st));
  const report = await bots.done;
  for (const b of report.bots) {
    assert.equal(b.errors, 0, b.last_error);
    const video = b.streams.find((s) => s.from === 'NoUDP' && s.kind === 'video');
    const audio = b.streams.find((s) => s.from === 'NoUDP' && s.kind === 'audio');
    assert.ok(video && audio, `${b.name} subscribed to the browser:\n${describe(report)}`);
    console.log(`${b.name} <- NoUDP: video ${JSON.stringify(video.decoded)}, audio ` +
      JSON.stringify(audio.decoded));
    // At least 10 s of the browser's 30 frames and 50 audio packets a second.
    assert.ok(video.decoded.frames > 300, `${b.name} decodes the browser's VP8: ${JSON.stringify(video)}`);
    assert.equal(video.decoded.corrupt, 0);
    assert.ok(audio.decoded.frames > 500, `${b.name} decodes the browser's Opus: ${JSON.stringify(audio)}`);
    assert.equal(audio.decoded.errors, 0);
  }
  assert.deepEqual(errors, []);
  await page.close();
  await pollStats(server, (s) => s.tcp_connections === 0, 'the browser\'s TCP connections to close',
    { timeout: 40000, interval: 500 });
});
