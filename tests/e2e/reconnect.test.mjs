// The web client comes back by itself: when the server restarts under a
// meeting, the page says it is reconnecting, joins the new server within
// 10 s, and sees and sends video again (here with a bot, which rejoins by
// itself too).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, pageUntil } from './browser.mjs';
import { startServer } from './server.mjs';
import { runBots } from './bots.mjs';

let browser;
const servers = [];
before(async () => { browser = await launchChromium(); });
after(async () => {
  await browser?.close();
  for (const s of servers) {
    const { code } = await s.stop();
    assert.equal(code, 0, s.output());
  }
});

const videoFrames = async () => {
  const pc = window.parley.subscribe;
  if (!pc) return 0;
  let frames = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0; });
  return frames;
};

const until = (page, fn, pred, what, ms) => pageUntil(page, fn, pred, what, { timeout: ms });

test('after a server restart the web client reconnects by itself and media flows again', async () => {
  const first = await startServer();
  const bot = runBots(first, ['--room', 'comeback', '--per-room', '1', '--seconds', '45']);
  const page = await browser.newPage();
  await page.goto(`http://localhost:${first.port}/r/comeback`);
  await page.fill('#name', 'Chromium');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');
  await until(page, videoFrames, (f) => f > 30, 'the bot\'s video before the restart', 20000);
  const before = await page.evaluate(() => window.parley.session.participant);

  const { code } = await first.stop();
  assert.equal(code, 0, first.output());
  await until(page, () => document.querySelector('#conn-state').textContent,
    (t) => t === 'Reconnecting…', 'the page says it is reconnecting', 5000);
  const second = await startServer([], { port: first.port, mediaPort: first.mediaPort });
  servers.push(second);

  // A new session on the new server: new participant, new peer connections.
  await until(page, () => ({ p: window.parley.session.participant, shown: !document.querySelector('#conn-state').hidden }),
    (s) => s.p && s.p !== before && !s.shown, 'joined the new server', 10000);
  await until(page, () => window.parley.publish?.connectionState, (s) => s === 'connected',
    'publishing again', 10000);
  await until(page, videoFrames, (f) => f > 30, 'the bot\'s video after the restart', 10000);
  bot.kill();
  const report = await bot.done;
  assert.equal(report.bots[0].rejoins, 1);
  const fromPage = report.bots[0].streams.filter((s) => s.from === 'Chromium' && s.kind === 'video');
  assert.ok(fromPage.some((s) => s.decoded?.frames > 10), `the bot decodes the page again: ${JSON.stringify(fromPage)}`);
  await page.close();
});
