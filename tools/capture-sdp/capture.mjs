// Captures real SDP from headless Chromium for Parley's test fixtures, and
// checks that Chromium accepts the SDP Parley writes.
//
//   node capture.mjs capture OUTDIR            write offers Chromium makes
//   node capture.mjs answer  SDP_CLI           for each kind of offer Chromium makes,
//                                              Parley's answer (from SDP_CLI) must be
//                                              accepted by setRemoteDescription
//   node capture.mjs offer   OFFER OUT         setRemoteDescription(offer), write
//                                              Chromium's answer to OUT
//
// Needs Debian's chromium and the npm package playwright-core.
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

const page_html = '<!doctype html><title>sdp</title>';
const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(page_html); });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const url = `http://localhost:${server.address().port}/`;

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection'] });
const page = await browser.newPage();
await page.goto(url);
const version = browser.version().split('.')[0];

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

const mode = process.argv[2];
try {
  if (mode === 'capture') {
    const dir = process.argv[3];
    for (const kind of ['publish', 'simulcast', 'datachannel']) {
      const sdp = await page.evaluate(`(${setup})(${JSON.stringify(kind)})`);
      fs.writeFileSync(`${dir}/chromium${version}-${kind}-offer.sdp`, sdp);
      console.log(`wrote chromium${version}-${kind}-offer.sdp`);
    }
  } else if (mode === 'answer') {
    // A fresh offer of each kind is answered by Parley's writer (the
    // sdp_cli program given) and Chromium must accept the answer.
    const cli = process.argv[3];
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
    const offer = fs.readFileSync(process.argv[3], 'utf8');
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
    else { fs.writeFileSync(process.argv[4], result); console.log(`ok wrote ${process.argv[4]}`); }
  }
} finally {
  await browser.close();
  server.close();
}
