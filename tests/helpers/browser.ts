// A real headless Chromium (Debian's chromium package, found on PATH) driven with
// playwright-core, for tests that open report pages as a reader would. Every request is routed:
// only the file:// page itself is served, anything else is recorded and aborted.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** The Chromium binary, or null when none is installed (tests then skip, saying why). */
export function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (found && existsSync(found)) return found;
    } catch {
      // not on PATH
    }
  }
  return null;
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface OpenedPage {
  page: Page;
  /** Requests other than the page itself (all aborted). */
  foreignRequests: string[];
  consoleErrors: string[];
}

export interface Browser {
  open(file: string, width: number, height?: number): Promise<OpenedPage>;
  close(): Promise<void>;
}

export async function launchBrowser(executablePath: string): Promise<Browser> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'weft-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, { executablePath, args: ARGS, headless: true, offline: true });
  return {
    async open(file, width, height = 900) {
      const url = pathToFileURL(file).href;
      const page = await context.newPage();
      await page.setViewportSize({ width, height });
      const foreignRequests: string[] = [];
      const consoleErrors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => consoleErrors.push(String(e)));
      await page.route('**/*', (route) => {
        const u = route.request().url();
        if (u === url) return route.continue();
        foreignRequests.push(u);
        return route.abort();
      });
      await page.goto(url, { waitUntil: 'load' });
      return { page, foreignRequests, consoleErrors };
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
