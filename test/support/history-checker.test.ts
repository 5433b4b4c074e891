// The history checker on hand-made histories: a clean one reports zero of every violation, and
// each kind of violation, planted alone, is found and counted (and only it).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { checkHistory, formatCounts, violationKinds, type HistoryCounts } from './history-checker.js';
import { makePayload, parsePayloadId, payloadHash, type AckLevel, type HistoryEvent } from './history.js';

/** Builds a history with a clock that ticks 1 ms per event. */
class Builder {
  readonly events: HistoryEvent[] = [];
  private now = 1_000;

  private push(event: Record<string, unknown>): void {
    this.events.push({ t: this.now++, ...event } as unknown as HistoryEvent);
  }

  send(producer: string, seq: number, acks: AckLevel = 'written'): void {
    const { id, value } = makePayload(producer, seq);
    this.push({ type: 'send', producer, seq, topic: 't', payloadId: id, hash: payloadHash(value), acks });
  }

  ack(producer: string, seq: number, partition: number, offset: number): void {
    this.push({ type: 'ack', producer, seq, topic: 't', partition, offset });
  }

  fail(producer: string, seq: number, code = 503): void {
    this.push({ type: 'fail', producer, seq, code, name: 'UNAVAILABLE' });
  }

  /** Sends and acks at once. */
  sent(producer: string, seq: number, partition: number, offset: number): void {
    this.send(producer, seq);
    this.ack(producer, seq, partition, offset);
  }

  read(
    group: string,
    producer: string,
    seq: number,
    partition: number,
    offset: number,
    bytes?: Buffer,
  ): void {
    const value = bytes ?? makePayload(producer, seq).value;
    this.push({
      type: 'read',
      group,
      member: `${group}-m`,
      topic: 't',
      partition,
      offset,
      payloadId: parsePayloadId(value),
      hash: payloadHash(value),
    });
  }

  commit(group: string, partition: number, offset: number): void {
    this.push({ type: 'commit', group, member: `${group}-m`, topic: 't', partition, offset, ok: true });
  }

  committed(group: string, partition: number, offset: number): void {
    this.push({ type: 'committed', group, topic: 't', partition, offset });
  }

  reset(group: string, member?: string): void {
    this.push({ type: 'reset', group, ...(member === undefined ? {} : { member }), reason: 'test' });
  }

  fault(kind: string): void {
    this.push({ type: 'fault', kind });
  }

  drain(ends: Record<string, number> = {}): void {
    this.push({ type: 'drain', group: 'drain', topic: 't', ends });
  }
}

/** Only the violation counts, for comparing. */
function violations(counts: HistoryCounts): Record<string, number> {
  return Object.fromEntries(violationKinds.map((kind) => [kind, counts[kind]]));
}

const zero = Object.fromEntries(violationKinds.map((kind) => [kind, 0]));

/** Producer a sends 0..2 to partition 0 (offsets 0..2), producer b 0..1 to partition 1; a live group reads and commits. */
function cleanHistory(): Builder {
  const h = new Builder();
  h.sent('a', 0, 0, 0);
  h.sent('a', 1, 0, 1);
  h.sent('b', 0, 1, 0);
  h.read('live', 'a', 0, 0, 0);
  h.read('live', 'a', 1, 0, 1);
  h.commit('live', 0, 2);
  h.sent('a', 2, 0, 2);
  h.sent('b', 1, 1, 1);
  h.read('live', 'b', 0, 1, 0);
  h.read('live', 'a', 2, 0, 2);
  h.commit('live', 0, 3);
  h.committed('live', 0, 3);
  h.drain({ 0: 3, 1: 2 });
  h.read('drain', 'a', 0, 0, 0);
  h.read('drain', 'a', 1, 0, 1);
  h.read('drain', 'a', 2, 0, 2);
  h.read('drain', 'b', 0, 1, 0);
  h.read('drain', 'b', 1, 1, 1);
  return h;
}

/** The clean history with `change` applied before the drain (it is rebuilt from its parts). */
function withChange(change: (h: Builder) => void, drain: (h: Builder) => void): HistoryCounts {
  const h = new Builder();
  change(h);
  h.drain();
  drain(h);
  return checkHistory(h.events).counts;
}

