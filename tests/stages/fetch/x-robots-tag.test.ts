import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userAgentToken, xRobotsOptOut } from '../../../stages/fetch/x-robots-tag.ts';
import { DEFAULT_OPT_OUT_DIRECTIVES } from '../../../schemas/fetch-config.ts';

const optOut = (...values: string[]) => xRobotsOptOut(values, 'weft', DEFAULT_OPT_OUT_DIRECTIVES);

test('the product token is the User-Agent up to its version', () => {
  assert.equal(userAgentToken('weft/0.1'), 'weft');
  assert.equal(userAgentToken('Weft/0.1 (+contact)'), 'weft');
  assert.equal(userAgentToken('weft'), 'weft');
});

test('unscoped opt-out directives apply, case-insensitively, in any position', () => {
  assert.equal(optOut('noai'), 'noai');
  assert.equal(optOut('NoImageAI'), 'noimageai');
  assert.equal(optOut('noarchive, noimageindex'), 'noimageindex');
  assert.equal(optOut('noarchive', 'nosnippet, noindex'), 'noindex', 'several headers');
  assert.equal(optOut('none'), 'none', 'none means noindex, nofollow');
  assert.equal(optOut('noarchive, nofollow, max-snippet: 20'), null);
  assert.equal(optOut(), null);
});

test('user-agent scoped values apply only to their agent, until the next scope', () => {
  assert.equal(optOut('otherbot: noai'), null);
  assert.equal(optOut('otherbot: noai, noimageai'), null, 'the scope covers the rest of the header');
  assert.equal(optOut('weft: noimageai'), 'weft: noimageai');
  assert.equal(optOut('WEFT: NOAI'), 'weft: noai');
  assert.equal(optOut('otherbot: noai, weft: noindex'), 'weft: noindex');
  assert.equal(optOut('otherbot: noai', 'noimageai'), 'noimageai', 'a new header starts unscoped');
  assert.equal(optOut('unavailable_after: 25 Jun 2010 15:00:00 PST, noai'), 'noai', 'valued directives are not agents');
});

test('the directive list is configurable', () => {
  assert.equal(xRobotsOptOut(['noindex'], 'weft', ['noai']), null);
  assert.equal(xRobotsOptOut(['noml'], 'weft', ['noml']), 'noml');
});
