import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchConfig, fetchConfigSchema, DEFAULT_USER_AGENT } from '../../schemas/fetch-config.ts';

test('defaults are polite and safe: consent checks on, private addresses refused', () => {
  const cfg = fetchConfig();
  assert.equal(cfg.user_agent, DEFAULT_USER_AGENT);
  assert.equal(cfg.allow_private_addresses, false);
  assert.equal(cfg.respect_robots_txt, true);
  assert.equal(cfg.respect_x_robots_tag, true);
  assert.deepEqual(cfg.opt_out_directives, ['noai', 'noimageai', 'noindex', 'noimageindex']);
  assert.ok(cfg.first_byte_timeout_ms < cfg.total_timeout_ms);
});

test('unknown keys and out-of-range values are refused, naming the key', () => {
  const unknown = fetchConfigSchema.safeParse({ concurency: 4 });
  assert.equal(unknown.success, false);
  assert.match(JSON.stringify(unknown.error?.issues), /concurency/);
  const bad = fetchConfigSchema.safeParse({ per_host_rate: 0 });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0].path, ['per_host_rate']);
});
