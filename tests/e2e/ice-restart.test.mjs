// ICE restarts with real browsers: one asked for on the publish transport
// (RTCPeerConnection.restartIce), and both transports after the WebSocket
// is killed under a meeting (the session resumes, the server's subscribe
// offer carries new credentials, the client restarts its publish side).
// New credentials must be answered by the relay: the browser's selected
// candidate pair moves to one it checked with them, and video keeps
// decoding across.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { launchChromium, videoFrames, iceOf } from './browser.mjs';
import { startServer } from './server.mjs';
import { waitFor } from './client.mjs';

let server, browser;
const pages = {};

before(async () => {
  server = await startServer();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
  for (const name of ['Ada', 'Bob']) {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => { throw e; });
    await page.goto(`http://localhost:${server.port}/r/restart`);
    await page.fill('#name', name);
    await page.click('button[type=submit]');
    pages[name] = page;
  }
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

// Killing sockets takes this process's pooled HTTP connection too: retry.
async function stats() {
  for (let i = 0; ; i++) {
    try { return await (await fetch(`${server.adminUrl}/stats`)).json(); } catch (e) { if (i === 3) throw e; }
  }
}

const frames = (page) => page.evaluate(videoFrames);

const until = (what, fn, ms = 20000) => waitFor(fn, (last) => last?.done, what, { timeout: ms, interval: 250 });
// The server's counters until pred holds (stats() retries killed sockets).
const statsUntil = (pred, what) => waitFor(stats, pred, `${what} (server /stats)`);

// The video each side decodes keeps growing for a while.
async function keepsDecoding() {
  const before = { a: await frames(pages.Ada), b: await frames(pages.Bob) };
  await until('video keeps decoding', async () => {
    const a = await frames(pages.Ada), b = await frames(pages.Bob);
    return { done: a > before.a + 30 && b > before.b + 30, a, b, before };
  });
}

// The transport came back with new server credentials on a pair checked
// with them: a pair that did not exist before, answered, and in use.
async function restarted(page, which, old) {
  return until(`${which} ICE restart`, async () => {
    const now = await iceOf(page, which);
    return { ...now, done: !!now && now.ufrag !== old.ufrag && now.pair !== old.pair &&
      now.state === 'succeeded' && now.responses > 0 && now.connection === 'connected' };
  });
}

test('a browser restarts ICE on its publish transport and media carries on', async () => {
  await until('both decode', async () => {
    const a = await frames(pages.Ada), b = await frames(pages.Bob);
    return { done: a > 20 && b > 20, a, b };
  });
  const old = await iceOf(pages.Ada, 'publish');
  assert.equal(old.connection, 'connected');
  await pages.Ada.evaluate(() => window.parley.restartPublish());
  const now = await restarted(pages.Ada, 'publish', old);
  assert.notEqual(now.ufrag, old.ufrag, 'the answer carries new server credentials');
  await keepsDecoding();
  // The same transports, restarted, not new ones.
  await statsUntil((st) => st.participants === 2 && st.transports === 4, 'two participants, four transports');
});

test('killed WebSockets resume and restart ICE on both transports of both browsers', async () => {
  const before = {};
  for (const n of ['Ada', 'Bob'])
    before[n] = { publish: await iceOf(pages[n], 'publish'), subscribe: await iceOf(pages[n], 'subscribe'),
      participant: await pages[n].evaluate(() => window.parley.session.participant) };
  // The connections die without a close handshake (a network drop).
  execFileSync('ss', ['-K', `dport = :${server.port}`], { stdio: 'pipe' });
  await until('both resumed', async () => {
    const st = await stats();
    return { done: st.resumed >= 2 && st.detached === 0 && st.connections === 2, st };
  });
  for (const n of ['Ada', 'Bob']) {
    await restarted(pages[n], 'subscribe', before[n].subscribe);
    await restarted(pages[n], 'publish', before[n].publish);
    assert.equal(await pages[n].evaluate(() => window.parley.session.participant), before[n].participant,
      `${n} is the same participant`);
  }
  await keepsDecoding();
  const st = await statsUntil((x) => x.participants === 2 && x.transports === 4, 'two participants, four transports');
  assert.equal(st.timed_out, 0);
});
