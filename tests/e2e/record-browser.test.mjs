// A meeting of three Chromium pages recorded through the web client. Each
// page's microphone is a WebAudio tone of its own (440, 660, 880 Hz:
// Chromium's fake microphone beeps the same on every page), its camera
// Chromium's fake one in the client's three simulcast layers. Two pages
// meet, one starts the recording with the Record button, the third joins
// about 5 s into it and shows the indicator at once; every page shows the
// indicator, sampled through the recording, until the Stop recording
// button ends it after 20 s. Then the admin listing has it finished within
// 15 s, and ffprobe and ffmpeg read the files: each page's WebM has VP8 and
// Opus for as long as that page was there (the latecomer's from about 5 s
// on the shared timeline), at the size and rate its largest layer was
// sent, with that page's tone; the mix has all three tones, the
// latecomer's only after it came. The page that recorded lists the
// recording with a player for the mix. Then, on a server with access
// tokens: a page whose token lacks can_record is told in words that it may
// not record, and another page's recording plays in its panel with its
// token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { launchChromium, receives, pageUntil } from './browser.mjs';
import { startServer } from './server.mjs';
import { waitFor } from './client.mjs';
import { span, packetTimes } from './mediafile.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ROOM = 'recorded';
const TONES = { Ada: 440, Grace: 660, Linus: 880 };
const UNUSED = 550; // a frequency nobody plays, for comparison
const RECORD_MS = 20000;

// In the page, before its scripts: getUserMedia's microphone becomes a
// steady sine of the page's own frequency (not captured, so no echo
// cancellation or noise suppression takes it away).
function toneMicrophone(freq) {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    const stream = await original(c);
    if (!c?.audio) return stream;
    for (const t of stream.getAudioTracks()) { stream.removeTrack(t); t.stop(); }
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = freq;
    const gain = ctx.createGain();
    gain.gain.value = 0.25;
    const out = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(out);
    osc.start();
    stream.addTrack(out.stream.getAudioTracks()[0]);
    return stream;
  };
}

// In the page: when the meeting view and the recording indicator were
// first shown (performance.now()), as their `hidden` attributes went.
function watchShown() {
  window.shownAt = {};
  addEventListener('DOMContentLoaded', () => {
    const watch = (id) => new MutationObserver(() => {
      if (!document.getElementById(id).hidden) window.shownAt[id] ??= performance.now();
    }).observe(document.getElementById(id), { attributes: true, attributeFilter: ['hidden'] });
    watch('meeting');
    watch('rec-indicator');
  });
}

