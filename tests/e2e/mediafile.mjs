// What ffprobe says of a recorded file, for the recording suites.
import { execFileSync } from 'node:child_process';

// Streams (codec_name, codec_type, width, height) and the format's duration.
export function probe(file) {
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries',
    'stream=codec_name,codec_type,width,height:format=duration', '-of', 'json', file]));
}

// The packets of the first stream of a kind ('audio', 'video'): their
// times and durations in seconds on the file's timeline (NaN where the
// file has none).
function packets(file, kind) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', kind === 'video' ? 'v:0' : 'a:0',
    '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file], { maxBuffer: 64 << 20 }).toString();
  return out.trim().split('\n').map((line) => line.split(',').map(Number))
    .filter(([pts]) => Number.isFinite(pts)).map(([pts, dur]) => ({ pts, dur }));
}

// The first stream of a kind, from its first packet to the end of its
// last: what a player plays, read packet by packet (a file cut short has
// no duration field).
export function span(file, kind) {
  let first = Infinity, last = 0;
  for (const { pts, dur } of packets(file, kind)) {
    first = Math.min(first, pts);
    last = Math.max(last, pts + (Number.isFinite(dur) ? dur : 0));
  }
  return { first, last };
}

// The packet times of the first stream of a kind.
export function packetTimes(file, kind) {
  return packets(file, kind).map((p) => p.pts);
}
