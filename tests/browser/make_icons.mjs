// Renders web/icon.svg to the PNG icons the manifest and iOS need, with the
// same headless Chromium the browser test uses. Run after editing icon.svg:
//   node tests/browser/make_icons.mjs
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const svg = readFileSync(path.join(WEB, 'icon.svg'), 'utf8');
const src = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;

// bleed: fill the square behind the rounded icon (maskable / iOS masks it
// itself); its art stays inside the 80% safe zone.
const ICONS = [
  { file: 'icon-192.png', size: 192, bleed: false },
  { file: 'icon-512.png', size: 512, bleed: false },
  { file: 'icon-maskable-512.png', size: 512, bleed: true },
  { file: 'apple-touch-icon.png', size: 180, bleed: true },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
try {
  for (const { file, size, bleed } of ICONS) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    const bg = bleed ? '#0b0d12' : 'transparent';
    await page.setContent(
      `<style>html,body{margin:0;background:${bg}}img{display:block}</style>` +
        `<img src="${src}" width="${size}" height="${size}">`,
    );
    await page.screenshot({ path: path.join(WEB, file), omitBackground: !bleed });
    await page.close();
    console.log(`wrote web/${file}`);
  }
} finally {
  await browser.close();
}
