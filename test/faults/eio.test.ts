// T7 of reliability-anchors.md §7: the disk answers EIO. strace attaches to the running broker
// (every thread: Node writes and syncs files on its thread pool) and makes its file writes
// (pwritev, pwrite64) or its syncs (fdatasync) fail, while producers keep sending and a consumer
// group reads along. Sockets use writev/write, so the broker keeps talking.
//
//   - the batches in flight when the error hits are not acked (an ack of a batch whose write or
//     sync failed is found as a loss after the restart);
//   - further writes are refused with 503 or 507, also once the tracer is gone, without a
//     restart: after a failed write or sync the store is read-only (fsyncgate: no retry-then-ack);
//   - what was acked is still readable meanwhile;
//   - after a restart (SIGTERM, then start) without injection: lost 0, offset reuse 0, phantom 0.
//
// For the fdatasync case one producer sends with acks=written and one with acks=fsync: the
// written data leaves the segment dirty, so the fsync batches need an fdatasync (a batch alone
// would be written with O_DSYNC and need none). Skips when strace is missing (CI installs it).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Producer } from '../../src/client/index.js';
import {
  addOutcomes,
  History,
  noOutcome,
  RecordedProducer,
  type AckLevel,
  type SendOutcome,
} from '../support/history.js';
import {
  cleanup,
  diskFaultKinds,
  Expectations,
  FaultCluster,
  injectErrors,
  finalVerdict,
  probeBroker,
  readBackAcked,
  scratchDir,
  startLiveGroup,
  straceAvailable,
} from '../support/faults.js';

const partitions = 2;
const topic = 'eio';

const cases: { name: string; syscalls: string[]; acks: AckLevel[] }[] = [
  { name: 'data writes (pwritev, pwrite64)', syscalls: ['pwritev', 'pwrite64'], acks: ['written'] },
  { name: 'syncs (fdatasync)', syscalls: ['fdatasync'], acks: ['written', 'fsync'] },
];

describe('EIO from the disk', { concurrency: false }, () => {
  afterEach(cleanup); // each test's daemons, tracer and mount go before the next test starts

  for (const { name, syscalls, acks } of cases) {
    test(`EIO on ${name}: nothing failed is acked, the store turns read-only, reads go on`, async (t) => {
      if (!straceAvailable()) {
        t.skip('strace is not installed (apt-get install -y strace); .ci/run installs it');
        return;
      }
      const history = History.create();
      t.diagnostic(`history: ${history.path}`);
      const root = await scratchDir('tubemq-fault-eio-');
      const cluster = await FaultCluster.start(root, {
        broker: { log: { path: join(root, 'broker.log') }, env: { TUBEMQ_LOG_LEVEL: 'info' } },
      });
      const { masters } = cluster;
      await cluster.createTopic(topic, partitions);
      const senders = acks.map((level, i) => {
        const producer = new Producer({
          masters,
          acks: level,
          retries: 1,
          lingerMs: 1,
          requestTimeoutMs: 5000,
        });
        return new RecordedProducer(history, `${level[0]}${i}`, producer, level, 512);
      });
      const sendAll = async (count: number): Promise<SendOutcome> =>
        (await Promise.all(senders.map((each) => each.sendMany(topic, count)))).reduce(
          addOutcomes,
          noOutcome(),
        );
      const checks = new Expectations();
      const live = startLiveGroup(history, masters, topic);
      const probe = probeBroker(cluster.broker!.port, topic, partitions);
      try {
        const before = await sendAll(300);
        assert.equal(before.failed, 0, `sends before the fault: ${JSON.stringify(before)}`);

        const injection = await injectErrors(cluster.broker!.pid, syscalls, {
          outputPath: join(root, 'strace.out'),
        });
        history.fault('eio', syscalls.join(','));
        // Send until an injected error has hit and the broker refuses (bounded).
        let during = noOutcome();
        for (let round = 0; round < 30 && (injection.injected() === 0 || during.failed === 0); round++) {
          during = addOutcomes(during, await sendAll(20));
        }
        t.diagnostic(
          `while injecting: ${JSON.stringify(during)}, ${injection.injected()} calls failed with EIO`,
        );
        checks.expect(injection.injected() > 0, `no ${syscalls.join('/')} call was made while injecting`);
        checks.expect(during.failed > 0, 'no send failed while the disk answered EIO');

        const readBack = await readBackAcked(history, masters, topic);
        t.diagnostic(`after the error: ${JSON.stringify(readBack)}`);
        checks.expect(
          readBack.readable === readBack.acked,
          `only ${readBack.readable} of ${readBack.acked} acked messages readable after the error`,
        );

        // The tracer goes; the store must stay read-only until a restart.
        await injection.detach();
        history.fault('eio-over', 'tracer detached, no restart');
        await sleep(200);
        const afterwards = await sendAll(20);
        t.diagnostic(`after the tracer left, without a restart: ${JSON.stringify(afterwards)}`);
        checks.expect(
          afterwards.acked === 0,
          `${afterwards.acked} sends acked after an I/O error, without a restart`,
        );
        const codes = Object.keys(addOutcomes(during, afterwards).errors);
        checks.expect(
          codes.every((code) => code === 'UNAVAILABLE 503' || code === 'STORAGE_FULL 507'),
          `sends failed with ${codes.join(', ')} (want 503 or 507)`,
        );
        checks.expect(cluster.brokerAlive, 'the broker died of the I/O error');
      } finally {
        const probed = await probe.stop();
        t.diagnostic(`probe: ${probed.ok} answered, ${probed.failed} failed, slowest ${probed.slowestMs} ms`);
        checks.expect(probed.failed === 0, `the broker did not answer ${probed.failed} probes`);
        await Promise.all(senders.map((each) => each.producer.close()));
        await live.stop();
      }

      const stopped = await cluster.stopBroker(10_000);
      t.diagnostic(`broker stopped (SIGTERM): ${stopped}`);
      history.fault('restart', `without injection, after ${stopped}`);
      await cluster.startBroker();
      const { failures } = await finalVerdict(t, history, masters, topic, diskFaultKinds, checks.failures);
      assert.deepEqual(failures, []);
      history.discard();
    });
  }
});
