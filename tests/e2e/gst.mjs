// Runs tools/gst/parley-gst (a GStreamer webrtcbin participant) against a
// test server: its JSON lines as events to wait for, its report at the end.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const gstClient = path.join(root, 'tools', 'gst', 'parley-gst');
// The system python3: the one with GStreamer's introspection bindings.
const python = '/usr/bin/python3';

export function runGst(server, args) {
  const proc = spawn(python, [gstClient, '--server', server.ws, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  const waiters = [];
  let report = null;
  let buf = '';
  let err = '';
  proc.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        err += `(not JSON) ${line}\n`;
        continue;
      }
      m.at = Date.now();
      if (m.report) report = m.report;
      else events.push(m);
      for (const w of [...waiters]) if (w.pred(m)) w.resolve(m);
    }
  });
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  // What went wrong first (errors, transport states), then the latest
  // events: a timeout's message is read from its first lines.
  const output = () => {
    const notable = events.filter((e) => /error|closed|connection-state/.test(e.event)).slice(-8);
    return [...notable, ...events.slice(-3)].map((e) => JSON.stringify(e)).join('\n') + `\n${err}`;
  };

  return {
    events,
    output,
    // The first event (already seen or still to come) for which pred holds;
    // rejects after ms, or when the client exits first, with its output.
    event(pred, what, ms = 30000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred };
        const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms waiting for ${what}:\n${output()}`)), ms);
        const gone = () => done(new Error(`parley-gst exited while waiting for ${what}:\n${output()}`));
        exited.then(gone);
        function done(e, m) {
          clearTimeout(timer);
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          if (e) reject(e);
          else resolve(m);
        }
        w.resolve = (m) => done(null, m);
        waiters.push(w);
      });
    },
    // Asks the client to leave (SIGTERM) and resolves its report; one that
    // does not exit within ms is killed and the test fails with its output.
    async stop(ms = 20000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      let timer;
      const hung = new Promise((_, reject) => {
        timer = setTimeout(() => {
          proc.kill('SIGKILL');
          reject(new Error(`parley-gst did not exit within ${ms} ms:\n${output()}`));
        }, ms);
      });
      const { code } = await Promise.race([exited, hung]);
      clearTimeout(timer);
      if (code !== 0 || !report) throw new Error(`parley-gst exited ${code} without a clean report:\n${output()}`);
      return report;
    },
  };
}

// The latest decode counts the client printed: {video: [...], audio: [...]}
// tracks from participant `from` (any participant when omitted).
export function decoded(ev, from) {
  const tracks = (ev?.event === 'tracks' ? ev.tracks : []).filter((t) => !from || t.participant_id === from);
  return { video: tracks.filter((t) => t.kind === 'video'), audio: tracks.filter((t) => t.kind === 'audio') };
}
