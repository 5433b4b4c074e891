// T1/T2 of reliability-anchors.md §7: kill -9 of the broker under load, at each ack level.
// A master and a broker run as child processes; four producers (this process) send 1 KiB payloads
// that carry their own id to one topic of four partitions while a consumer group reads and commits;
// the broker is SIGKILLed at a random moment of each cycle and started again on the same data dir
// and port; the group's commits are read back after each restart. A brand-new group then drains
// every partition and the history checker judges.
//
//   written, fsync: lost 0, phantom 0, offset reuse 0, no unexplained duplicate (a duplicate is
//                   allowed only for a send in flight across a kill: its first try's ack died with
//                   the broker), no unexpected or corrupted read, no order violation, no commit
//                   moving back.
//   memory:         what is lost at a kill is, per partition, a contiguous tail of what was acked
//                   before that kill (no holes, nothing acked after the last kill lost); offset
//                   reuse 0. The loss per cycle and partition is printed.
//
// Quick by default (2 cycles per level, each killed 0.8-2 s in); TUBEMQ_FAULTS=full
// (npm run test:faults) runs 5 cycles per level, each killed 1.5-4 s in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Producer } from '../../src/client/index.js';
import { formatCounts, type HistoryCounts } from '../support/history-checker.js';
import { History, RecordedProducer } from '../support/history.js';
import {
  cleanup,
  FaultCluster,
  fullBattery,
  finalVerdict,
  recordCommitted,
  scratchDir,
  startLiveGroup,
  within,
} from '../support/faults.js';

const cycles = fullBattery ? 5 : 2;
const producerCount = 4;
const partitions = 4;
const payloadBytes = 1024;
const topic = 'load';

/** The counts that must be zero at `written` and `fsync`. */
const strictKinds = [
  'lost',
  'phantom',
  'offsetReuse',
  'duplicatedUnexplained',
  'unexpected',
  'corrupted',
  'outOfOrderConsumer',
  'outOfOrderProducer',
  'commitRegressions',
] as const satisfies readonly (keyof HistoryCounts)[];
/** ...and at `memory`. */
const memoryKinds = ['tailViolations', 'offsetReuse', 'unexpected', 'corrupted'] as const;

describe('kill -9 of the broker under load', { concurrency: false }, () => {
  afterEach(cleanup); // each test's daemons, tracer and mount go before the next test starts

  for (const acks of ['written', 'fsync', 'memory'] as const) {
    test(`acks=${acks}: ${cycles} kill/restart cycles, then a fresh group drains`, async (t) => {
      const testBegan = Date.now();
      const history = History.create();
      t.diagnostic(`history: ${history.path}`);
      const root = await scratchDir('tubemq-fault-kill-');
      const cluster = await FaultCluster.start(root, {
        broker: { log: { path: join(root, 'broker.log') }, env: { TUBEMQ_LOG_LEVEL: 'info' } },
      });
      const { masters } = cluster;
      await cluster.createTopic(topic, partitions);

      const producers = Array.from({ length: producerCount }, (_, i) => {
        const producer = new Producer({ masters, acks, lingerMs: 1, requestTimeoutMs: 5000 });
        return new RecordedProducer(history, String(i), producer, acks, payloadBytes);
      });
      let producing = true;
      const sending = producers.map((each) => each.sendWhile(topic, () => producing, 32));
      const live = startLiveGroup(history, masters, topic);
      const acked = (): number => history.events.filter((event) => event.type === 'ack').length;
      try {
        for (let cycle = 0; cycle < cycles; cycle++) {
          const waitMs = fullBattery
            ? 1500 + Math.floor(Math.random() * 2500)
            : 800 + Math.floor(Math.random() * 1200);
          const before = acked();
          await sleep(waitMs);
          history.fault('kill', `cycle ${cycle} after ${waitMs} ms`);
          await cluster.killBroker();
          const ackedBefore = acked() - before;
          history.fault('restart');
          const began = Date.now();
          await cluster.startBroker();
          t.diagnostic(
            `cycle ${cycle}: killed after ${waitMs} ms, ${ackedBefore} acked in the cycle, ` +
              `back online in ${Date.now() - began} ms`,
          );
          await recordCommitted(history, masters, 'live', topic);
        }
        await sleep(1000);
      } finally {
        producing = false;
        await within(Promise.all(sending), 60_000);
        await live.stop();
        await Promise.all(producers.map((each) => each.producer.close()));
      }

      t.diagnostic(`load and kills over after ${Date.now() - testBegan} ms`);
      const kinds = acks === 'memory' ? memoryKinds : strictKinds;
      const { report, failures } = await finalVerdict(t, history, masters, topic, kinds);
      if (acks === 'memory') {
        for (const tail of report.tails.filter((each) => each.killed)) {
          t.diagnostic(
            `cycle ${tail.cycle} partition ${tail.partition}: lost ${tail.lost} of ${tail.acked} acked` +
              (tail.oldestLostAgeMs === undefined
                ? ''
                : `, the oldest lost acked ${tail.oldestLostAgeMs} ms before the kill`) +
              (tail.holes > 0 ? `, ${tail.holes} holes` : ''),
          );
        }
      }
      assert.ok(report.counts.acked > 0, 'some sends were acked');
      assert.deepEqual(failures, [], `acks=${acks}: ${formatCounts(report.counts)}`);
      history.discard();
    });
  }
});
