// report.html opened in a real headless Chromium, as an auditor would, for real small runs of
// every source kind: no request leaves the page, no console error, every example card shows a
// loaded picture (or says that the item has none to show), nothing runs off a 400 px screen,
// and every in-page link lands on an element. Screenshots at 1400 and 400 px go to the test's
// temp folder (printed), for a person to look at.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findChromium, launchBrowser, type Browser } from '../helpers/browser.ts';
import { demoRun, rgbdRun, videoRun, webRun } from '../helpers/real-runs.ts';

const chromiumPath = findChromium();
const skip = chromiumPath ? false : 'no chromium on PATH (apt-get install chromium)';
let work = '';
let browser: Browser | undefined;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-report-browser-'));
  if (chromiumPath) browser = await launchBrowser(chromiumPath);
});
after(async () => {
  await browser?.close();
  // WEFT_KEEP_SCREENSHOTS=1 keeps the folder to look at the pictures.
  if (process.env.WEFT_KEEP_SCREENSHOTS) process.stderr.write(`report screenshots kept in ${work}\n`);
  else await rm(work, { recursive: true, force: true });
});

/** What the page looks like to a reader, measured in the browser. */
async function audit(file: string, width: number) {
  const opened = await browser!.open(file, width);
  const facts = await opened.page.evaluate(() => {
    const cards = [...document.querySelectorAll('figure.card')];
    return {
      scrollWidth: document.scrollingElement!.scrollWidth,
      cards: cards.map((c) => {
        const img = c.querySelector('img') as HTMLImageElement | null;
        const svgImage = c.querySelector('svg image') as SVGImageElement | null;
        const box = (img ?? svgImage)?.getBoundingClientRect();
        return {
          id: c.querySelector('.id')?.textContent ?? '',
          loaded: img ? img.complete && img.naturalWidth > 0 : false,
          svgImage: svgImage !== null,
          shown: box ? box.width > 0 && box.height > 0 : false,
          none: c.querySelector('.thumb.none')?.textContent ?? null,
          verdict: c.querySelector('.verdict')?.textContent ?? '',
        };
      }),
      unloadedImages: [...document.querySelectorAll('img')].filter((i) => !(i.complete && i.naturalWidth > 0)).length,
      duplicateGroups: [...document.querySelectorAll('#duplicates .dup-group')].map((g) => g.querySelectorAll('img').length),
      duplicateTests: [...document.querySelectorAll('#duplicates h3 code')].map((c) => c.textContent ?? ''),
      brokenAnchors: [...document.querySelectorAll('a[href^="#"]')].map((a) => a.getAttribute('href')!.slice(1)).filter((id) => !document.getElementById(decodeURIComponent(id))),
      anchors: document.querySelectorAll('a[href^="#"]').length,
      wideElements: [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest('.scroll'))
        .slice(0, 5)
        .map((e) => `${e.tagName.toLowerCase()}.${e.className}`),
    };
  });
  return { ...opened, facts };
}

for (const [kind, make] of [
  ['image-text', demoRun],
  ['web', webRun],
  ['rgbd', rgbdRun],
  ['video', videoRun],
] as const) {
  test(`the ${kind} report in Chromium: offline, no errors, every example visible, fits 400 px, anchors resolve`, { skip }, async () => {
    const out = await make(path.join(work, kind));
    const file = path.join(out, 'report.html');
    for (const width of [1400, 400]) {
      const { page, facts, foreignRequests, consoleErrors } = await audit(file, width);
      await page.screenshot({ path: path.join(work, `${kind}-${width}.png`), fullPage: true });
      assert.deepEqual(foreignRequests, [], 'the page requested something besides itself');
      assert.deepEqual(consoleErrors, []);
      assert.ok(facts.cards.length > 0, 'the report shows example cards');
      for (const c of facts.cards) {
        // A card shows its item's picture, or says plainly that the item has none (it failed
        // before or while being decoded): never an empty box.
        if (c.none !== null) {
          assert.match(c.none, /no picture/, `${c.id}: ${c.none}`);
          continue;
        }
        assert.ok(c.loaded || c.svgImage, `${c.id} (${c.verdict}) has no loaded image`);
        assert.ok(c.shown, `${c.id} image has no size on the page`);
      }
      assert.equal(facts.unloadedImages, 0, 'every image on the page loads');
      // The web list repeats one URL: the Duplicates section shows that group side by side.
      if (kind === 'web') {
        assert.ok(facts.duplicateGroups.some((n) => n >= 2), `duplicate groups ${JSON.stringify(facts.duplicateGroups)}`);
        for (const col of ['url_sibling_of', 'duplicate_of']) assert.ok(facts.duplicateTests.includes(col), `${col} in ${facts.duplicateTests.join(', ')}`);
      }
      assert.ok(facts.anchors > 0);
      assert.deepEqual(facts.brokenAnchors, [], 'in-page links without a target');
      if (width === 400) {
        assert.ok(facts.scrollWidth <= 400, `page is ${facts.scrollWidth} px wide at 400 px: ${facts.wideElements.join(', ')}`);
      }
      if (width === 1400 && kind === 'image-text') {
        // Print: the navigation is hidden, scroll boxes unroll, and the page prints to PDF.
        await page.emulateMedia({ media: 'print' });
        const print = await page.evaluate(() => ({
          nav: getComputedStyle(document.querySelector('nav.toc')!).display,
          scroll: getComputedStyle(document.querySelector('.scroll')!).overflowX,
        }));
        assert.deepEqual(print, { nav: 'none', scroll: 'visible' });
        const pdf = await page.pdf({ format: 'A4' });
        assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
      }
      await page.close();
    }
  });
}
