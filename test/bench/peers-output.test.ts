// The peers suite's JSON document (issue 6 §1), which scripts read: its workload names and order,
// the orientation of ratioToBestPeer, and the targets' side conditions. No servers are started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ratioToBestPeer,
  targetMet,
  toDocument,
  workloadSpecs,
  type Outcome,
  type Results,
  type WorkloadName,
} from '../../bench/peers/output.js';
import { machineFacts } from '../../bench/report.js';

const ok = (value: number, extra: Partial<Outcome & { status: 'ok' }> = {}): Outcome => ({
  status: 'ok',
  value,
  runs: [value],
  ...extra,
});
const unsupported: Outcome = { status: 'unsupported', reason: 'needs nats-server 2.10+' };

/** A run where tubemq meets every target, as the issue states them. */
function passingResults(): Results {
  return {
    produce: { tubemq: ok(300_000), nats: ok(100_000), redis: ok(60_000) },
    consume: { tubemq: ok(450_000), nats: ok(40_000), redis: ok(200_000) },
    'topics-1000': { tubemq: ok(280_000), nats: ok(46_000), redis: ok(55_000) },
    filtered: { tubemq: ok(21_000), nats: ok(1_900), redis: ok(1_300) },
    'latency-p99': { tubemq: ok(10), nats: ok(28), redis: ok(57) },
    fsync: { tubemq: ok(20_000, { p99: 9 }), nats: unsupported, redis: ok(17_000) },
    rss: { tubemq: ok(270), nats: ok(1_171), redis: ok(7_848) },
  };
}

// As the suite passes it: the machine's facts and a few more of the run's own.
const machine = { ...machineFacts('.'), date: '2026-11-29T00:00:00.000Z' };

const workload = (results: Results, name: WorkloadName) => {
  const document = toDocument(machine, results, {});
  return document.workloads.find((each) => each.name === name)!;
};

test('the document lists the issue’s seven workloads in order, with their units and targets', () => {
  const document = toDocument(machine, passingResults(), { note: 'kept' });
  assert.deepEqual(
    document.workloads.map(({ name, unit, higherIsBetter, target }) => ({
      name,
      unit,
      higherIsBetter,
      target,
    })),
    [
      { name: 'produce', unit: 'msg/s', higherIsBetter: true, target: 1.5 },
      { name: 'consume', unit: 'msg/s', higherIsBetter: true, target: 2 },
      { name: 'topics-1000', unit: 'msg/s', higherIsBetter: true, target: 2 },
      { name: 'filtered', unit: 'msg/s', higherIsBetter: true, target: 3 },
      { name: 'latency-p99', unit: 'p99 ms', higherIsBetter: false, target: 1 },
      { name: 'fsync', unit: 'msg/s', higherIsBetter: true, target: 1 },
      { name: 'rss', unit: 'MiB', higherIsBetter: false, target: 1 },
    ],
  );
  assert.deepEqual(document.details, { note: 'kept' });
  assert.equal(typeof document.machine.node, 'string');
  // What scripts read is what JSON carries.
  assert.deepEqual(JSON.parse(JSON.stringify(document)), document);
});

test('ratioToBestPeer is above 1 when tubemq is better, for rates and for latency and memory alike', () => {
  const results = passingResults();
  assert.equal(workload(results, 'produce').ratioToBestPeer, 3); // 300 K against NATS's 100 K
  assert.equal(workload(results, 'consume').ratioToBestPeer, 2.25); // against Redis's 200 K
  assert.equal(workload(results, 'latency-p99').ratioToBestPeer, 2.8); // NATS's 28 ms ÷ 10 ms
  assert.equal(workload(results, 'rss').ratioToBestPeer, 4.337); // 1,171 ÷ 270, to three places
  results.produce.tubemq = ok(50_000);
  results['latency-p99'].tubemq = ok(56);
  assert.equal(workload(results, 'produce').ratioToBestPeer, 0.5);
  assert.equal(workload(results, 'latency-p99').ratioToBestPeer, 0.5);
});

test('a peer that did not run is null in the results and left out of the best peer', () => {
  const results = passingResults();
  const fsync = workload(results, 'fsync');
  assert.deepEqual(fsync.results, { tubemq: 20_000, nats: null, redis: 17_000 });
  assert.equal(fsync.ratioToBestPeer, 1.176);
  results.fsync.redis = { status: 'failed', reason: 'timed out' };
  assert.equal(workload(results, 'fsync').ratioToBestPeer, null);
  results.produce.tubemq = { status: 'missing', reason: 'dist/ is missing' };
  assert.equal(ratioToBestPeer(workloadSpecs[0]!, results.produce), null);
  assert.equal(targetMet(workloadSpecs[0]!, results), null);
});

test('targets carry the issue’s side conditions: 90 % of one topic, an fsync p99 of 10 ms, 300 MiB', () => {
  const spec = (name: WorkloadName) => workloadSpecs.find((each) => each.name === name)!;
  const results = passingResults();
  for (const each of workloadSpecs) assert.equal(targetMet(each, results), true, each.name);

  results['topics-1000'].tubemq = ok(260_000); // 5.2× the best peer, but 87 % of its own 300 K
  assert.equal(targetMet(spec('topics-1000'), results), false);
  results['topics-1000'].tubemq = ok(270_000); // exactly 90 %
  assert.equal(targetMet(spec('topics-1000'), results), true);

  results.fsync.tubemq = ok(20_000, { p99: 10.2 });
  assert.equal(targetMet(spec('fsync'), results), false);
  results.fsync.tubemq = ok(16_000, { p99: 9 }); // p99 fine, rate 0.94× of Redis
  assert.equal(targetMet(spec('fsync'), results), false);

  results.rss.tubemq = ok(301); // still far below the peers
  assert.equal(targetMet(spec('rss'), results), false);
});
