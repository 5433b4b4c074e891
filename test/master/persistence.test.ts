// The master's metadata survives restarts: topics, placement, the version and known brokers come
// back from meta.json + meta.wal; compaction folds the log; a torn or damaged last line is dropped
// the way DurableState drops it, keeping every change before it, while damage before the last line
// refuses the start with the repair command. A topic is visible only once durable, and a disk that
// fails refuses CREATE_TOPIC with a storage error while reads go on.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { isTubeError } from '../../src/common/index.js';
import { metaLogFile, metaSnapshotFile, type Master } from '../../src/master/index.js';
import {
  callJson,
  clusterStatusMessage,
  createTopicMessage,
  listBrokersMessage,
  listTopicsMessage,
  type TopicDescription,
} from '../../src/protocol/index.js';
import { errnoError, hookedFileIO } from '../helpers/hooked-io.js';
import { connectTo, eventually, FakeBroker, startMaster, tempRoot } from './helpers.js';

const dirs = tempRoot('tubemq-master-persist-');
after(() => dirs.remove());

/** Runs `body` against a master on `dataDir` with broker 1 online, then closes both. */
async function withMaster<T>(
  dataDir: string,
  body: (master: Master, admin: Awaited<ReturnType<typeof connectTo>>) => Promise<T>,
  options: Parameters<typeof startMaster>[1] = {},
): Promise<T> {
  const master = await startMaster(dataDir, { topicApplyTimeoutMs: 200, ...options });
  const admin = await connectTo(master);
  try {
    return await body(master, admin);
  } finally {
    admin.close();
    await master.close();
  }
}

async function createTopics(master: Master, admin: Awaited<ReturnType<typeof connectTo>>, names: string[]) {
  const broker = await FakeBroker.online(master, 1);
  try {
    for (const name of names) await callJson(admin, createTopicMessage, { name, partitions: 2 });
  } finally {
    broker.close();
  }
}

async function state(admin: Awaited<ReturnType<typeof connectTo>>) {
  const topics: TopicDescription[] = (await callJson(admin, listTopicsMessage, {})).topics;
  const version = (await callJson(admin, clusterStatusMessage, {})).master.metadataVersion;
  const brokers = (await callJson(admin, listBrokersMessage, {})).brokers;
  return { topics, version, brokers };
}

