// Debian's Chromium for the browser tests, driven by playwright-core. Without it the
// browser suites are skipped and say why; TEST_REQUIRE_BROWSER (set by .ci/run) makes a
// missing Chromium an error instead.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** `skip` for a browser suite: false when Chromium is there. */
export const browserSkip: string | false = existsSync(CHROMIUM) ? false : `browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`;
if (browserSkip && process.env.TEST_REQUIRE_BROWSER) throw new Error(`TEST_REQUIRE_BROWSER is set but ${CHROMIUM} is missing`);

/** Headless Chromium with the flags this closed network needs (no background connections). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
