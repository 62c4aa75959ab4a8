// A browser participant on a lossy link: nftables drops 5% of the UDP
// datagrams to and from the server's media port (both directions, on
// loopback), and for 60 s the page keeps decoding a bot's video with no
// stall longer than 1 s, per getStats; NACK/RTX through the relay repairs
// what is lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { launchChromium, pageUntil } from './browser.mjs';
import { startServer } from './server.mjs';
import { runBots } from './bots.mjs';

let server, browser, table;
before(async () => {
  // Without ICE-TCP: the loss is applied to the relay's UDP, which a pair
  // nominated over TCP would not see.
  server = await startServer(['--no-ice-tcp']);
  browser = await launchChromium();
  table = `parley_loss_${server.mediaPort}`;
  const nft = (...args) => execFileSync('nft', args, { stdio: 'pipe' });
  nft('add', 'table', 'inet', table);
  nft('add', 'chain', 'inet', table, 'in', '{ type filter hook input priority 0; }');
  for (const dir of ['dport', 'sport'])
    nft('add', 'rule', 'inet', table, 'in', 'iifname', 'lo', 'udp', dir, String(server.mediaPort),
      'numgen', 'random', 'mod', '100', '<', '5', 'counter', 'drop');
});
after(async () => {
  if (table) execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'pipe' });
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

test('under 5% loss a browser decodes for 60 s without a stall over 1 s', async () => {
  const bot = runBots(server, ['--room', 'lossy-web', '--per-room', '1', '--seconds', '90']);
  const page = await browser.newPage();
  await page.goto(`http://localhost:${server.port}/r/lossy-web`);
  await page.fill('#name', 'Chromium');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  const statsIn = async () => {
    const pc = window.parley.subscribe;
    const out = { frames: 0, nacks: 0, lost: 0, freezes: 0, freezeSeconds: 0 };
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
      out.frames += s.framesDecoded || 0;
      out.nacks += s.nackCount || 0;
      out.lost += s.packetsLost || 0;
      out.freezes += s.freezeCount || 0;
      out.freezeSeconds += s.totalFreezesDuration || 0;
    });
    return out;
  };
  const stats = () => page.evaluate(statsIn);
  // Wait for the first frames, then watch for 60 s.
  let s = await pageUntil(page, statsIn, (x) => x.frames >= 30, 'the bot\'s video to start',
    { timeout: 20000, interval: 250 });
  const start = { ...s };
  let lastFrames = s.frames, lastChange = Date.now(), longest = 0;
  const end = Date.now() + 60000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250)); // sampling the 60 s watched
    s = await stats();
    const now = Date.now();
    if (s.frames > lastFrames) {
      longest = Math.max(longest, now - lastChange);
      lastFrames = s.frames;
      lastChange = now;
    }
  }
  longest = Math.max(longest, Date.now() - lastChange);
  const dropped = execFileSync('nft', ['list', 'table', 'inet', table], { encoding: 'utf8' });
  const packets = [...dropped.matchAll(/packets (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  console.log(`# 60 s under loss: ${s.frames - start.frames} frames, longest stall ${longest} ms, ` +
    `NACKs ${s.nacks - start.nacks}, freezes ${s.freezes - start.freezes} ` +
    `(${(s.freezeSeconds - start.freezeSeconds).toFixed(2)} s), datagrams dropped ${packets}`);
  assert.ok(packets > 100, 'the network did drop packets');
  assert.ok(s.nacks > start.nacks, 'the browser asked for retransmissions');
  assert.ok(s.frames - start.frames > 60 * 20, `decoding went on: ${s.frames - start.frames} frames in 60 s`);
  assert.ok(longest < 1000, `longest stall between decoded frames: ${longest} ms`);
  bot.kill();
  await bot.done;
  await page.close();
});
