// Media over a bad network: every bot's link (both transports, both
// directions) goes through parley-impair with 5% random loss, 50 ms delay
// and 20 ms jitter. With NACK/RTX (bots and relay) and Opus FEC, a
// 4-person meeting keeps its video fluid and its audio whole; the same
// run with the bots' NACK off shows what the repair is worth.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stats as statsOf, downlinkLine } from './server.mjs';
import { runBots, startImpair, audioLossAfterRepair, fastBotBin, describe } from './bots.mjs';

const servers = [];
after(async () => {
  for (const s of servers) {
    const { code } = await s.stop();
    assert.equal(code, 0, `clean exit, no leak: ${s.output()}`);
  }
});

const impairment = ['--loss', '0.05', '--delay', '50', '--jitter', '20', '--seed', '11'];

async function meeting(extra) {
  const server = await startServer();
  servers.push(server);
  const impair = await startImpair(server, impairment);
  const report = await runBots(server, ['--room', 'lossy', '--per-room', '4', '--seconds', '20',
    '--media-via', impair.via, ...extra], fastBotBin).done;
  const net = await impair.stop();
  const stats = await statsOf(server);
  return { report, net, stats };
}

let repaired;

test('under 5% loss, 50 ms delay and 20 ms jitter, a 4-person meeting stays fluid', async () => {
  repaired = await meeting([]);
  const { report, net, stats } = repaired;
  const s = report.summary;
  // The network did its part: about 5% of datagrams dropped.
  assert.ok(net.lost / net.in > 0.04 && net.lost / net.in < 0.06, JSON.stringify(net));
  assert.equal(s.errors, 0);
  assert.equal(s.corrupt_frames, 0, 'no corrupt frame');
  assert.equal(s.wrong_identity_streams, 0);
  assert.equal(s.streams, 4 * 6);
  assert.ok(s.video_frames_decoded > 4 * 3 * 400, `video decoded: ${s.video_frames_decoded}`);
  assert.ok(s.freeze_fraction < 0.01, `frozen ${(100 * s.freeze_fraction).toFixed(2)}% of the time ` +
    `(${downlinkLine(stats)})\n${describe(report)}`);
  const audioLoss = audioLossAfterRepair(report);
  assert.ok(audioLoss < 0.01, `audio loss after FEC/NACK: ${(100 * audioLoss).toFixed(2)}%`);
  // The relay repaired both ways: it retransmitted to subscribers and asked
  // publishers for what it lost upstream.
  assert.ok(stats.retransmissions > 0 && stats.nacks_sent > 0, JSON.stringify(stats));
});

// The contrast, not the server's code: in the release build's run only.
test('the same meeting without NACK freezes and loses audio',
  { skip: process.env.PARLEY_E2E_SANITIZED && 'a contrast, shown in the release run' }, async () => {
  const { report } = await meeting(['--no-nack']);
  const s = report.summary;
  const r = repaired.report.summary;
  assert.equal(s.corrupt_frames, 0, 'still no corrupt frame: undecodable frames wait for a keyframe');
  // Everything lost on either link stays lost.
  assert.ok(s.loss > 0.05, `loss without repair: ${s.loss}`);
  assert.ok(r.loss < 0.005, `loss with repair: ${r.loss}`);
  assert.ok(s.freeze_fraction > 10 * Math.max(r.freeze_fraction, 0.001),
    `frozen ${(100 * s.freeze_fraction).toFixed(1)}% without NACK vs ${(100 * r.freeze_fraction).toFixed(2)}% with`);
  assert.ok(audioLossAfterRepair(report) > audioLossAfterRepair(repaired.report),
    `audio loss ${audioLossAfterRepair(report)} without NACK vs ${audioLossAfterRepair(repaired.report)} with`);
  console.log(`# with NACK: loss ${(100 * r.loss).toFixed(3)}%, frozen ${(100 * r.freeze_fraction).toFixed(2)}%, ` +
    `audio loss after repair ${(100 * audioLossAfterRepair(repaired.report)).toFixed(2)}%; without: loss ` +
    `${(100 * s.loss).toFixed(2)}%, frozen ${(100 * s.freeze_fraction).toFixed(1)}%, audio loss after FEC ` +
    `${(100 * audioLossAfterRepair(report)).toFixed(2)}%`);
});

test('a bot whose address changes mid-call keeps its streams', async () => {
  const server = await startServer();
  servers.push(server);
  const impair = await startImpair(server, ['--rebind-at', '4']);
  const report = await runBots(server, ['--room', 'moving', '--per-room', '2', '--seconds', '12',
    '--media-via', impair.via], fastBotBin).done;
  const net = await impair.stop();
  const relay = `${downlinkLine(await statsOf(server))}; impair: ${JSON.stringify(net)}`;
  assert.equal(net.rebinds, 1, 'every client moved to a new source address at 4 s');
  assert.equal(report.summary.errors, 0);
  assert.equal(report.summary.corrupt_frames, 0);
  for (const b of report.bots) {
    assert.equal(b.streams.length, 2);
    for (const x of b.streams) {
      assert.equal(x.participant_id, report.bots.find((o) => o.name === x.from).participant_id);
      // Still flowing at the end, on the same transport: no rejoin.
      assert.ok(x.seconds > 10, `${b.name} <- ${x.from} ${x.kind} lasted ${x.seconds} s of 12 ` +
        `(${JSON.stringify(x)}); ${relay}`);
    }
    assert.equal(b.rejoins, 0);
  }
});
