// Stored recordings in the real server: recordings are laid out on disk as
// the recorder writes them (docs/recording.md: a directory per id, its
// manifest.json, a real WebM made by ffmpeg and an Ogg/Opus mix), then one
// server with access tokens starts on that data dir. Start-up recovery marks
// a recording left being written interrupted and the first sweep deletes
// one past --recording-days; the admin API lists a room's recordings with
// their paths and deletes one; playback on the public port answers whole
// files, ranges (206, 416), HEAD, refuses hostile paths with 404 and tokens
// that may not see a recording with 403; ffprobe reads a file over HTTP and
// Chromium plays and seeks it in a <video>. A second server in open mode,
// with a 1 MB bound, then evicts the oldest recording at start and plays
// a recording to whoever knows its id.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer } from './server.mjs';
import { waitFor } from './client.mjs';
import { launchChromium } from './browser.mjs';

const secret = 'an e2e secret that is long enough for HS256';
const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
function mint(claims) {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return `${head}.${crypto.createHmac('sha256', secret).update(head).digest('base64url')}`;
}
const exp = () => Math.floor(Date.now() / 1000) + 600;
const newId = () => crypto.randomBytes(17).toString('base64url').slice(0, 22);
const DAY = 86400 * 1000;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-rec-'));
const dataDir = path.join(work, 'data');
const webm = path.join(work, 'clip.webm');
const ogg = path.join(work, 'mix.ogg');

// A recording as the recorder leaves it: its files, then its manifest
// (written whole; the recorder renames a temporary over it).
function writeRecording({ id = newId(), state = 'finished', room = 'standup', users = ['ann'],
  roomAccess = true, endedMs = Date.now() - 60000, mix = true } = {}) {
  const dir = path.join(dataDir, 'recordings', id);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.copyFileSync(webm, path.join(dir, 'p1.webm'));
  const files = [{ name: 'p1.webm', participant: 'p1', display_name: 'Ann Ö', kind: 'tracks',
    bytes: state === 'recording' ? 0 : fs.statSync(webm).size }];
  if (mix) {
    fs.copyFileSync(ogg, path.join(dir, 'mix.ogg'));
    files.push({ name: 'mix.ogg', participant: '', display_name: '', kind: 'mix', bytes: fs.statSync(ogg).size });
  }
  const manifest = { version: 1, id, kind: 'meeting', state, room, owner: 'ann',
    started_ms: (state === 'recording' ? Date.now() : endedMs) - 5000,
    ended_ms: state === 'recording' ? null : endedMs,
    access: { users, room: roomAccess }, files, speech: [{ participant: 'p1', start_ms: 0, end_ms: 1500 }] };
  fs.writeFileSync(path.join(dir, 'manifest.json.tmp'), JSON.stringify(manifest, null, 1));
  fs.renameSync(path.join(dir, 'manifest.json.tmp'), path.join(dir, 'manifest.json'));
  return id;
}

// A request with its path sent as is (fetch would normalise "..").
function raw(server, p, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: p, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metric(server, name) {
  const text = await (await fetch(`${server.adminUrl}/metrics`, { headers: server.adminHeaders() })).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

let server, finished, interrupted, expired, privateOne, big, fileBytes;
// Bytes only (never played): many chunks of the server's streaming.
const bigBytes = crypto.randomBytes(5 * 1024 * 1024 + 123);
const annToken = mint({ sub: 'ann', room: 'elsewhere', exp: exp() });
const url = (id, file = 'p1.webm', token = annToken) =>
  `${server.url}/recordings/${id}/${file}${token ? `?token=${token}` : ''}`;

before(async () => {
  fs.mkdirSync(dataDir);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
    '-f', 'lavfi', '-i', 'sine=f=440', '-t', '3', '-c:v', 'libvpx', '-c:a', 'libopus', webm]);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=f=330', '-t', '2', '-c:a', 'libopus', ogg]);
  fileBytes = fs.readFileSync(webm);
  finished = writeRecording();
  interrupted = writeRecording({ state: 'recording', mix: false });
  expired = writeRecording({ endedMs: Date.now() - 31 * DAY });
  privateOne = writeRecording({ room: 'board', users: ['carol'], roomAccess: false });
  writeRecording({ room: 'other' });
  // The oldest by its end: the first evicted over --max-recording-mb.
  big = writeRecording({ room: 'other', mix: false, endedMs: Date.now() - 120000 });
  fs.writeFileSync(path.join(dataDir, 'recordings', big, 'p1.webm'), bigBytes);
  const bigManifest = path.join(dataDir, 'recordings', big, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(bigManifest, 'utf8'));
  m.files[0].bytes = bigBytes.length;
  fs.writeFileSync(bigManifest, JSON.stringify(m));
  server = await startServer(['--auth-secret', secret, '--recording-days', '30'], { dataDir });
});

