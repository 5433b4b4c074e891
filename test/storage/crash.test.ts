// kill -9 of a writer (reliability-anchors.md §5.2, the Kafka hard_bounce + validate_delivery
// pattern): a child process appends with `written` acks and prints each ack; the parent kills it
// with SIGKILL at a random moment, then recovers the store in-process and checks that every
// acknowledged record survived byte for byte, at its offset, in a gap-free log.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { StorageEngine, type StoredMessage } from '../../src/storage/index.js';
import { capturingLogger, removeTempDirs, tempDir } from '../helpers/storage-files.js';
import {
  crashEngineOptions,
  crashPartitions,
  crashTopic,
  messageKey,
  valueForKey,
} from './fixtures/append-child.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const childScript = path.join(here, 'fixtures', 'append-child.ts');
const cycles = 5;
const firstAckTimeoutMs = 30_000;

interface AckLine {
  p: number;
  base: number;
  count: number;
  batch: string;
}

after(removeTempDirs);

/** Resolves once the child printed its first complete line; rejects if it exits first or is too slow. */
function firstLine(child: ResultPromise): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error('no ack line from the child in time')),
      firstAckTimeoutMs,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      if (seen.includes('\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the child exited before its first ack (code ${code}, signal ${signal})`));
    });
  });
}

/** Complete ack lines of a child's stdout; a line cut short by the kill (no newline) is dropped. */
function parseAcks(stdout: string): AckLine[] {
  const lines = stdout.split('\n');
  lines.pop();
  return lines.map((line) => JSON.parse(line) as AckLine);
}

/** Every message of a partition from offset 0, following nextOffset until the log end. */
async function readPartition(
  engine: StorageEngine,
  partition: number,
): Promise<{ messages: StoredMessage[]; damagedSkipped: number; latestOffset: number }> {
  const messages: StoredMessage[] = [];
  let damagedSkipped = 0;
  let offset = 0;
  const latestOffset = engine.latestOffset(crashTopic, partition);
  while (offset < latestOffset) {
    const result = await engine.read(crashTopic, partition, offset, {
      maxMessages: 2000,
      maxBytes: 16 * 1024 * 1024,
    });
    assert.ok(result.nextOffset > offset, `read of partition ${partition} at ${offset} made no progress`);
    messages.push(...result.messages);
    damagedSkipped += result.damagedSkipped;
    offset = result.nextOffset;
  }
  return { messages, damagedSkipped, latestOffset };
}

