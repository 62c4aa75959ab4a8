// Meeting layout geometry: where each 16:9 tile goes in the area under the
// control bar. Pure arithmetic, no DOM, so that it can be reasoned about
// (and tested) apart from the page; tiles.js applies it.
//
// Two shapes:
// - gallery: everybody in one grid of equal tiles, or, when it covers more
//   of the area, the others in a grid and one's own view as a smaller tile
//   beside or below it (two people: the other large, oneself small);
// - stage: one tile (pinned, a screen share, the active speaker) large, the
//   others in a strip beside or below it.
// Among the candidates the one whose tiles cover most of the area wins: the
// number of columns, the side the strip goes on and its thickness are all
// searched, which for at most a few dozen tiles is a few thousand sums.
'use strict';
(() => {
  const RATIO = 16 / 9;
  const STEPS = 48; // thicknesses of a strip tried, per side

  // The best uniform grid of n tiles in w x h (largest tile).
  function grid(n, w, h, gap, ratio = RATIO) {
    let best = { cols: 1, rows: n, tw: 0, th: 0 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const tw = Math.min((w - gap * (cols - 1)) / cols, ((h - gap * (rows - 1)) / rows) * ratio);
      if (tw > best.tw + 1e-6) best = { cols, rows, tw, th: tw / ratio };
    }
    return best;
  }

  // The grid's tiles centred in box, a last row that is not full centred too.
  function place(keys, box, g, gap) {
    const usedH = g.rows * g.th + (g.rows - 1) * gap;
    const y0 = box.y + (box.h - usedH) / 2;
    return keys.map((key, i) => {
      const row = Math.floor(i / g.cols);
      const inRow = Math.min(g.cols, keys.length - row * g.cols);
      const x0 = box.x + (box.w - (inRow * g.tw + (inRow - 1) * gap)) / 2;
      return { key, x: x0 + (i % g.cols) * (g.tw + gap), y: y0 + row * (g.th + gap), w: g.tw, h: g.th };
    });
  }

  const covered = (rects) => rects.reduce((a, r) => a + r.w * r.h, 0);

  // main in a grid, side in a strip to the right or below; a side tile is
  // between minK and maxK times as wide as a main tile. The best split, or
  // null when none keeps to that.
  function split(main, side, W, H, gap, minK, maxK) {
    let best = null;
    for (const right of [true, false]) {
      const dim = right ? W : H;
      for (let s = 1; s <= STEPS; s++) {
        const t = (dim * 0.75 * s) / STEPS; // the strip's thickness
        const rest = dim - t - gap;
        if (rest <= 0) continue;
        const mainBox = right ? { x: 0, y: 0, w: rest, h: H } : { x: 0, y: 0, w: W, h: rest };
        const sideBox = right ? { x: rest + gap, y: 0, w: t, h: H } : { x: 0, y: rest + gap, w: W, h: t };
        const gm = grid(main.length, mainBox.w, mainBox.h, gap);
        const gs = grid(side.length, sideBox.w, sideBox.h, gap);
        if (gm.tw <= 0 || gs.tw <= 0) continue;
        const k = gs.tw / gm.tw;
        if (k < minK || k > maxK) continue;
        // The two parts close up to each other, the pair centred in the area.
        const mainUsed = right ? gm.cols * gm.tw + (gm.cols - 1) * gap : gm.rows * gm.th + (gm.rows - 1) * gap;
        const sideUsed = right ? gs.cols * gs.tw + (gs.cols - 1) * gap : gs.rows * gs.th + (gs.rows - 1) * gap;
        const shift = (dim - (mainUsed + gap + sideUsed)) / 2;
        if (right) {
          mainBox.x = shift; mainBox.w = mainUsed;
          sideBox.x = shift + mainUsed + gap; sideBox.w = sideUsed;
        } else {
          mainBox.y = shift; mainBox.h = mainUsed;
          sideBox.y = shift + mainUsed + gap; sideBox.h = sideUsed;
        }
        const rects = [...place(main, mainBox, gm, gap), ...place(side, sideBox, gs, gap)];
        const area = covered(rects);
        // A larger main tile settles a near tie: the stage is what matters.
        const score = area + gm.tw * gm.th * 0.05;
        if (!best || score > best.score) best = { score, rects, area };
      }
    }
    return best;
  }

  // {width, height, gap, keys: tile keys in order, self: own tile's key or
  // null, stage: the key on stage or null} -> {mode, rects: [{key, x, y, w, h}]}
  function arrange({ width, height, gap = 8, keys, self = null, stage = null }) {
    const W = Math.max(0, width), H = Math.max(0, height);
    if (!keys.length || W <= 0 || H <= 0) return { mode: 'gallery', rects: [] };
    const whole = () => place(keys, { x: 0, y: 0, w: W, h: H }, grid(keys.length, W, H, gap), gap);
    if (stage && keys.includes(stage) && keys.length > 1) {
      const side = keys.filter((k) => k !== stage);
      // The strip's tiles from a sixth (a tenth when many) to a third of the stage's width.
      const s = split([stage], side, W, H, gap, side.length > 8 ? 0.1 : 0.18, 0.34) || split([stage], side, W, H, gap, 0, 1);
      if (s) return { mode: 'stage', stage, rects: s.rects };
    }
    const all = whole();
    if (self && keys.includes(self) && keys.length > 1) {
      const others = keys.filter((k) => k !== self);
      // Oneself from a quarter of the others' width up to as large as them.
      const s = split(others, [self], W, H, gap, 0.25, 1);
      if (s && s.area > covered(all) * 1.02) return { mode: 'gallery', rects: s.rects };
    }
    return { mode: 'gallery', rects: all };
  }

  globalThis.parleyLayout = { arrange, grid, RATIO };
})();
