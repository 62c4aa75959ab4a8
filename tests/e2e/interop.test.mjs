// A browser (the web client in headless Chromium) and a native bot in one
// room: each decodes the other's audio and video, both ways through the relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { runBots } from './bots.mjs';

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

// What the page decodes, per remote participant and kind.
const inbound = async () => {
  const pc = window.parley.subscribe;
  if (!pc) return {};
  const stats = await pc.getStats();
  const out = {};
  for (const t of pc.getTransceivers()) {
    if (!t.receiver.track || t.currentDirection !== 'recvonly') continue;
    const s = [...stats.values()].find((x) => x.type === 'inbound-rtp' && x.mid === t.mid);
    if (!s) continue;
    out[s.kind] = { frames: s.framesDecoded || 0, packets: s.packetsReceived || 0,
      width: s.frameWidth || 0, energy: s.totalAudioEnergy || 0 };
  }
  return out;
};

test('a browser and a bot see and hear each other', async () => {
  const bot = runBots(server, ['--room', 'interop', '--per-room', '1', '--seconds', '60']);
  const page = await browser.newPage();
  await page.goto(`http://localhost:${server.port}/r/interop`);
  await page.fill('#name', 'Chromium');
  await page.click('button[type=submit]');
  await page.waitForSelector('#meeting:not([hidden])');

  const deadline = Date.now() + 30000;
  let got = {};
  while (Date.now() < deadline) {
    got = await page.evaluate(inbound);
    if (got.video?.frames > 60 && got.audio?.packets > 100 && got.audio.energy > 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(got.video?.frames > 60, `the browser decodes the bot's video: ${JSON.stringify(got)}`);
  assert.equal(got.video.width, 320, 'at the bot\'s resolution');
  assert.ok(got.audio?.packets > 100 && got.audio.energy > 0, `the browser plays the bot's tone: ${JSON.stringify(got)}`);
  // The bot's tile shows its name.
  assert.equal(await page.locator('#tiles figure[data-participant] figcaption', { hasText: 'bot-0' }).count() > 0, true);

  // Let the bot collect a few seconds of the browser's media, then end it.
  await new Promise((r) => setTimeout(r, 3000));
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