after(async () => {
  if (server) {
    const { code } = await server.stop();
    assert.equal(code, 0, `exit code (a sanitizer build fails on leaks): ${server.errors()}`);
  }
  fs.rmSync(work, { recursive: true, force: true });
});

test('start-up: a recording left being written is interrupted, an expired one is deleted', async () => {
  assert.equal(fs.existsSync(path.join(dataDir, 'recordings', expired)), false, 'the expired recording is gone');
  const m = JSON.parse(fs.readFileSync(path.join(dataDir, 'recordings', interrupted, 'manifest.json'), 'utf8'));
  assert.equal(m.state, 'interrupted');
  assert.equal(m.files[0].bytes, fileBytes.length, 'its size as on disk');
  assert.ok(m.ended_ms >= m.started_ms);
  assert.match(server.errors(), /1 left being written by the last run marked interrupted/);
  assert.equal(await metric(server, 'parley_recordings_deleted_total{reason="expired"}'), 1);
  assert.equal(await metric(server, 'parley_recordings'), 5);
});

test('GET /rooms/{room}/recordings lists the room\'s recordings with their paths', async () => {
  const res = await fetch(`${server.adminUrl}/rooms/standup/recordings`, { headers: server.adminHeaders() });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.room, 'standup');
  const byId = Object.fromEntries(body.recordings.map((r) => [r.id, r]));
  assert.deepEqual(Object.keys(byId).sort(), [finished, interrupted].sort(), 'this room only, nothing expired');
  assert.equal(byId[interrupted].state, 'interrupted');
  const r = byId[finished];
  assert.equal(r.state, 'finished');
  assert.equal(typeof r.started_ms, 'number');
  assert.equal(typeof r.ended_ms, 'number');
  assert.deepEqual(r.speech, [{ participant: 'p1', start_ms: 0, end_ms: 1500 }]);
  const [video, mix] = r.files;
  assert.equal(video.name, 'p1.webm');
  assert.equal(video.participant, 'p1');
  assert.equal(video.display_name, 'Ann Ö');
  assert.equal(video.bytes, fileBytes.length);
  assert.equal(video.path, `recordings/${finished}/p1.webm`);
  assert.equal(video.absolute_path, path.join(fs.realpathSync(dataDir), 'recordings', finished, 'p1.webm'));
  assert.ok(fs.readFileSync(video.absolute_path).equals(fileBytes));
  assert.equal(video.url, `/recordings/${finished}/p1.webm`);
  assert.equal(mix.kind, 'mix');
  assert.equal(mix.path, `recordings/${finished}/mix.ogg`);
  const none = await (await fetch(`${server.adminUrl}/rooms/empty/recordings`, { headers: server.adminHeaders() })).json();
  assert.deepEqual(none.recordings, []);
});

test('playback: the whole file, HEAD, a range as 206, an unsatisfiable one as 416', async () => {
  let res = await fetch(url(finished));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'video/webm');
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  assert.equal(Number(res.headers.get('content-length')), fileBytes.length);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(fileBytes), 'the bytes on disk');

  res = await fetch(url(finished), { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(Number(res.headers.get('content-length')), fileBytes.length);

  res = await fetch(url(finished), { headers: { authorization: `Bearer ${annToken}`, range: 'bytes=1000-4999' } });
  assert.equal(res.status, 206);
  assert.equal(res.headers.get('content-range'), `bytes 1000-4999/${fileBytes.length}`);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(fileBytes.subarray(1000, 5000)), 'the exact slice');

  res = await fetch(url(finished), { headers: { range: 'bytes=-100' } });
  assert.equal(res.status, 206);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(fileBytes.subarray(fileBytes.length - 100)));

  res = await fetch(url(finished), { headers: { range: `bytes=${fileBytes.length}-` } });
  assert.equal(res.status, 416);
  assert.equal(res.headers.get('content-range'), `bytes */${fileBytes.length}`);
  await res.arrayBuffer();

  res = await fetch(url(finished, 'mix.ogg'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'audio/ogg');
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(fs.readFileSync(ogg)));

  // The interrupted recording plays what was flushed.
  res = await fetch(url(interrupted));
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, fileBytes.length);
});

