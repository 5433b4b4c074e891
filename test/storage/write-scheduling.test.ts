// When data writes start relative to the acks of earlier ones (store.ts flushBlock): the disk should
// not sit idle while a broker sends acks.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { StorageEngine } from '../../src/storage/index.js';
import { withDataFileHandles } from '../helpers/bound-handle.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test('a batch that arrived during a data write is on its way to the disk before that write is acknowledged', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-write-scheduling-'));
  dirs.push(dataDir);
  let dataWritesStarted = 0;
  const countingIO = withDataFileHandles((handle) => ({
    writev: (buffers, position) => {
      dataWritesStarted++;
      return handle.writev(buffers, position);
    },
  }));
  const engine = await StorageEngine.open({ dataDir, fileIO: countingIO, retentionCheckIntervalMs: 0 });
  await engine.createTopic('t', { partitions: 1 });
  await engine.append('t', 0, [{ value: 'opens the segment' }], { acks: 'written' });
  const first = engine.append('t', 0, [{ value: 'first' }], { acks: 'written' });
  while (dataWritesStarted < 2) await new Promise((resolve) => setImmediate(resolve));
  const second = engine.append('t', 0, [{ value: 'second' }], { acks: 'written' });
  await first;
  assert.equal(dataWritesStarted, 3, 'the second block waited for the first block’s acks');
  assert.equal((await second).baseOffset, 2);
  await engine.close();
});