async function joinPage(name, { at = server, room = ROOM, token = '' } = {}) {
  const context = await browser.newContext();
  await context.addInitScript(toneMicrophone, TONES[name]);
  await context.addInitScript(watchShown);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${at.url}/r/${room}${token ? `#token=${token}` : ''}`);
  await page.fill('#name', name);
  await page.click('#start-submit');
  await page.waitForSelector('#meeting:not([hidden])');
  return { name, page, context, errors };
}

// The indicator is shown (waited for, up to `ms`), as a status with a label.
async function indicatorShown(p, ms = 1500) {
  await p.page.locator('#rec-indicator').waitFor({ state: 'visible', timeout: ms });
}

// In the page: what each simulcast layer of the camera has sent.
const cameraLayers = async () => {
  const stats = [...(await window.parley.publish?.getStats() || new Map()).values()];
  return stats.filter((s) => s.type === 'outbound-rtp' && s.kind === 'video').map((s) => ({ rid: s.rid,
    width: s.frameWidth || 0, height: s.frameHeight || 0, framesSent: s.framesSent || 0 }));
};

// Between two readings of cameraLayers: the largest layer that sent
// frames meanwhile (the one a recording takes), its size and its rate.
function largestSending(a, b) {
  let top = null;
  for (const l of b.layers) {
    const before = a.layers.find((x) => x.rid === l.rid)?.framesSent || 0;
    if (l.framesSent > before && l.width && (!top || l.width > top.width))
      top = { rid: l.rid, size: `${l.width}x${l.height}`, width: l.width, frames: l.framesSent - before };
  }
  return top && { ...top, fps: top.frames / (b.t - a.t) };
}

// The stretches between readings to rate a page's camera over: those whose
// largest layer was sending in the stretch before too. One that started
// partway through (dynacast switches the full-size layer on when a
// recording starts, and a loaded publisher takes seconds to send it) would
// be rated over the part it sent, while the recording took the next layer
// until then.
function rated(readings) {
  const out = [];
  for (let i = 2; i < readings.length; i++) {
    const before = largestSending(readings[i - 2], readings[i - 1]);
    const top = largestSending(readings[i - 1], readings[i]);
    if (top && before && before.rid === top.rid) out.push({ a: readings[i - 1], b: readings[i], top });
  }
  return out;
}

// The decoded frames of the file's video: {t (s on the timeline), size ("WxH")}.
function videoFrames(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'frame=pts_time,width,height', '-of', 'json', file], { maxBuffer: 64 << 20 }).toString();
  return (JSON.parse(out).frames || []).filter((f) => f.width)
    .map((f) => ({ t: Number(f.pts_time), size: `${f.width}x${f.height}` }));
}

// How many of the frames have each size.
function sizeCounts(frames) {
  const sizes = {};
  for (const f of frames) sizes[f.size] = (sizes[f.size] || 0) + 1;
  return sizes;
}

function probeStreams(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_packets', '-show_entries',
    'stream=codec_name,codec_type,width,height,nb_read_packets', '-of', 'json', file]);
  return Object.fromEntries(JSON.parse(out).streams.map((s) => [s.codec_type, s]));
}

// Decoded audio, mono 16-bit at 48 kHz; `from`/`to` in seconds from the
// file's first sample (ffmpeg's output starts at 0 whatever the input's
// first timestamp: a latecomer's file starts late on the timeline).
function pcm(file, from = 0, to = 0) {
  const args = ['-v', 'error', '-i', file, '-vn', '-ss', String(from)];
  if (to) args.push('-to', String(to));
  const raw = execFileSync('ffmpeg', [...args, '-f', 's16le', '-ac', '1', '-ar', '48000', '-'], { maxBuffer: 64 << 20 });
  return new Int16Array(raw.buffer, raw.byteOffset, raw.length >> 1);
}

// Mean power at `freq` (Goertzel over 100 ms blocks, whose 10 Hz bins
// hold each frequency used here exactly), relative to full scale.
function power(samples, freq, rate = 48000) {
  const n = rate / 10;
  const k = 2 * Math.cos(2 * Math.PI * freq / rate);
  let sum = 0, blocks = 0;
  for (let at = 0; at + n <= samples.length; at += n) {
    let s1 = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      const s0 = samples[at + i] / 32768 + k * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    sum += (s1 * s1 + s2 * s2 - k * s1 * s2) / (n * n);
    blocks++;
  }
  return blocks ? sum / blocks : 0;
}

const powers = (samples) => Object.fromEntries([...Object.values(TONES), UNUSED].map((f) => [f, power(samples, f)]));
const fmt = (p) => Object.entries(p).map(([f, v]) => `${f} Hz ${v.toExponential(2)}`).join(', ');

test('three browsers recorded from the Record button: indicator, files, sizes, rates and tones', async () => {
  const ada = await joinPage('Ada');
  const grace = await joinPage('Grace');
  const both = (s) => Object.values(s).some((x) => x.kind === 'video' && x.frames > 20) &&
    Object.values(s).some((x) => x.kind === 'audio' && x.packets > 50);
  await receives(ada.page, both, 'Ada receives Grace');
  await receives(grace.page, both, 'Grace receives Ada');
  for (const p of [ada, grace]) assert.ok(await p.page.locator('#rec-indicator').isHidden(), `${p.name}: no indicator yet`);

  // Ada records with the button; the whole room shows the indicator.
  assert.equal(await ada.page.textContent('#record'), 'Record');
  const started = Date.now();
  await ada.page.click('#record');
  const on = await waitFor(() => ada.page.evaluate(() => window.parley.recordingState()),
    (s) => s.on && s.shown, 'Ada\'s page shows the recording', { timeout: 5000 });
  assert.match(on.id, /^[A-Za-z0-9_-]{22}$/);
  for (const p of [ada, grace]) await indicatorShown(p);
  assert.equal(await ada.page.getAttribute('#rec-indicator', 'role'), 'status');
  assert.match(await ada.page.getAttribute('#rec-indicator', 'aria-label'), /recorded/);
  assert.equal(await ada.page.textContent('#record'), 'Stop recording');
  assert.equal(await ada.page.getAttribute('#record', 'aria-pressed'), 'true');
  // Grace hears who started it.
  await grace.page.locator('.toast', { hasText: 'Ada started recording' }).waitFor({ timeout: 3000 });

  // What each page sends on its largest layer, sampled through the
  // recording along with every present page's indicator.
  const pages = [ada, grace];
  const layers = new Map(pages.map((p) => [p.name, []]));
  const sample = async () => {
    for (const p of pages) {
      await indicatorShown(p);
      const l = await p.page.evaluate(cameraLayers);
      // On the recording's timeline, give or take the record request's way.
      layers.get(p.name).push({ layers: l, t: (Date.now() - started) / 1000 });
    }
  };
  await sample();

  await sleep(Math.max(0, started + 5000 - Date.now()));
  const lateAt = (Date.now() - started) / 1000;
  const linus = await joinPage('Linus');
  // The indicator comes with the room (joined.recording), not later: it
  // is shown in the same task as the meeting view.
  await indicatorShown(linus);
  const shownAt = await linus.page.evaluate(() => window.shownAt);
  assert.ok(shownAt['rec-indicator'] - shownAt.meeting < 50, `Linus: ${JSON.stringify(shownAt)}`);
  pages.push(linus);
  layers.set('Linus', []);
  const three = (s) => Object.values(s).filter((x) => x.kind === 'video' && x.frames > 20).length === 2 &&
    Object.values(s).filter((x) => x.kind === 'audio' && x.packets > 50).length === 2;
  await receives(linus.page, three, 'Linus receives both others', 10000);
  await pageUntil(linus.page, cameraLayers, (ls) => ls.some((l) => l.framesSent > 0), 'Linus sends his camera',
    { timeout: 10000 });

  // Every page is sampled until it has a stretch to rate what it sent
  // over (rated): a latecomer slow to send on a loaded machine (Linus was
  // first seen sending 12 s after he joined in one run) keeps the
  // recording going past RECORD_MS until he has one.
  while (Date.now() < started + RECORD_MS - 2500 ||
    (rated(layers.get('Linus')).length < 1 && Date.now() < started + RECORD_MS + 15000)) {
    await sample();
    await sleep(1500);
  }
  await sleep(Math.max(0, started + RECORD_MS - 500 - Date.now()));
  await sample(); // the last second
  await sleep(Math.max(0, started + RECORD_MS - Date.now()));
  await ada.page.click('#record');
  const stopped = Date.now();
  const seconds = (stopped - started) / 1000;
  for (const p of pages)
    await p.page.locator('#rec-indicator').waitFor({ state: 'hidden', timeout: 3000 });
  assert.equal(await ada.page.textContent('#record'), 'Record');
  const ids = {};
  for (const p of pages) ids[p.name] = await p.page.evaluate(() => window.parley.session.participant);

  const listing = await waitFor(async () => (await fetch(`${server.adminUrl}/rooms/${ROOM}/recordings`,
    { headers: server.adminHeaders() })).json(),
  (b) => b.recordings?.some((r) => r.id === on.id && r.state === 'finished'),
  'the recording listed finished', { timeout: 15000, interval: 250 });
  const rec = listing.recordings.find((r) => r.id === on.id);
  // The recording's own length, from its start and stop on the server: the
  // clicks' time between the buttons, less how long each took to arrive
  // (which a loaded machine stretches).
  const length = (rec.ended_ms - rec.started_ms) / 1000;
  const figures = { seconds, length, lateAt, files: {} };
  assert.ok(length > RECORD_MS / 1000 - 1 && length <= seconds + 0.5, `${length} s recorded between clicks ${seconds} s apart`);

  const spans = {};
  for (const p of pages) {
    const f = rec.files.find((x) => x.participant === ids[p.name] && x.name.endsWith('.webm'));
    assert.ok(f, `${p.name}'s file: ${JSON.stringify(rec.files)}`);
    const streams = probeStreams(f.absolute_path);
    assert.equal(streams.video?.codec_name, 'vp8', `${p.name}: ${JSON.stringify(streams)}`);
    assert.equal(streams.audio?.codec_name, 'opus', `${p.name}: ${JSON.stringify(streams)}`);
    const video = span(f.absolute_path, 'video');
    const audio = span(f.absolute_path, 'audio');
    spans[p.name] = { video, audio };
    // The largest layer each page sent between its readings (on a quiet
    // machine the full-size one throughout; a publisher short of CPU or
    // bandwidth turns the largest off), its sizes and its rate over the
    // recording: the recording is of that layer.
    const readings = layers.get(p.name);
    const pairs = readings.slice(1).map((b, i) => ({ a: readings[i], b, top: largestSending(readings[i], b) }))
      .filter((x) => x.top);
    const tops = pairs.map((x) => x.top);
    assert.ok(tops.length >= 2, `${p.name} layers: ${JSON.stringify(readings)}`);
    const steady = rated(readings);
    assert.ok(steady.length >= 1, `${p.name}: no stretch to rate its camera over: ${JSON.stringify(readings)}`);
    const sentFps = steady.reduce((a, x) => a + x.top.frames, 0) / steady.reduce((d, x) => d + x.b.t - x.a.t, 0);
    // The rate recorded over the same stretches of the timeline: a
    // latecomer's camera starts slowly before its first reading with
    // frames (a few frames a second on a loaded machine), which the
    // sent rate does not count.
    const times = packetTimes(f.absolute_path, 'video');
    const recFps = steady.reduce((n, x) => n + times.filter((t) => t >= x.a.t && t < x.b.t).length, 0) /
      steady.reduce((d, x) => d + x.b.t - x.a.t, 0);
    const sizes = [...new Set(tops.map((x) => x.size))];
    // The recording takes the first key frame of any layer (a latecomer's
    // smallest layer often comes first, and the full-size layer, which
    // nobody watched before the recording, is switched on for it) and
    // moves to the largest at its first key frame: over the stretches
    // rated, which the largest layer was sending from before their start
    // to their end, nearly every frame has the size of that layer.
    const all = videoFrames(f.absolute_path);
    const inSteady = steady.map((x) => all.filter((fr) => fr.t >= x.a.t && fr.t < x.b.t)
      .map((fr) => ({ ...fr, top: x.top.size }))).flat();
    const ofLargest = inSteady.filter((fr) => fr.size === fr.top).length;
    const firstSent = readings.find((r) => r.layers.some((l) => l.framesSent > 0)).t;
    const recorded = sizeCounts(all.filter((fr) => fr.t >= firstSent + 1));
    figures.files[p.name] = { bytes: f.bytes, frameSizes: recorded, sentSizes: sizes, largest: [...new Set(tops.map((x) => x.rid))],
      ofLargest: `${ofLargest}/${inSteady.length}`, sentFps: +sentFps.toFixed(1), recordedFps: +recFps.toFixed(1),
      video: [video.first, video.last], audio: [audio.first, audio.last] };
    assert.ok(inSteady.length > 0 && ofLargest >= 0.9 * inSteady.length,
      `${p.name}: ${JSON.stringify(figures.files[p.name])}; steady stretches ` +
      `${JSON.stringify(steady.map((x) => [x.a.t, x.b.t, x.top.size]))}`);
    assert.ok(Math.abs(recFps - sentFps) <= Math.max(2, sentFps * 0.15), `${p.name}: ${JSON.stringify(figures.files[p.name])}`);
    assert.ok(f.bytes > 100000, `${p.name}: ${f.bytes} bytes`);
    // The page's own tone, and not the others'.
    const own = powers(pcm(f.absolute_path, 1));
    figures.files[p.name].tones = fmt(own);
    for (const [who, freq] of Object.entries(TONES)) {
      if (who === p.name) assert.ok(own[freq] > 1000 * own[UNUSED], `${p.name}'s tone in its file: ${fmt(own)}`);
      else assert.ok(own[TONES[p.name]] > 1000 * own[freq], `${p.name}'s file holds only its tone: ${fmt(own)}`);
    }
  }
  // Ada and Grace were there all along: the whole recording (20 s) of
  // each; Linus from when he came to the end with the others.
  for (const name of ['Ada', 'Grace'])
    for (const kind of ['audio', 'video']) {
      const { first, last } = spans[name][kind];
      assert.ok(Math.abs(last - first - length) <= 1 && first < 1,
        `${name} ${kind}: ${first}-${last} s of a ${length} s recording`);
    }
  for (const kind of ['audio', 'video']) {
    const { first, last } = spans.Linus[kind];
    assert.ok(first >= 4 && first >= lateAt - 1, `Linus ${kind} starts at ${first} s (joined at ${lateAt} s)`);
    assert.ok(Math.abs(last - spans.Ada[kind].last) <= 1, `Linus ${kind} ends at ${last} s, Ada's at ${spans.Ada[kind].last} s`);
  }

  // The mix: Ada's and Grace's tones from the start, Linus's only once he
  // was there; each well above a frequency nobody plays.
  const mix = rec.files.find((x) => x.name === 'mix.ogg');
  assert.ok(mix, JSON.stringify(rec.files));
  const mixSpan = span(mix.absolute_path, 'audio');
  assert.ok(Math.abs(mixSpan.last - length) <= 1, `mix: ${mixSpan.last} s of a ${length} s recording`);
  const at = (t) => Math.max(0, t - mixSpan.first); // timeline to the decoded mix
  const early = powers(pcm(mix.absolute_path, at(0.5), at(lateAt - 1)));
  const late = powers(pcm(mix.absolute_path, at(spans.Linus.audio.first + 1), at(mixSpan.last - 0.5)));
  figures.mix = { seconds: mixSpan.last, bytes: mix.bytes, before: fmt(early), after: fmt(late) };
  for (const f of [TONES.Ada, TONES.Grace]) {
    assert.ok(early[f] > 100 * early[UNUSED], `mix before Linus, ${f} Hz: ${fmt(early)}`);
    assert.ok(late[f] > 100 * late[UNUSED], `mix after Linus came, ${f} Hz: ${fmt(late)}`);
  }
  assert.ok(late[TONES.Linus] > 100 * late[UNUSED], `mix after Linus came: ${fmt(late)}`);
  assert.ok(early[TONES.Ada] > 100 * early[TONES.Linus], `no 880 Hz in the mix before Linus: ${fmt(early)}`);

  // Ada's Recordings panel lists it, with the mix to play.
  await ada.page.click('#recordings-toggle');
  const player = ada.page.locator(`#recordings-list li[data-recording="${on.id}"] audio.rec-mix`);
  await player.waitFor({ timeout: 5000 });
  const duration = await waitFor(() => player.evaluate((a) => a.duration), (d) => Number.isFinite(d) && d > 0,
    'the mix\'s player reads its length', { timeout: 10000, interval: 250 });
  figures.mix.playerSeconds = duration;
  assert.ok(Math.abs(duration - mixSpan.last) <= 1, `the player says ${duration} s, the file ${mixSpan.last} s`);
  const links = await ada.page.locator(`#recordings-list li[data-recording="${on.id}"] a.rec-file`).count();
  assert.equal(links, 3, 'a link to each participant\'s file');

  console.log(JSON.stringify(figures, null, 1));
  for (const p of pages) {
    assert.deepEqual(p.errors, [], `${p.name}'s page errors`);
    await p.context.close();
  }
});