test('a large file streams whole and in ranges; a client that goes away mid-file is let go', async () => {
  let res = await fetch(url(big));
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bigBytes), 'every byte, in order');
  const from = 65536 * 3 - 7, to = 65536 * 40 + 11;
  res = await fetch(url(big), { headers: { range: `bytes=${from}-${to}` } });
  assert.equal(res.status, 206);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bigBytes.subarray(from, to + 1)));
  // Read a little, then close: the server drops the stream with the connection.
  await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: new URL(url(big)).pathname + new URL(url(big)).search, agent: false }, (r) => {
      r.once('data', () => { req.destroy(); resolve(); });
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' ? resolve() : reject(e)));
  });
  // The server goes on serving.
  res = await fetch(url(big), { headers: { range: 'bytes=0-9' } });
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bigBytes.subarray(0, 10)));
});

test('ffprobe reads a recording over HTTP (seeking with ranges)', () => {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name:format=duration',
    '-of', 'json', url(finished)], { encoding: 'utf8', env: { ...process.env, MALLOC_PERTURB_: '' } });
  const probe = JSON.parse(out);
  assert.deepEqual(probe.streams.map((s) => s.codec_name).sort(), ['opus', 'vp8']);
  assert.ok(Math.abs(Number(probe.format.duration) - 3) < 0.2, `duration ${probe.format.duration}`);
});

test('hostile paths and unknown recordings are 404, whatever the token', async () => {
  const q = `?token=${annToken}`;
  // lws decodes the path and resolves its dots before anything sees it:
  // these leave /recordings and get the web root's 404.
  const escaping = [
    `/recordings/${finished}/..%2F..%2Fparley.db`,
    `/recordings/${finished}/../../parley.db`,
    `/recordings/${finished}%2F..%2F..%2Fparley.db`,
    `/recordings/..%2Fparley.db`,
  ];
  for (const p of escaping) assert.equal((await raw(server, p + q)).status, 404, p);
  const paths = [
    `/recordings/${finished}/manifest.json`,
    `/recordings/${finished}/manifest.json.tmp`,
    `/recordings/${finished}/%2e%2e%2fmix.ogg`,
    `/recordings/${finished}/p1.webm/x`,
    `/recordings/${finished}`,
    `/recordings/${finished}/`,
    `/recordings/`,
    `/recordings/${newId()}/p1.webm`,
    `/recordings/${expired}/p1.webm`,
    `/recordings/.trash-${finished}/p1.webm`,
    `/recordings/${finished.slice(0, 21)}/p1.webm`,
    `/recordings/${finished}/p2.webm`,
  ];
  const before = await metric(server, 'parley_recording_playbacks_refused_total{reason="not_found"}');
  for (const p of paths) {
    const res = await raw(server, p + q);
    assert.equal(res.status, 404, p);
    assert.equal(res.body.includes(fileBytes.subarray(0, 64)), false, p);
  }
  assert.equal(await metric(server, 'parley_recording_playbacks_refused_total{reason="not_found"}'),
    before + paths.length, 'every refusal counted');
  // A NUL never reaches the server: lws's parser closes the connection.
  const nul = await raw(server, `/recordings/${finished}/p1.webm%00.txt${q}`).catch((e) => e);
  assert.ok(nul instanceof Error ? nul.code === 'ECONNRESET' : nul.status === 404, String(nul.status ?? nul));
});

test('with tokens: who may see a recording does, others get 403, no token 401', async () => {
  const status = async (id, token) => (await raw(server, `/recordings/${id}/p1.webm${token ? `?token=${token}` : ''}`)).status;
  const roomToken = mint({ sub: 'bob', room: 'standup', exp: exp() });
  const otherRoom = mint({ sub: 'bob', room: 'other', exp: exp() });
  const anyRoom = mint({ sub: 'dave', exp: exp() });
  assert.equal(await status(finished, roomToken), 200, 'a token for the room');
  assert.equal(await status(finished, annToken), 200, 'a listed user, whatever room');
  assert.equal(await status(finished, anyRoom), 200, 'a token for any room');
  assert.equal(await status(finished, otherRoom), 403, 'a token for another room');
  assert.equal(await status(privateOne, roomToken), 403, 'no room access: a room token is not enough');
  assert.equal(await status(privateOne, mint({ sub: 'bob', room: 'board', exp: exp() })), 403);
  assert.equal(await status(privateOne, mint({ sub: 'carol', room: 'x', exp: exp() })), 200, 'its listed user');
  assert.equal(await status(finished, null), 401, 'no token');
  assert.equal(await status(finished, mint({ sub: 'ann', exp: 1 })), 401, 'an expired token');
  const bearer = await raw(server, `/recordings/${finished}/p1.webm`, { authorization: `Bearer ${otherRoom}` });
  assert.equal(bearer.status, 403, 'the same by Authorization');
  assert.equal(await metric(server, 'parley_recording_playbacks_refused_total{reason="forbidden"}'), 4);
  assert.equal(await metric(server, 'parley_recording_playbacks_refused_total{reason="unauthorized"}'), 2);
});

