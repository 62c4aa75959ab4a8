// What ffprobe says of a recorded file, for the recording suites.
import { execFileSync } from 'node:child_process';

// Streams (codec_name, codec_type, width, height) and the format's duration.
export function probe(file) {
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries',
    'stream=codec_name,codec_type,width,height:format=duration', '-of', 'json', file]));
}

// The first stream of a kind ('audio', 'video'), from its first packet to
// the end of its last, in seconds on the file's timeline: what a player
// plays, read packet by packet (a file cut short has no duration field).
export function span(file, kind) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', kind === 'video' ? 'v:0' : 'a:0',
    '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file]).toString();
  let first = Infinity, last = 0;
  for (const line of out.trim().split('\n')) {
    const [pts, dur] = line.split(',').map(Number);
    if (!Number.isFinite(pts)) continue;
    first = Math.min(first, pts);
    last = Math.max(last, pts + (Number.isFinite(dur) ? dur : 0));
  }
  return { first, last };
}

// The packet times of the first stream of a kind, in seconds on the
// file's timeline.
export function packetTimes(file, kind) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', kind === 'video' ? 'v:0' : 'a:0',
    '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { maxBuffer: 64 << 20 }).toString();
  return out.trim().split('\n').map(Number).filter(Number.isFinite);
}
