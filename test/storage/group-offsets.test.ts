// Group offsets on the broker's storage engine, over DurableState: files an older broker wrote (one
// commit per line) still open, a group or topic removal also takes the commits still being written,
// and damaged offsets files refuse the engine's open with `tubemq broker repair`.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { encodeCheckedLine, scanCheckedLines } from '../../src/common/checked-log.js';
import { isTubeError } from '../../src/common/errors.js';
import type { FileIO } from '../../src/common/file-io.js';
import { StorageEngine } from '../../src/storage/index.js';
import { hookedFileIO } from '../helpers/hooked-io.js';
import { capturingLogger, removeTempDirs, tempDir } from '../helpers/storage-files.js';

after(removeTempDirs);

function openEngine(dataDir: string, fileIO?: FileIO): Promise<StorageEngine> {
  return StorageEngine.open({
    dataDir,
    retentionCheckIntervalMs: 0,
    logger: capturingLogger().logger,
    ...(fileIO === undefined ? {} : { fileIO }),
  });
}

const offsetsFile = (dataDir: string, name: string) => path.join(dataDir, 'offsets', name);

async function engineWithTopic(dataDir: string, fileIO?: FileIO): Promise<StorageEngine> {
  const engine = await openEngine(dataDir, fileIO);
  if (!engine.listTopics().some((topic) => topic.name === 't'))
    await engine.createTopic('t', { partitions: 4 });
  for (let partition = 0; partition < 4; partition++)
    if (engine.latestOffset('t', partition) === 0)
      await engine.append('t', partition, [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
  return engine;
}

describe('group offsets files', () => {
  test('files of an older broker (one commit per line) open, and new commits go after them as batch lines', async () => {
    // Goal: an upgrade keeps every committed offset. Method: write the old layout by hand
    // (snapshot rows under `offsets`, log lines `{seq, group, topic, partition, offset}`), open,
    // commit, reopen.
    const dataDir = tempDir();
    await (await engineWithTopic(dataDir)).close();
    fs.writeFileSync(
      offsetsFile(dataDir, 'offsets.snapshot'),
      encodeCheckedLine({ seq: 2, offsets: [['g', 't', 0, 1]] }),
    );
    fs.writeFileSync(
      offsetsFile(dataDir, 'offsets.log'),
      encodeCheckedLine({ seq: 3, group: 'g', topic: 't', partition: 1, offset: 2 }) +
        encodeCheckedLine({ seq: 4, group: 'h', topic: 't', partition: 0, offset: 3 }),
    );
    let engine = await engineWithTopic(dataDir);
    await engine.commitOffsets([
      { group: 'g', topic: 't', partition: 0, offset: 3 },
      { group: 'h', topic: 't', partition: 2, offset: 1 },
    ]);
    await engine.close();
    const lines = scanCheckedLines(fs.readFileSync(offsetsFile(dataDir, 'offsets.log'))).lines.map(
      (line) => line.entry,
    );
    assert.deepEqual(lines.at(-1), {
      seq: 5,
      commits: [
        ['g', 't', 0, 3],
        ['h', 't', 2, 1],
      ],
    });
    engine = await engineWithTopic(dataDir);
    assert.deepEqual(
      engine
        .listCommittedOffsets()
        .map(({ group, partition, offset }) => `${group}/${partition}=${offset}`)
        .sort(),
      ['g/0=3', 'g/1=2', 'h/0=3', 'h/2=1'],
    );
    await engine.close();
  });

  test('deleting a group also removes a commit of it that is still being written', async () => {
    // Goal: "remove what is there" decides from the state the removal is written onto, not from
    // what was durable when it was asked for. Method: hold the fdatasync of one commit, delete
    // the group meanwhile, then let the commit through.
    const dataDir = tempDir();
    let hold = false;
    let release: (() => void) | undefined;
    const io = hookedFileIO(async (operation, filePath) => {
      if (hold && operation === 'datasync' && filePath.endsWith('offsets.log'))
        await new Promise<void>((go) => (release = go));
    });
    const engine = await engineWithTopic(dataDir, io);
    await engine.commitOffsets([{ group: 'g', topic: 't', partition: 0, offset: 1 }]);
    hold = true;
    const committing = engine.commitOffsets([{ group: 'g', topic: 't', partition: 3, offset: 2 }]);
    while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
    hold = false;
    const deleting = engine.deleteGroupOffsets('g');
    assert.equal(engine.committedOffset('g', 't', 3), undefined, 'not visible before it is durable');
    release();
    await committing;
    assert.equal(await deleting, 2, 'the commit written before the removal is removed with it');
    assert.deepEqual(engine.listCommittedOffsets({ group: 'g' }), []);
    await engine.close();
    const reopened = await engineWithTopic(dataDir);
    assert.deepEqual(reopened.listCommittedOffsets({ group: 'g' }), []);
    await reopened.close();
  });

  test('a damaged line before the last refuses the open with the file, the offset and `tubemq broker repair`', async () => {
    const dataDir = tempDir();
    const engine = await engineWithTopic(dataDir);
    for (let offset = 1; offset <= 3; offset++)
      await engine.commitOffsets([{ group: 'g', topic: 't', partition: 0, offset }]);
    await engine.close();
    const logPath = offsetsFile(dataDir, 'offsets.log');
    const content = fs.readFileSync(logPath);
    const second = content.indexOf(0x0a) + 1;
    content[second + 15]! ^= 0x01;
    fs.writeFileSync(logPath, content);
    await assert.rejects(openEngine(dataDir), (error) => {
      assert.ok(isTubeError(error, 'UNAVAILABLE'), String(error));
      assert.match(error.message, new RegExp(`^${logPath} is damaged at byte ${second}: `));
      assert.equal(error.hint?.includes(`tubemq broker repair --data-dir ${dataDir}`), true, error.hint);
      return true;
    });
  });
});
