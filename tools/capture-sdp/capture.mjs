// Captures real SDP from headless browsers for Parley's test fixtures, and
// checks that the browser accepts the SDP Parley writes.
//
//   node capture.mjs [--firefox] capture OUTDIR    write offers the browser makes
//   node capture.mjs [--firefox] answer  SDP_CLI   for each kind of offer the browser
//                                                  makes, Parley's answer (from SDP_CLI)
//                                                  must be accepted by setRemoteDescription
//   node capture.mjs [--firefox] offer   OFFER OUT setRemoteDescription(offer), write
//                                                  the browser's answer to OUT
//
// Chromium by default (Debian's chromium, playwright-core), Firefox ESR with
// --firefox (Debian's firefox-esr, puppeteer-core): the launchers and npm
// packages of the end-to-end tests (tests/e2e, after npm ci there).
import http from 'node:http';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { launchChromium } from '../../tests/e2e/browser.mjs';
import { launchFirefox, firefoxVersion } from '../../tests/e2e/firefox.mjs';

const args = process.argv.slice(2);
const firefox = args[0] === '--firefox';
if (firefox) args.shift();

const page_html = '<!doctype html><title>sdp</title>';
const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(page_html); });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const url = `http://localhost:${server.address().port}/`;

const browser = firefox ? await launchFirefox() : await launchChromium();
const page = await browser.newPage();
await page.goto(url);
// Fixture names carry the browser and its major version.
const prefix = firefox ? `firefox${firefoxVersion().split('.')[0]}` : `chromium${browser.version().split('.')[0]}`;

// Builds the publishing peer connection the way Parley's web client does.
const setup = `async (kind) => {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  pc.addTransceiver(s.getAudioTracks()[0], { direction: 'sendonly', streams: [s] });
  if (kind === 'simulcast')
    pc.addTransceiver(s.getVideoTracks()[0], { direction: 'sendonly', streams: [s],
      sendEncodings: [{ rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }] });
  else
    pc.addTransceiver(s.getVideoTracks()[0], { direction: 'sendonly', streams: [s] });
  if (kind === 'datachannel') pc.createDataChannel('chat');
  const o = await pc.createOffer();
  await pc.setLocalDescription(o);
  window.pc = pc;
  return o.sdp;
}`;

const mode = args[0];
try {
  if (mode === 'capture') {
    const dir = args[1];
    for (const kind of ['publish', 'simulcast', 'datachannel']) {
      const sdp = await page.evaluate(`(${setup})(${JSON.stringify(kind)})`);
      fs.writeFileSync(`${dir}/${prefix}-${kind}-offer.sdp`, sdp);
      console.log(`wrote ${prefix}-${kind}-offer.sdp`);
    }
  } else if (mode === 'answer') {
    // A fresh offer of each kind is answered by Parley's writer (the
    // sdp_cli program given) and Chromium must accept the answer.
    const cli = args[1];
    for (const kind of ['publish', 'simulcast', 'datachannel']) {
      const offer = await page.evaluate(`(${setup})(${JSON.stringify(kind)})`);
      const answer = execFileSync(cli, ['answer'], { input: offer }).toString();
      const result = await page.evaluate(`(async () => {
        try {
          await window.pc.setRemoteDescription({ type: 'answer', sdp: ${JSON.stringify(answer)} });
          return 'ok ' + window.pc.getTransceivers().map(t => t.mid + ':' + t.currentDirection).join(' ');
        } catch (e) { return 'error ' + e.message; }
      })()`);
      console.log(`${kind}: ${result}`);
      if (!result.startsWith('ok')) process.exitCode = 1;
    }
  } else if (mode === 'offer') {
    const offer = fs.readFileSync(args[1], 'utf8');
    const result = await page.evaluate(`(async () => {
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
      try {
        await pc.setRemoteDescription({ type: 'offer', sdp: ${JSON.stringify(offer)} });
        const a = await pc.createAnswer();
        await pc.setLocalDescription(a);
        return a.sdp;
      } catch (e) { return 'error ' + e.message; }
    })()`);
    if (result.startsWith('error')) { console.log(result); process.exitCode = 1; }
    else { fs.writeFileSync(args[2], result); console.log(`ok wrote ${args[2]}`); }
  }
} finally {
  await browser.close();
  server.close();
}