// Access tokens (minted here with node's HMAC, as auth.test.mjs does).
const SECRET = 'a record-browser secret long enough for HS256';
const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
function mint(claims) {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ exp: Math.floor(Date.now() / 1000) + 600, ...claims });
  return `${head}.${crypto.createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

test('with tokens: Record without can_record is refused in words; the panel plays the mix with the token', async () => {
  const secured = await startServer(['--auth-secret', SECRET]);
  try {
    const ada = await joinPage('Ada', { at: secured, room: 'tokens', token: mint({ sub: 'ada', can_record: true }) });
    const grace = await joinPage('Grace', { at: secured, room: 'tokens', token: mint({ sub: 'grace' }) });
    await grace.page.click('#record');
    await grace.page.locator('#notice', { hasText: 'You are not allowed to record this meeting' }).waitFor({ timeout: 5000 });
    assert.ok(await grace.page.locator('#rec-indicator').isHidden(), 'nothing recorded');
    assert.equal(await grace.page.textContent('#record'), 'Record');

    await receives(ada.page, (s) => Object.values(s).some((x) => x.kind === 'audio' && x.packets > 50), 'Ada hears Grace');
    const started = Date.now();
    await ada.page.click('#record');
    for (const p of [ada, grace]) await indicatorShown(p, 5000);
    await sleep(3000);
    await indicatorShown(grace);
    await ada.page.click('#record');
    const seconds = (Date.now() - started) / 1000;
    const id = await grace.page.evaluate(() => window.parley.recording.id);
    const listing = await waitFor(async () => (await fetch(`${secured.adminUrl}/rooms/tokens/recordings`,
      { headers: secured.adminHeaders() })).json(),
    (b) => b.recordings?.some((r) => r.id === id && r.state === 'finished'), 'the recording finished',
    { timeout: 15000, interval: 250 });
    const rec = listing.recordings.find((r) => r.id === id);
    const length = (rec.ended_ms - rec.started_ms) / 1000;
    assert.ok(length > 2.5 && length <= seconds + 0.5, `${length} s recorded between clicks ${seconds} s apart`);
    for (const p of [ada, grace]) await p.page.locator('#rec-indicator').waitFor({ state: 'hidden', timeout: 3000 });
    // Grace may play what she was recorded in (the recording's room is
    // hers): her panel's player fetches the mix with her token.
    await grace.page.click('#recordings-toggle');
    const player = grace.page.locator('#recordings-list audio.rec-mix');
    await player.waitFor({ timeout: 5000 });
    assert.match(await player.getAttribute('src'), /\/mix\.ogg\?token=/);
    const duration = await waitFor(() => player.evaluate((a) => a.duration), (d) => Number.isFinite(d) && d > 0,
      'Grace\'s player reads the mix\'s length', { timeout: 10000, interval: 250 });
    assert.ok(Math.abs(duration - length) <= 1, `the mix plays ${duration} s of ${length} s recorded`);
    for (const p of [ada, grace]) {
      assert.deepEqual(p.errors, [], `${p.name}'s page errors`);
      await p.context.close();
    }
  } finally {
    const { code } = await secured.stop();
    assert.equal(code, 0, secured.output());
  }
});
