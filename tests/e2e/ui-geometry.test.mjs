// The web client's layout arithmetic (web/layout.js) over every count of
// tiles from 1 to 25, in window-sized areas from a phone held upright to a
// large screen, gallery and stage: every tile 16:9 and inside the area, no
// two overlapping, the stage tile the largest, and how much of the area the
// tiles cover (printed; in a gallery at least half of what n tiles
// could). The page itself is
// measured by ui-layout.test.mjs; this checks the cases a browser run
// cannot afford.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'layout.js');
const ctx = vm.createContext({});
vm.runInContext(`globalThis = this;\n${fs.readFileSync(file, 'utf8')}`, ctx);
// Results copied into this realm (deepEqual tells realms' arrays apart).
const arrange = (spec) => JSON.parse(JSON.stringify(ctx.parleyLayout.arrange(spec)));

// Areas under the bar: 1280x720, 1920x1080, 1600x900, 640x360 windows, a
// phone held upright (390x844) and on its side (844x390), a smaller phone (360x640).
const AREAS = [[1264, 656], [1904, 1016], [1584, 836], [624, 256], [382, 700], [836, 330], [352, 560]];
const GAP = 8;

function problems(rects, W, H) {
  const out = [];
  for (const [i, a] of rects.entries()) {
    if (a.x < -0.01 || a.y < -0.01 || a.x + a.w > W + 0.01 || a.y + a.h > H + 0.01) out.push(`${a.key} outside`);
    if (Math.abs(a.w / a.h - 16 / 9) > 1e-6) out.push(`${a.key} not 16:9`);
    if (a.w < 1) out.push(`${a.key} empty`);
    for (const b of rects.slice(i + 1)) {
      const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
      const oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      if (ox > 0.01 && oy > 0.01) out.push(`${a.key} overlaps ${b.key}`);
    }
  }
  return out;
}

const keysOf = (n) => Array.from({ length: n }, (_, i) => (i === n - 1 ? 'self' : `p${i}`));
const cover = (rects, W, H) => rects.reduce((s, r) => s + r.w * r.h, 0) / (W * H);

test('gallery: 1 to 25 tiles fit, 16:9, without overlap, covering at least half of what they could', () => {
  for (const [W, H] of AREAS) {
    const line = [];
    for (let n = 1; n <= 25; n++) {
      const keys = keysOf(n);
      const { mode, rects } = arrange({ width: W, height: H, gap: GAP, keys, self: 'self' });
      assert.equal(mode, 'gallery');
      assert.deepEqual(rects.map((r) => r.key).sort(), [...keys].sort(), `${W}x${H}, ${n}: every tile placed`);
      assert.deepEqual(problems(rects, W, H), [], `${W}x${H}, ${n} tiles`);
      const c = cover(rects, W, H);
      line.push(`${n}:${Math.round(c * 100)}%`);
      // In a tall or a very wide area even n tiles across its whole width
      // (or height) cover only part of it: half of what they would.
      const most = Math.min(1, (n * W * 9) / 16 / H, (n * H * 16) / 9 / W);
      assert.ok(c >= 0.5 * most, `${W}x${H}, ${n} tiles cover ${(c * 100).toFixed(1)}%`);
      // Oneself is never larger than the others.
      const self = rects.find((r) => r.key === 'self');
      for (const r of rects) assert.ok(self.w <= r.w + 1e-6, `${W}x${H}, ${n}: own tile no larger than ${r.key}`);
    }
    console.log(`# ${W}x${H}: ${line.join(' ')}`);
  }
});

test('two people: the other large, oneself a smaller tile beside or below', () => {
  for (const [W, H] of AREAS) {
    const { rects } = arrange({ width: W, height: H, gap: GAP, keys: ['p0', 'self'], self: 'self' });
    const [other, self] = ['p0', 'self'].map((k) => rects.find((r) => r.key === k));
    console.log(`# ${W}x${H}: the other ${Math.round(other.w)}x${Math.round(other.h)}, ` +
      `oneself ${Math.round(self.w)}x${Math.round(self.h)}, ${Math.round(cover(rects, W, H) * 100)}%`);
    assert.ok(self.w <= other.w && self.w >= other.w * 0.25 - 1e-6, `${W}x${H}: ${self.w} against ${other.w}`);
  }
  const { rects } = arrange({ width: 1264, height: 656, gap: GAP, keys: ['p0', 'self'], self: 'self' });
  assert.ok(rects[0].w > rects[1].w * 2, 'at 1280x720 the other is over twice as wide');
});

test('stage: the chosen tile the largest, the others in a strip, for 2 to 25 tiles', () => {
  for (const [W, H] of AREAS) {
    for (let n = 2; n <= 25; n++) {
      const keys = keysOf(n);
      const stage = n > 2 ? 'p1' : 'p0';
      const { mode, rects } = arrange({ width: W, height: H, gap: GAP, keys, self: 'self', stage });
      assert.equal(mode, 'stage');
      assert.deepEqual(problems(rects, W, H), [], `${W}x${H}, ${n} tiles, stage`);
      const big = rects.find((r) => r.key === stage);
      for (const r of rects) if (r !== big) assert.ok(r.w < big.w, `${W}x${H}, ${n}: ${r.key} smaller than the stage`);
    }
  }
});

test('nothing to place, or no room: no tiles', () => {
  assert.deepEqual(arrange({ width: 1264, height: 656, keys: [] }).rects, []);
  assert.deepEqual(arrange({ width: 0, height: 656, keys: ['a'] }).rects, []);
});