test('Chromium plays a recording from the server and seeks in it', async () => {
  const ranges = await metric(server, 'parley_recording_playbacks_total{status="206"}');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // A media document: the browser's own <video>, fed by range requests.
    await page.goto(url(finished));
    const result = await page.evaluate(async () => {
      const v = document.querySelector('video');
      v.muted = true;
      await new Promise((resolve, reject) => {
        if (v.readyState >= 1) resolve();
        v.addEventListener('loadedmetadata', resolve, { once: true });
        v.addEventListener('error', () => reject(new Error(`media error ${v.error?.code}`)), { once: true });
      });
      const duration = v.duration;
      v.currentTime = 2;
      await new Promise((resolve) => v.addEventListener('seeked', resolve, { once: true }));
      const ended = new Promise((resolve) => v.addEventListener('ended', resolve, { once: true }));
      await v.play();
      await ended;
      return { duration, ended: v.ended, time: v.currentTime, width: v.videoWidth };
    });
    assert.ok(Math.abs(result.duration - 3) < 0.2, `duration ${result.duration}`);
    assert.equal(result.ended, true);
    assert.equal(result.width, 320);
    assert.ok(await metric(server, 'parley_recording_playbacks_total{status="206"}') > ranges,
      'the media element asked for ranges');
  } finally {
    await browser.close();
  }
});

test('DELETE /recordings/{id} removes it from disk and from playback', async () => {
  const dir = path.join(dataDir, 'recordings', finished);
  assert.ok(fs.existsSync(dir));
  let res = await fetch(`${server.adminUrl}/recordings/${finished}`, { method: 'DELETE', headers: server.adminHeaders() });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { deleted: finished });
  assert.equal(fs.existsSync(dir), false);
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'recordings')).filter((n) => n.startsWith('.trash')), []);
  assert.equal((await raw(server, `/recordings/${finished}/p1.webm?token=${annToken}`)).status, 404);
  res = await fetch(`${server.adminUrl}/recordings/${finished}`, { method: 'DELETE', headers: server.adminHeaders() });
  assert.equal(res.status, 404);
  await res.arrayBuffer();
  res = await fetch(`${server.adminUrl}/recordings/..%2Fparley.db`, { method: 'DELETE', headers: server.adminHeaders() });
  assert.equal(res.status, 404);
  await res.arrayBuffer();
  const list = await (await fetch(`${server.adminUrl}/rooms/standup/recordings`, { headers: server.adminHeaders() })).json();
  assert.deepEqual(list.recordings.map((r) => r.id), [interrupted]);
  assert.equal(await metric(server, 'parley_recordings_deleted_total{reason="admin"}'), 1);
  await waitFor(() => metric(server, 'parley_recordings'), (n) => n === 4, 'the gauge follows the deletion');
});

test('open mode: whoever knows the id plays it; over --max-recording-mb the oldest goes', async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, `exit code (a sanitizer build fails on leaks): ${server.errors()}`);
  // About 5.3 MB on disk, 5 MB of it the oldest recording: that one alone
  // is evicted to fit 1 MB.
  server = await startServer(['--max-recording-mb', '1'], { dataDir });
  assert.equal(fs.existsSync(path.join(dataDir, 'recordings', big)), false, 'the oldest was evicted');
  assert.equal(await metric(server, 'parley_recordings_deleted_total{reason="server_full"}'), 1);
  assert.equal(await metric(server, 'parley_recordings'), 3);
  assert.ok(await metric(server, 'parley_recording_bytes') < 1024 * 1024);
  assert.equal((await raw(server, `/recordings/${privateOne}/p1.webm`)).status, 200);
  assert.equal((await raw(server, `/recordings/${newId()}/p1.webm`)).status, 404);
  // Recovery has nothing left to do: the interrupted one stays as it was.
  assert.doesNotMatch(server.errors(), /marked interrupted/);
});