// Goal: acked `written` appends survive kill -9 with a gap-free log over 5 cycles; method: SIGKILL a writer child at a random moment, recover in-process, compare every ack byte for byte.
test('acked appends survive SIGKILL of the writer; recovery keeps every log gap-free and valid', async (t) => {
  const dataDir = tempDir();
  /** Per partition: offset → key of every record whose ack the parent saw, over all cycles. */
  const acked = Array.from({ length: crashPartitions }, () => new Map<number, string>());
  const uncleanCycles: number[] = [];

  for (let cycle = 1; cycle <= cycles; cycle++) {
    const child = execa(process.execPath, ['--import', 'tsx', childScript, dataDir, String(cycle)], {
      cwd: repoRoot,
      reject: false,
      stdin: 'ignore',
      env: { NODE_ENV: 'test' },
    });
    await firstLine(child);
    const waitMs = 150 + Math.floor(Math.random() * 750);
    await delay(waitMs);
    child.kill('SIGKILL');
    const result = await child;
    assert.equal(
      result.signal,
      'SIGKILL',
      `cycle ${cycle}: the child should die by SIGKILL, not on its own; stderr:\n${String(result.stderr)}`,
    );

    const acks = parseAcks(String(result.stdout));
    assert.ok(acks.length > 0, `cycle ${cycle}: no complete ack line`);
    for (const ack of acks) {
      for (let i = 0; i < ack.count; i++) {
        const offset = ack.base + i;
        const key = messageKey(ack.batch, i, ack.count);
        const previous = acked[ack.p]!.get(offset);
        assert.equal(
          previous,
          undefined,
          `cycle ${cycle}: offset ${offset} of partition ${ack.p} was acked twice (${previous} and ${key})`,
        );
        acked[ack.p]!.set(offset, key);
      }
    }

    const { logger, entries } = capturingLogger();
    const engine = await StorageEngine.open(crashEngineOptions(dataDir, logger));
    const reports = engine.openReports.filter((report) => report.topic === crashTopic);
    assert.equal(reports.length, 1, `cycle ${cycle}: one store should have been opened`);
    if (reports.some((report) => !report.clean)) uncleanCycles.push(cycle);

    const seenKeys = new Set<string>();
    let records = 0;
    let ackedRecords = 0;
    for (let partition = 0; partition < crashPartitions; partition++) {
      const { messages, damagedSkipped, latestOffset } = await readPartition(engine, partition);
      assert.equal(damagedSkipped, 0, `cycle ${cycle}: partition ${partition} skipped damaged records`);
      assert.equal(engine.earliestOffset(crashTopic, partition), 0);
      assert.equal(
        messages.length,
        latestOffset,
        `cycle ${cycle}: partition ${partition} serves ${messages.length} records below latestOffset ${latestOffset}`,
      );
      // Contiguous from 0, and every record (acked or not) is a whole, genuine message.
      for (const [index, message] of messages.entries()) {
        assert.equal(message.offset, index, `cycle ${cycle}: partition ${partition} has a gap or duplicate`);
        assert.equal(message.partition, partition);
        const key = message.key?.toString('utf8');
        assert.ok(
          key !== undefined && /^\d+\.\d+\.\d+\/\d+\/\d+$/.test(key),
          `cycle ${cycle}: partition ${partition} offset ${index} holds a record no writer wrote (key ${key})`,
        );
        assert.ok(
          message.value.equals(valueForKey(key)),
          `cycle ${cycle}: partition ${partition} offset ${index} (${key}) has a wrong value`,
        );
        assert.ok(!seenKeys.has(key), `cycle ${cycle}: message ${key} is stored twice`);
        seenKeys.add(key);
        // A batch is appended as one unit: its messages sit at consecutive offsets, in order.
        const [, indexText] = key.split('/');
        if (Number(indexText) > 0) {
          const before = messages[index - 1]?.key?.toString('utf8');
          const [batch, , countText] = key.split('/');
          assert.equal(
            before,
            messageKey(batch!, Number(indexText) - 1, Number(countText)),
            `cycle ${cycle}: partition ${partition} offset ${index}: batch ${batch} is not contiguous`,
          );
        }
      }
      // Every acked record is there, at the offset its ack named.
      for (const [offset, key] of acked[partition]!) {
        const message = messages[offset];
        assert.ok(
          message !== undefined,
          `cycle ${cycle}: acked offset ${offset} of partition ${partition} (${key}) was lost; the log ends at ${messages.length}`,
        );
        assert.equal(
          message.key?.toString('utf8'),
          key,
          `cycle ${cycle}: acked offset ${offset} of partition ${partition} holds another message`,
        );
        assert.ok(message.value.equals(valueForKey(key)));
      }
      records += messages.length;
      ackedRecords += acked[partition]!.size;
    }
    assert.equal(engine.stats().damagedRecordsSkipped, 0, `cycle ${cycle}: damage reported`);
    const errors = entries.filter((entry) => entry.level === 'error');
    assert.deepEqual(errors, [], `cycle ${cycle}: the engine logged errors`);
    await engine.close();
    t.diagnostic(
      `cycle ${cycle}: killed ${waitMs} ms after the first ack; ${acks.length} acked batches; ` +
        `${records} records (${records - ackedRecords} written but never acked); ` +
        `report ${JSON.stringify(reports[0])}`,
    );
  }

  assert.ok(uncleanCycles.length > 0, 'no cycle reported an unclean recovery');
  t.diagnostic(`unclean recoveries in cycles ${uncleanCycles.join(', ')}`);
});