describe('master metadata persistence', () => {
  test('a restarted master has the same topics, placement and version, and lists known brokers offline', async () => {
    // Goal: close + start on the same data dir loses nothing that was acknowledged.
    const dataDir = dirs.fresh();
    const before = await withMaster(dataDir, async (master, admin) => {
      await createTopics(master, admin, ['a', 'b']);
      return state(admin);
    });
    assert.equal(before.topics.length, 2);
    assert.ok(fs.existsSync(path.join(dataDir, metaLogFile)));

    const afterRestart = await withMaster(dataDir, (_master, admin) => state(admin));
    assert.deepEqual(afterRestart.topics, before.topics);
    assert.equal(afterRestart.version, before.version);
    assert.deepEqual(
      afterRestart.brokers.map(({ brokerId, port, state, registeredAtMs }) => ({
        brokerId,
        port,
        state,
        registeredAtMs,
      })),
      [{ brokerId: 1, port: 9001, state: 'offline', registeredAtMs: before.brokers[0]?.registeredAtMs }],
    );
    assert.equal(afterRestart.brokers[0]?.lastHeartbeatAtMs, 0, 'not heard from since this master started');

    // And the version keeps growing from where it was.
    await withMaster(dataDir, async (master, admin) => {
      await createTopics(master, admin, ['c']);
      assert.equal((await state(admin)).version, before.version + 1);
    });
  });

  test('compaction folds meta.wal into meta.json and a restart reads both', async () => {
    // Goal: the log does not grow forever, and state split between snapshot and log comes back whole.
    const dataDir = dirs.fresh();
    const names = ['t1', 't2', 't3', 't4', 't5'];
    const before = await withMaster(
      dataDir,
      async (master, admin) => {
        await createTopics(master, admin, names);
        return state(admin);
      },
      { metaCompactAfterChanges: 4 },
    );
    assert.ok(fs.existsSync(path.join(dataDir, metaSnapshotFile)), 'a snapshot was written');
    const logLines = fs.readFileSync(path.join(dataDir, metaLogFile), 'utf8').split('\n').filter(Boolean);
    assert.ok(logLines.length < names.length + 1, `log holds ${logLines.length} lines after compaction`);

    const afterRestart = await withMaster(dataDir, (_master, admin) => state(admin));
    assert.deepEqual(afterRestart.topics, before.topics);
    assert.equal(afterRestart.version, before.version);
  });

  test('a torn meta.wal tail is cut; every change before it survives and new changes append cleanly', async () => {
    // Goal: a crash mid-write leaves a half line; the master starts, keeps the good prefix, and the
    // next change is not glued onto the garbage.
    const dataDir = dirs.fresh();
    const before = await withMaster(dataDir, async (master, admin) => {
      await createTopics(master, admin, ['kept']);
      return state(admin);
    });
    fs.appendFileSync(path.join(dataDir, metaLogFile), '0badc0de {"seq":99,"change":{"type":"topic-cr');

    await withMaster(dataDir, async (master, admin) => {
      assert.deepEqual((await state(admin)).topics, before.topics);
      await createTopics(master, admin, ['after-cut']);
    });
    const final = await withMaster(dataDir, (_master, admin) => state(admin));
    assert.deepEqual(
      final.topics.map((topic) => topic.name),
      ['after-cut', 'kept'],
    );
  });

  test('a damaged last line (bit flip) drops only that change', async () => {
    // Goal: the CRC catches a flipped byte; the earlier topics stay, the damaged one is gone.
    const dataDir = dirs.fresh();
    await withMaster(dataDir, (master, admin) => createTopics(master, admin, ['first', 'second']));
    const logPath = path.join(dataDir, metaLogFile);
    const text = fs.readFileSync(logPath, 'utf8');
    const at = text.lastIndexOf('"second"') + 2;
    fs.writeFileSync(logPath, text.slice(0, at) + 'X' + text.slice(at + 1));

    const recovered = await withMaster(dataDir, (_master, admin) => state(admin));
    assert.deepEqual(
      recovered.topics.map((topic) => topic.name),
      ['first'],
    );
  });

  test('damage before the last line of meta.wal refuses the start, naming the file, the offset and the repair command', async () => {
    // Goal: a master never starts without acknowledged topics. Method: three topics, then flip a
    // byte in the line of the second; the start must refuse (twice: the lock is released).
    const dataDir = dirs.fresh();
    await withMaster(dataDir, (master, admin) => createTopics(master, admin, ['first', 'second', 'third']));
    const logPath = path.join(dataDir, metaLogFile);
    const text = fs.readFileSync(logPath, 'utf8');
    const lineStart = text.lastIndexOf('\n', text.indexOf('"second"')) + 1;
    const at = text.indexOf('"second"') + 2;
    fs.writeFileSync(logPath, text.slice(0, at) + 'X' + text.slice(at + 1));
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(startMaster(dataDir), (error) => {
        assert.ok(isTubeError(error, 'UNAVAILABLE'), String(error));
        assert.match(
          error.message,
          new RegExp(`^${logPath} is damaged at byte ${lineStart}: the line fails its CRC check`),
        );
        assert.equal(error.hint?.includes(`tubemq master repair --data-dir ${dataDir}`), true, error.hint);
        return true;
      });
    }
  });

  test('a topic is not listed, and the version does not move, until its line in meta.wal is synced', async () => {
    // Goal: no reader (LIST_TOPICS, CLUSTER_STATUS, a broker's heartbeat) sees a topic that a
    // failed or lost write could still take away. Method: hold meta.wal's fdatasync during CREATE_TOPIC.
    const dataDir = dirs.fresh();
    let hold = false;
    let release: (() => void) | undefined;
    const fileIO = hookedFileIO(async (operation, filePath) => {
      if (hold && operation === 'datasync' && filePath.endsWith(metaLogFile))
        await new Promise<void>((go) => (release = go));
    });
    await withMaster(
      dataDir,
      async (master, admin) => {
        const broker = await FakeBroker.online(master, 1);
        try {
          const before = await state(admin);
          hold = true;
          const creating = callJson(admin, createTopicMessage, { name: 'held', partitions: 1 });
          await eventually(() => release !== undefined);
          const during = await state(admin);
          assert.deepEqual(during.topics, []);
          assert.equal(during.version, before.version);
          assert.equal(broker.appliedVersion, before.version, 'no assignment with the topic was pushed');
          hold = false;
          release!();
          assert.equal((await creating).created, true);
          assert.deepEqual(
            (await state(admin)).topics.map((topic) => topic.name),
            ['held'],
          );
        } finally {
          broker.close();
        }
      },
      { fileIO },
    );
  });

  for (const [code, errorCode] of [
    ['ENOSPC', 507],
    ['EIO', 503],
  ] as const) {
    test(`a failed meta.wal write (${code}) answers CREATE_TOPIC with ${errorCode}, refuses later changes, and the master keeps serving reads`, async () => {
      // Goal: storage errors are answers, not crashes, and fail closed. Method: fail meta.wal's
      // writes during one CREATE_TOPIC, let the disk work again, try another; both are refused,
      // reads go on, and after a restart only the topic from before the failure is there.
      const dataDir = dirs.fresh();
      let failing = false;
      const fileIO = hookedFileIO((operation, filePath) => {
        if (failing && operation === 'writev' && filePath.endsWith(metaLogFile)) throw errnoError(code);
      });
      await withMaster(
        dataDir,
        async (master, admin) => {
          const broker = await FakeBroker.online(master, 1);
          try {
            await callJson(admin, createTopicMessage, { name: 'before', partitions: 1 });
            failing = true;
            for (const name of ['failed', 'after']) {
              await assert.rejects(callJson(admin, createTopicMessage, { name, partitions: 1 }), (error) => {
                assert.ok(isTubeError(error), String(error));
                assert.equal(error.code, errorCode);
                return true;
              });
              failing = false;
            }
            const now = await state(admin);
            assert.deepEqual(
              now.topics.map((topic) => topic.name),
              ['before'],
            );
          } finally {
            broker.close();
          }
        },
        { fileIO },
      );
      const restarted = await withMaster(dataDir, (_master, admin) => state(admin));
      assert.deepEqual(
        restarted.topics.map((topic) => topic.name),
        ['before'],
      );
    });
  }
});