describe('history checker', () => {
  test('a clean history: every violation count is zero, tallies are right', () => {
    const report = checkHistory(cleanHistory().events);
    assert.deepEqual(violations(report.counts), zero, formatCounts(report.counts));
    assert.equal(report.counts.sent, 5);
    assert.equal(report.counts.acked, 5);
    assert.equal(report.counts.drained, 5);
    assert.equal(report.counts.read, 5);
    assert.equal(report.counts.duplicated, 0);
    assert.equal(report.counts.recovered, 0);
    assert.match(formatCounts(report.counts), /^sent 5 acked 5 .*lost 0 .*offsetReuse 0 /);
  });

  test('no drain: the checker refuses to judge', () => {
    const h = new Builder();
    h.sent('a', 0, 0, 0);
    assert.throws(() => checkHistory(h.events), /no drain/);
  });

  test('lost: acked, not drained, classified prefix/middle/postfix per producer', () => {
    const counts = withChange(
      (h) => {
        for (let seq = 0; seq < 5; seq++) h.sent('a', seq, 0, seq);
      },
      (h) => {
        h.read('drain', 'a', 1, 0, 1);
        h.read('drain', 'a', 3, 0, 3);
      },
    );
    assert.equal(counts.lost, 3);
    assert.equal(counts.lostPrefix, 1);
    assert.equal(counts.lostMiddle, 1);
    assert.equal(counts.lostPostfix, 1);
    assert.deepEqual(violations(counts), { ...zero, lost: 3 });
  });

  test('a gap in the offsets after a recovery is not a loss', () => {
    const counts = withChange(
      (h) => {
        h.sent('a', 0, 0, 0);
        h.sent('a', 1, 0, 1);
        h.fault('kill');
        h.fault('restart');
        h.sent('a', 2, 0, 100); // resumed past the highest offset it may have handed out
      },
      (h) => {
        h.read('drain', 'a', 0, 0, 0);
        h.read('drain', 'a', 1, 0, 1);
        h.read('drain', 'a', 2, 0, 100);
      },
    );
    assert.deepEqual(violations(counts), zero);
  });

  test('duplicated: one payload at two offsets; allowed only when its send spanned a kill', () => {
    const plain = withChange(
      (h) => h.sent('a', 0, 0, 1),
      (h) => {
        h.read('drain', 'a', 0, 0, 0);
        h.read('drain', 'a', 0, 0, 1);
      },
    );
    assert.equal(plain.duplicated, 1);
    assert.deepEqual(violations(plain), { ...zero, duplicatedUnexplained: 1 });

    const acrossKill = withChange(
      (h) => {
        h.send('a', 0);
        h.fault('kill');
        h.fault('restart');
        h.ack('a', 0, 0, 1);
      },
      (h) => {
        h.read('drain', 'a', 0, 0, 0);
        h.read('drain', 'a', 0, 0, 1);
      },
    );
    assert.equal(acrossKill.duplicated, 1);
    assert.equal(acrossKill.duplicatedInFlight, 1);
    assert.deepEqual(violations(acrossKill), zero);
  });

  test('out of order (consumer): offsets of a partition going back without a reset', () => {
    const change = (reset: boolean) => (h: Builder) => {
      h.sent('a', 0, 0, 0);
      h.sent('a', 1, 0, 1);
      h.read('live', 'a', 0, 0, 0);
      h.read('live', 'a', 1, 0, 1);
      if (reset) h.reset('live');
      h.read('live', 'a', 0, 0, 0);
    };
    const drain = (h: Builder) => {
      h.read('drain', 'a', 0, 0, 0);
      h.read('drain', 'a', 1, 0, 1);
    };
    assert.deepEqual(violations(withChange(change(false), drain)), { ...zero, outOfOrderConsumer: 1 });
    assert.deepEqual(violations(withChange(change(true), drain)), zero);
  });

  test("out of order (producer): one producer's seqs not rising with the offset", () => {
    const counts = withChange(
      (h) => {
        h.sent('a', 0, 0, 1);
        h.sent('a', 1, 0, 0);
      },
      (h) => {
        h.read('drain', 'a', 1, 0, 0);
        h.read('drain', 'a', 0, 0, 1);
      },
    );
    assert.deepEqual(violations(counts), { ...zero, outOfOrderProducer: 1 });
  });

  test('phantom: read once, gone from the drain (its send had failed: recovered too)', () => {
    const counts = withChange(
      (h) => {
        h.sent('a', 0, 0, 0);
        h.send('a', 1);
        h.read('live', 'a', 0, 0, 0);
        h.read('live', 'a', 1, 0, 1);
        h.fail('a', 1);
      },
      (h) => h.read('drain', 'a', 0, 0, 0),
    );
    assert.deepEqual(violations(counts), { ...zero, phantom: 1 });
    assert.equal(counts.recovered, 1);
    assert.equal(counts.failed, 1);
  });

  test('offset reuse: one place seen with two payloads, across acks and reads', () => {
    const counts = withChange(
      (h) => {
        h.sent('a', 0, 0, 0);
        h.send('a', 1, 'memory');
        h.ack('a', 1, 0, 1);
        h.fault('kill');
        h.fault('restart');
        h.sent('a', 2, 0, 1); // the lost message's offset given to another
      },
      (h) => {
        h.read('drain', 'a', 0, 0, 0);
        h.read('drain', 'a', 2, 0, 1);
      },
    );
    assert.equal(counts.offsetReuse, 1);
    assert.equal(counts.lost, 1);
    assert.equal(counts.tailViolations, 0, 'the lost one was the tail of its cycle');
    assert.deepEqual(violations(counts), { ...zero, offsetReuse: 1, lost: 1 });
  });

  test('commit regressions: a committed offset moving back, unless the group was reset', () => {
    const change = (reset: boolean) => (h: Builder) => {
      h.commit('live', 0, 10);
      h.fault('kill');
      h.fault('restart');
      if (reset) h.reset('live');
      h.committed('live', 0, 8);
    };
    assert.deepEqual(violations(withChange(change(false), () => undefined)), {
      ...zero,
      commitRegressions: 1,
    });
    assert.deepEqual(violations(withChange(change(true), () => undefined)), zero);
  });

  test('unexpected (never sent, or not ours) and corrupted (other bytes under a sent id)', () => {
    const counts = withChange(
      (h) => h.sent('a', 0, 0, 0),
      (h) => {
        h.read('drain', 'a', 0, 0, 0, Buffer.from('pa-0|tampered'));
        h.read('drain', 'z', 9, 0, 1);
        h.read('drain', 'a', 0, 0, 2, Buffer.from('no id at all'));
      },
    );
    assert.equal(counts.unexpected, 2);
    assert.equal(counts.corrupted, 1);
    assert.equal(counts.lost, 0);
  });

  test('memory tails: a lost tail of a kill cycle passes; a hole, or a loss after the last kill, fails', () => {
    const cycle = (lose: (seq: number) => boolean, killAtEnd: boolean) => {
      const h = new Builder();
      for (let seq = 0; seq < 6; seq++) {
        h.send('a', seq, 'memory');
        h.ack('a', seq, 0, seq);
      }
      if (killAtEnd) {
        h.fault('kill');
        h.fault('restart');
      }
      h.drain();
      for (let seq = 0; seq < 6; seq++) if (!lose(seq)) h.read('drain', 'a', seq, 0, seq);
      return checkHistory(h.events);
    };
    const tail = cycle((seq) => seq >= 4, true);
    assert.equal(tail.counts.lost, 2);
    assert.equal(tail.counts.tailViolations, 0);
    assert.deepEqual(
      tail.tails.map(({ cycle, killed, acked, lost, holes }) => ({ cycle, killed, acked, lost, holes })),
      [{ cycle: 0, killed: true, acked: 6, lost: 2, holes: 0 }],
    );
    assert.equal(cycle((seq) => seq === 2 || seq === 5, true).counts.tailViolations, 1, 'a hole');
    assert.equal(cycle((seq) => seq >= 4, false).counts.tailViolations, 2, 'lost without a kill');
  });

  test('an ack received between the kill and the restart belongs to the killed cycle', () => {
    const h = new Builder();
    h.send('a', 0, 'memory');
    h.send('a', 1, 'memory');
    h.ack('a', 0, 0, 0);
    h.fault('kill');
    h.ack('a', 1, 0, 1); // in the socket before the kill
    h.fault('restart');
    h.sent('a', 2, 0, 2);
    h.drain();
    h.read('drain', 'a', 0, 0, 0);
    h.read('drain', 'a', 2, 0, 2);
    const report = checkHistory(h.events);
    assert.equal(report.counts.tailViolations, 0, JSON.stringify(report.tails));
    assert.equal(report.counts.lost, 1);
  });

  test('property: random clean histories check clean; dropping one acked message from the drain is one loss', () => {
    const shape = fc.record({
      producers: fc.integer({ min: 1, max: 4 }),
      partitions: fc.integer({ min: 1, max: 4 }),
      sends: fc.array(fc.record({ partitionPick: fc.nat(), gap: fc.nat({ max: 3 }), fails: fc.boolean() }), {
        minLength: 1,
        maxLength: 60,
      }),
      drop: fc.nat(),
    });
    fc.assert(
      fc.property(shape, ({ producers, partitions, sends, drop }) => {
        const h = new Builder();
        const next = new Array<number>(partitions).fill(0);
        const seqs = new Array<number>(producers).fill(0);
        const stored: { producer: string; seq: number; partition: number; offset: number; acked: boolean }[] =
          [];
        sends.forEach((each, i) => {
          const producer = String.fromCharCode(97 + (i % producers));
          const seq = seqs[i % producers]!++;
          const partition = each.partitionPick % partitions;
          const offset = next[partition]! + each.gap; // gaps are allowed
          next[partition] = offset + 1;
          h.send(producer, seq);
          if (each.fails) h.fail(producer, seq);
          else h.ack(producer, seq, partition, offset);
          stored.push({ producer, seq, partition, offset, acked: !each.fails });
        });
        const drainAll = (skip?: number) => {
          const d = new Builder();
          d.events.push(...h.events);
          d.drain();
          const ordered = [...stored].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
          ordered.forEach((each, i) => {
            if (i !== skip && each.acked)
              d.read('drain', each.producer, each.seq, each.partition, each.offset);
          });
          return { counts: checkHistory(d.events).counts, ordered };
        };
        const clean = drainAll();
        assert.deepEqual(violations(clean.counts), zero, formatCounts(clean.counts));
        const ackedIndexes = clean.ordered.flatMap((each, i) => (each.acked ? [i] : []));
        if (ackedIndexes.length === 0) return;
        const dropped = drainAll(ackedIndexes[drop % ackedIndexes.length]);
        assert.equal(dropped.counts.lost, 1);
      }),
      { numRuns: 200 },
    );
  });
});
