// T6 of reliability-anchors.md §7: the broker's disk fills up. Its data dir is on a small tmpfs;
// a ballast file takes nearly all of it while a producer keeps sending 4 KiB messages and a
// consumer group reads along. The broker's log is either on the same disk
// (`<data-dir>/broker.log`, where `--detach` puts it, so log writes fail too) or elsewhere.
//
//   - once full, sends fail with STORAGE_FULL (507), and nothing unwritten is acked (an ack of a
//     message not wholly written is found as a loss after the restart);
//   - reads of what was acked keep working (a fresh group reads all of it while the disk is full);
//   - the broker answers throughout (LIST_OFFSETS every 200 ms on a connection of its own);
//   - after the ballast is deleted, writes succeed again within 5 s, without a restart;
//   - after a restart (SIGTERM, then start), the final drain: lost 0, offset reuse 0, phantom 0.
//
// Quick by default (acks=written, log on the same disk); TUBEMQ_FAULTS=full runs written and
// fsync, each with the log on the disk and elsewhere. Needs root for `mount -t tmpfs` (skips
// otherwise).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Producer } from '../../src/client/index.js';
import { addOutcomes, History, noOutcome, RecordedProducer, type AckLevel } from '../support/history.js';
import {
  Ballast,
  cleanup,
  diskFaultKinds,
  Expectations,
  FaultCluster,
  freeBytes,
  fullBattery,
  finalVerdict,
  mountTmpfs,
  probeBroker,
  readBackAcked,
  scratchDir,
  startLiveGroup,
} from '../support/faults.js';

const tmpfsMiB = 24;
const payloadBytes = 4096;
const partitions = 2;
const topic = 'full';

const cases: { acks: AckLevel; logOnDisk: boolean }[] = fullBattery
  ? [
      { acks: 'written', logOnDisk: true },
      { acks: 'written', logOnDisk: false },
      { acks: 'fsync', logOnDisk: true },
      { acks: 'fsync', logOnDisk: false },
    ]
  : [{ acks: 'written', logOnDisk: true }];

describe('disk full on the broker', { concurrency: false }, () => {
  afterEach(cleanup); // each test's daemons, tracer and mount go before the next test starts

  for (const { acks, logOnDisk } of cases) {
    const where = logOnDisk ? 'the log on the same disk' : 'the log elsewhere';
    test(`acks=${acks}, ${where}: 507 when full, reads go on, writes resume once freed`, async (t) => {
      const mount = await mountTmpfs(tmpfsMiB);
      if (typeof mount === 'string') {
        t.skip(mount);
        return;
      }
      const history = History.create();
      t.diagnostic(`history: ${history.path}`);
      const root = await scratchDir('tubemq-fault-full-');
      const cluster = await FaultCluster.start(root, {
        brokerDataDir: join(mount.dir, 'broker'),
        broker: {
          log: logOnDisk ? { inDataDir: true } : { path: join(root, 'broker.log') },
          env: { TUBEMQ_LOG_LEVEL: 'info' },
        },
      });
      const { masters } = cluster;
      await cluster.createTopic(topic, partitions);
      // No client retries: each send's outcome is the broker's answer to it.
      const producer = new Producer({ masters, acks, retries: 0, lingerMs: 1, requestTimeoutMs: 5000 });
      const sender = new RecordedProducer(history, 'f', producer, acks, payloadBytes);
      const checks = new Expectations();
      const live = startLiveGroup(history, masters, topic);
      const probe = probeBroker(cluster.broker!.port, topic, partitions);
      let probed: Awaited<ReturnType<typeof probe.stop>> | undefined;
      try {
        const before = await sender.sendMany(topic, 200);
        assert.equal(before.acked, 200, `sends before the disk fills: ${JSON.stringify(before)}`);

        const { ballast, bytes } = await Ballast.fill(join(mount.dir, 'ballast'), 1024 * 1024);
        history.fault('disk-full', `ballast ${bytes} bytes, ${await freeBytes(mount.dir)} free`);
        // Fill the rest by sending until the broker refuses, then keep sending: all must fail.
        let filling = noOutcome();
        for (let round = 0; round < 40 && filling.failed === 0; round++) {
          filling = addOutcomes(filling, await sender.sendMany(topic, 50));
        }
        t.diagnostic(`filling: ${JSON.stringify(filling)}, ${await freeBytes(mount.dir)} bytes free`);
        checks.expect(filling.failed > 0, 'no send failed although the disk is full');
        const whileFull = await sender.sendMany(topic, 50);
        t.diagnostic(`while full: ${JSON.stringify(whileFull)}`);
        checks.expect(whileFull.acked === 0, `${whileFull.acked} sends acked while the disk was full`);
        const codes = Object.keys(addOutcomes(filling, whileFull).errors);
        checks.expect(
          codes.every((code) => code === 'STORAGE_FULL 507'),
          `sends on a full disk failed with ${codes.join(', ')} (want STORAGE_FULL 507)`,
        );
        checks.expect(cluster.brokerAlive, 'the broker died when the disk filled');

        const readBack = await readBackAcked(history, masters, topic);
        t.diagnostic(`while full: ${JSON.stringify(readBack)}`);
        checks.expect(
          readBack.readable === readBack.acked,
          `only ${readBack.readable} of ${readBack.acked} acked messages readable while full`,
        );

        // Space comes back: writes must succeed again within 5 s, without a restart.
        await ballast.free();
        history.fault('disk-freed');
        const freedAt = Date.now();
        let resumedMs: number | undefined;
        for (let attempt = 0; attempt < 100 && Date.now() - freedAt < 10_000; attempt++) {
          if ((await sender.send(topic)).ok) {
            resumedMs = Date.now() - freedAt;
            break;
          }
          await sleep(100);
        }
        t.diagnostic(`writes resumed ${resumedMs === undefined ? 'never (10 s)' : `after ${resumedMs} ms`}`);
        checks.expect(
          resumedMs !== undefined && resumedMs <= 5000,
          'writes did not resume within 5 s of freeing space',
        );
        t.diagnostic(`after freeing: ${JSON.stringify(await sender.sendMany(topic, 100))}`);
      } finally {
        probed = await probe.stop();
        await producer.close();
        await live.stop();
      }
      t.diagnostic(
        `probe: ${probed.ok} answered, ${probed.failed} failed, slowest ${probed.slowestMs} ms` +
          (probed.failures.length > 0 ? `; ${probed.failures.join('; ')}` : ''),
      );
      checks.expect(probed.failed === 0, `the broker did not answer ${probed.failed} probes`);

      history.fault('restart', 'clean stop, then start');
      t.diagnostic(`broker stopped: ${await cluster.stopBroker()}`);
      await cluster.startBroker();
      const { failures } = await finalVerdict(t, history, masters, topic, diskFaultKinds, checks.failures);
      assert.deepEqual(failures, []);
      history.discard();
    });
  }
});
