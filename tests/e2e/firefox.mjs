// Headless Firefox ESR as the tests drive it (Debian's firefox-esr,
// puppeteer-core over WebDriver BiDi): fake camera and microphone, no
// permission prompts, no network besides loopback.
import puppeteer from 'puppeteer-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const firefoxPath = '/usr/bin/firefox-esr';

// Preferences of the test profile. The permission prefs matter for ICE,
// not only for getUserMedia: without a granted camera/microphone, Firefox
// gathers only the address of its default route. Even with them it leaves
// out loopback unless told (ice.loopback), and the relay under test listens
// on 127.0.0.1. TCP candidates would never pair with the relay's UDP one.
export const firefoxPrefs = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.tcp': false,
  // Tests play remote media in pages nobody clicked in.
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  // Nothing but the server under test is reached.
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'extensions.update.enabled': false,
  'media.gmp-manager.updateEnabled': false,
  'media.gmp-gmpopenh264.enabled': false,
};

export function firefoxVersion() {
  // "Mozilla Firefox 153.8.0esr" from application.ini, without starting it.
  const ini = fs.readFileSync(path.join(path.dirname(fs.realpathSync(firefoxPath)), 'application.ini'), 'utf8');
  return ini.match(/^Version=(.+)$/m)?.[1] || 'unknown';
}

// A browser with a fresh profile, removed again by close().
export async function launchFirefox() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: firefoxPath,
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: firefoxPrefs,
    // Firefox's own output is noise for the tests; puppeteer's pipe to it
    // still carries WebDriver BiDi.
    dumpio: false,
  });
  const close = browser.close.bind(browser);
  browser.close = async () => {
    try { await close(); } finally { fs.rmSync(profile, { recursive: true, force: true }); }
  };
  return browser;
}

// Fills a form field: puppeteer has no page.fill, and typing key by key
// into a field with a remembered value would append to it.
export async function fill(page, selector, value) {
  await page.$eval(selector, (el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }, value);
}

// Runs in the page (page.evaluate(received)), in Firefox and Chromium alike:
// what the subscribe peer connection receives, per mid, from the standard
// inbound-rtp fields both name the same way (RTCInboundRtpStreamStats):

