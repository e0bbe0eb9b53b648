import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { nodeNote, parseConfig } from '../src/ui/config.js';

describe('config: /api/config as the page reads it', () => {
  const cases: { name: string; body: unknown; want: { devMode: boolean; node: string } }[] = [
    { name: 'a cluster node', body: { dev_mode: true, protocol: 1, heartbeat_ms: 30000, node: 'node-2' }, want: { devMode: true, node: 'node-2' } },
    { name: 'an older server without node', body: { dev_mode: false, protocol: 1 }, want: { devMode: false, node: '' } },
    { name: 'odd types', body: { dev_mode: 'yes', node: 7 }, want: { devMode: false, node: '' } },
    { name: 'not an object', body: null, want: { devMode: false, node: '' } },
    { name: 'a failed fetch', body: {}, want: { devMode: false, node: '' } },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(parseConfig(c.body), c.want));
  }

  it('names the node in the footer, or says nothing', () => {
    assert.equal(nodeNote('node-1'), 'served by node-1');
    assert.equal(nodeNote(''), '');
  });
});
