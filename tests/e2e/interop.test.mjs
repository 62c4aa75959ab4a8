// A browser (the web client in headless Chromium) and a native bot in one
// room: each decodes the other's audio and video, both ways through the relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, inboundByKind } from './browser.mjs';
import { startServer, stats } from './server.mjs';
import { runBots } from './bots.mjs';
import { waitFor } from './client.mjs';

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


test('a browser and a bot see and hear each other', async () => {
  const bot = runBots(server, ['--room', 'interop', '--per-room', '1', '--seconds', '60']);
  const page = await browser.newPage();
  await page.goto(`http://localhost:${server.port}/r/interop`);
  await page.fill('#name', 'Chromium');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');

  const got = await waitFor(() => inboundByKind(page),
    (g) => g.video?.frames > 60 && g.audio?.packets > 100 && g.audio.energy > 0,
    'the browser to decode the bot\'s video and play its tone', { timeout: 30000, interval: 500 });
  assert.equal(got.video.width, 320, 'at the bot\'s resolution');
  // The bot's tile shows its name.
  await page.locator('#tiles figure[data-participant] figcaption', { hasText: 'bot-0' }).first()
    .waitFor({ timeout: 10000 });

  // The bot has had enough of the browser's media once the relay forwarded
  // it 500 packets: all the relay forwarded less what the browser received,
  // read after it, is at most what went to the bot (give or take what was
  // on the wire). Then the bot is ended.
  await waitFor(async () => {
    const forwarded = (await stats(server)).rtp_forwarded;
    const g = await inboundByKind(page);
    return { forwarded, toBrowser: (g.video?.packets || 0) + (g.audio?.packets || 0) };
  }, (x) => x.forwarded - x.toBrowser > 500, 'the relay to forward 500 of the browser\'s packets to the bot',
  { timeout: 30000, interval: 250 });
  bot.kill();
  const report = await bot.done;
  await page.close();
  const b = report.bots[0];
  assert.equal(b.errors, 0, b.last_error);
  const fromBrowser = b.streams.filter((s) => s.from === 'Chromium');
  const video = fromBrowser.find((s) => s.kind === 'video');
  const audio = fromBrowser.find((s) => s.kind === 'audio');
  assert.ok(video && audio, `the bot subscribed to the browser: ${JSON.stringify(b.streams)}`);
  assert.ok(video.decoded.frames > 60, `the bot decodes the browser's VP8: ${JSON.stringify(video)}`);
  assert.equal(video.decoded.corrupt, 0);
  assert.ok(audio.decoded.frames > 100, `the bot decodes the browser's Opus: ${JSON.stringify(audio)}`);
  assert.equal(audio.decoded.errors, 0);
});
