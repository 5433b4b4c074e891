// The history checker (reliability-anchors.md §5.9): set- and order-based, as Jepsen's Kafka and
// NATS checkers are, over what history.ts recorded. Everything is judged against the final drain:
// a brand-new group that read every partition from earliest to its latest offset once the faults
// were over. Offsets may have gaps after a recovery (an engine may resume past the highest offset
// it might have handed out); a gap is never counted as a loss, only a message acknowledged and
// not found.
import type {
  AckEvent,
  CommitEvent,
  CommittedEvent,
  FaultEvent,
  HistoryEvent,
  ReadEvent,
  ResetEvent,
  SendEvent,
} from './history.js';

/** What the checker counts; every violation kind is zero for a clean history. */
export interface HistoryCounts {
  sent: number;
  acked: number;
  failed: number;
  /** Sends with neither an ack nor a failure recorded. */
  unknown: number;
  /** Distinct payloads read by anyone / by the final drain. */
  read: number;
  drained: number;
  /** Acked, never read by the final drain. */
  lost: number;
  lostPrefix: number;
  lostMiddle: number;
  lostPostfix: number;
  /** Payloads seen at two or more (topic, partition, offset) places, in acks and reads. */
  duplicated: number;
  /** ...of which the send was in flight across a kill (the ack of a first try lost with it): allowed. */
  duplicatedInFlight: number;
  /** ...the others: not allowed. */
  duplicatedUnexplained: number;
  /** A consumer saw one partition's offsets go back (or repeat) without a reset between. */
  outOfOrderConsumer: number;
  /** One producer's seqs on one partition not increasing with the offset. */
  outOfOrderProducer: number;
  /** Read at some point, not in the final drain. */
  phantom: number;
  /** (topic, partition, offset) places seen with two or more payloads, across acks and every read. */
  offsetReuse: number;
  /** A group's committed offset (commits and read-backs) moving back without a reset. */
  commitRegressions: number;
  /** Read but never sent (or not a payload of ours). */
  unexpected: number;
  /** Read with the id of a send but other bytes. */
  corrupted: number;
  /** Read although its send failed or never settled: allowed, counted. */
  recovered: number;
  /**
   * Lost `memory`-acked messages that are not a contiguous tail of their kill cycle, or were acked
   * after the last kill (see {@link TailReport}); they count in `lost` too.
   */
  tailViolations: number;
}

/** Loss of one kill cycle and partition: the acks received before that kill, and which were lost. */
export interface TailReport {
  /** 0-based; cycle c holds acks received before the c-th restart after a kill. */
  cycle: number;
  /** Whether a kill ended the cycle (false for the last cycle, which must lose nothing). */
  killed: boolean;
  topic: string;
  partition: number;
  acked: number;
  lost: number;
  /** Lost ones below the highest offset of that cycle that survived: holes, not a tail. */
  holes: number;
  /** How long before the kill the oldest lost ack arrived (ms), or undefined when none was lost. */
  oldestLostAgeMs?: number;
}

export interface HistoryReport {
  counts: HistoryCounts;
  /** Up to {@link exampleLimit} examples per violation kind, as readable lines. */
  examples: Partial<Record<keyof HistoryCounts, string[]>>;
  tails: TailReport[];
  drainGroup: string;
}

export const exampleLimit = 5;

/** The counts that must all be zero for a clean run (others are tallies or allowed). */
export const violationKinds = [
  'lost',
  'duplicatedUnexplained',
  'outOfOrderConsumer',
  'outOfOrderProducer',
  'phantom',
  'offsetReuse',
  'commitRegressions',
  'unexpected',
  'corrupted',
  'tailViolations',
] as const satisfies readonly (keyof HistoryCounts)[];

interface SendState {
  send: SendEvent;
  ack?: AckEvent;
  failed: boolean;
  /** When it settled, or undefined if it never did. */
  settledAt?: number;
}

const place = (topic: string, partition: number, offset: number): string => `${topic}/${partition}@${offset}`;

/** Checks a history; the drain is the last `drain` event's group. Throws when there is no drain. */
export function checkHistory(events: readonly HistoryEvent[]): HistoryReport {
  const drainEvent = events.findLast((event) => event.type === 'drain');
  if (drainEvent === undefined) throw new Error('the history has no drain: nothing to judge losses by');
  const drainGroup = drainEvent.group;
  const examples: Partial<Record<keyof HistoryCounts, string[]>> = {};
  const example = (kind: keyof HistoryCounts, line: string): void => {
    const list = (examples[kind] ??= []);
    if (list.length < exampleLimit) list.push(line);
  };

  // Sends and their outcomes, by payload id.
  const sends = new Map<string, SendState>();
  const byProducerSeq = new Map<string, SendState>();
  for (const event of events) {
    if (event.type === 'send') {
      const state: SendState = { send: event, failed: false };
      sends.set(event.payloadId, state);
      byProducerSeq.set(`${event.producer}#${event.seq}`, state);
    } else if (event.type === 'ack' || event.type === 'fail') {
      const state = byProducerSeq.get(`${event.producer}#${event.seq}`);
      if (state === undefined) continue;
      if (event.type === 'ack') state.ack = event;
      else state.failed = true;
      state.settledAt = event.t;
    }
  }
  const reads = events.filter((event): event is ReadEvent => event.type === 'read');
  const drainReads = reads.filter((event) => event.group === drainGroup);
  const drained = new Set(drainReads.map((event) => event.payloadId));
  const readIds = new Set(reads.map((event) => event.payloadId));

  // Kill windows: from the kill to the restart that followed it.
  const faults = events.filter((event): event is FaultEvent => event.type === 'fault');
  const kills: { killAt: number; restartAt: number }[] = [];
  for (const fault of faults) {
    if (fault.kind === 'kill') kills.push({ killAt: fault.t, restartAt: Number.POSITIVE_INFINITY });
    else if (fault.kind === 'restart') {
      const open = kills.at(-1);
      if (open !== undefined && open.restartAt === Number.POSITIVE_INFINITY) open.restartAt = fault.t;
    }
  }
  const inFlightAtKill = (state: SendState): boolean =>
    kills.some(({ killAt, restartAt }) => state.send.t < restartAt && (state.settledAt ?? Infinity) > killAt);

  let acked = 0;
  let failed = 0;
  let unknown = 0;
  for (const state of sends.values()) {
    if (state.ack !== undefined) acked++;
    else if (state.failed) failed++;
    else unknown++;
  }

  // Lost, classified per producer against the seqs the drain did see.
  const lost = { all: 0, prefix: 0, middle: 0, postfix: 0 };
  const drainedSeqs = new Map<string, { min: number; max: number }>();
  for (const state of sends.values()) {
    if (!drained.has(state.send.payloadId)) continue;
    const range = drainedSeqs.get(state.send.producer);
    const seq = state.send.seq;
    if (range === undefined) drainedSeqs.set(state.send.producer, { min: seq, max: seq });
    else
      drainedSeqs.set(state.send.producer, { min: Math.min(range.min, seq), max: Math.max(range.max, seq) });
  }
  for (const state of sends.values()) {
    if (state.ack === undefined || drained.has(state.send.payloadId)) continue;
    lost.all++;
    const range = drainedSeqs.get(state.send.producer);
    const kind =
      range === undefined || state.send.seq > range.max
        ? 'postfix'
        : state.send.seq < range.min
          ? 'prefix'
          : 'middle';
    lost[kind]++;
    example(
      'lost',
      `${state.send.payloadId} acked at ${place(state.ack.topic, state.ack.partition, state.ack.offset)} (${kind})`,
    );
  }

  // Every observation of a place: acks and reads.
  const payloadsAt = new Map<string, Set<string>>();
  const placesOf = new Map<string, Set<string>>();
  const observe = (id: string, where: string): void => {
    if (id === '') return;
    let payloads = payloadsAt.get(where);
    if (payloads === undefined) payloadsAt.set(where, (payloads = new Set()));
    payloads.add(id);
    let places = placesOf.get(id);
    if (places === undefined) placesOf.set(id, (places = new Set()));
    places.add(where);
  };
  for (const state of sends.values()) {
    if (state.ack !== undefined)
      observe(state.send.payloadId, place(state.ack.topic, state.ack.partition, state.ack.offset));
  }
  let unexpected = 0;
  let corrupted = 0;
  for (const read of reads) {
    const where = place(read.topic, read.partition, read.offset);
    if (read.payloadId === '') {
      // Not one of ours: a place holding it next to one of ours is reuse too.
      observe(`?${read.hash}`, where);
    } else observe(read.payloadId, where);
    const state = sends.get(read.payloadId);
    if (state === undefined) {
      unexpected++;
      example('unexpected', `${read.group}/${read.member} read ${read.payloadId || '(no id)'} at ${where}`);
    } else if (state.send.hash !== read.hash) {
      corrupted++;
      example(
        'corrupted',
        `${read.group}/${read.member} read ${read.payloadId} at ${where} with other bytes`,
      );
    }
  }

  let offsetReuse = 0;
  for (const [where, payloads] of payloadsAt) {
    if (payloads.size < 2) continue;
    offsetReuse++;
    example('offsetReuse', `${where} held ${[...payloads].join(', ')}`);
  }

  const duplicates = { all: 0, inFlight: 0, unexplained: 0 };
  for (const [id, places] of placesOf) {
    if (places.size < 2) continue;
    const state = sends.get(id);
    if (state === undefined) continue; // counted as unexpected already
    duplicates.all++;
    if (inFlightAtKill(state)) duplicates.inFlight++;
    else {
      duplicates.unexplained++;
      example('duplicatedUnexplained', `${id} at ${[...places].join(', ')}`);
    }
  }

  let phantom = 0;
  for (const id of readIds) {
    if (id === '' || drained.has(id)) continue;
    phantom++;
    const first = reads.find((read) => read.payloadId === id)!;
    example(
      'phantom',
      `${id} read by ${first.group} at ${place(first.topic, first.partition, first.offset)}, not in the drain`,
    );
  }

  let recovered = 0;
  for (const id of readIds) {
    const state = sends.get(id);
    if (state !== undefined && state.ack === undefined) recovered++;
  }

  const outOfOrderConsumer = checkConsumerOrder(events, (line) => example('outOfOrderConsumer', line));
  const outOfOrderProducer = checkProducerOrder(sends, drainReads, (line) =>
    example('outOfOrderProducer', line),
  );
  const commitRegressions = checkCommits(events, (line) => example('commitRegressions', line));
  const tails = checkTails(sends, drained, kills);
  let tailViolations = 0;
  for (const tail of tails) {
    const violations = tail.killed ? tail.holes : tail.lost;
    tailViolations += violations;
    if (violations > 0)
      example(
        'tailViolations',
        `cycle ${tail.cycle} ${tail.topic}/${tail.partition}: ${tail.lost} of ${tail.acked} lost, ` +
          (tail.killed ? `${tail.holes} below a surviving offset` : 'after the last kill'),
      );
  }

  return {
    counts: {
      sent: sends.size,
      acked,
      failed,
      unknown,
      read: [...readIds].filter((id) => id !== '').length,
      drained: [...drained].filter((id) => id !== '').length,
      lost: lost.all,
      lostPrefix: lost.prefix,
      lostMiddle: lost.middle,
      lostPostfix: lost.postfix,
      duplicated: duplicates.all,
      duplicatedInFlight: duplicates.inFlight,
      duplicatedUnexplained: duplicates.unexplained,
      outOfOrderConsumer,
      outOfOrderProducer,
      phantom,
      offsetReuse,
      commitRegressions,
      unexpected,
      corrupted,
      recovered,
      tailViolations,
    },
    examples,
    tails,
    drainGroup,
  };
}

/** Whether a reset event applies to this consumer and partition. */
function resetCovers(
  reset: ResetEvent,
  group: string,
  member: string,
  topic: string,
  partition: number,
): boolean {
  return (
    reset.group === group &&
    (reset.member === undefined || reset.member === member) &&
    (reset.topic === undefined || reset.topic === topic) &&
    (reset.partition === undefined || reset.partition === partition)
  );
}

/** Per consumer and partition, offsets must rise strictly between resets. */
function checkConsumerOrder(events: readonly HistoryEvent[], example: (line: string) => void): number {
  const last = new Map<
    string,
    { group: string; member: string; topic: string; partition: number; offset: number }
  >();
  let violations = 0;
  for (const event of events) {
    if (event.type === 'reset') {
      for (const [key, seen] of last) {
        if (resetCovers(event, seen.group, seen.member, seen.topic, seen.partition)) last.delete(key);
      }
    } else if (event.type === 'read') {
      const key = `${event.group}\u0000${event.member}\u0000${event.topic}\u0000${event.partition}`;
      const previous = last.get(key);
      if (previous !== undefined && event.offset <= previous.offset) {
        violations++;
        example(
          `${event.group}/${event.member} read ${event.topic}/${event.partition}@${event.offset} after @${previous.offset}`,
        );
      }
      last.set(key, { ...event });
    }
  }
  return violations;
}

/**
 * Per producer and partition, seqs must rise with the offset. A payload stored twice (a retry)
 * counts at its first place, so an honest retry is not an inversion.
 */
function checkProducerOrder(
  sends: ReadonlyMap<string, SendState>,
  drainReads: readonly ReadEvent[],
  example: (line: string) => void,
): number {
  const firstOffset = new Map<string, { topic: string; partition: number; offset: number }>();
  for (const read of drainReads) {
    const seen = firstOffset.get(read.payloadId);
    if (seen === undefined || read.offset < seen.offset) firstOffset.set(read.payloadId, read);
  }
  const lanes = new Map<string, { offset: number; seq: number; id: string }[]>();
  for (const [id, where] of firstOffset) {
    const state = sends.get(id);
    if (state === undefined) continue;
    const key = `${state.send.producer}\u0000${where.topic}/${where.partition}`;
    let lane = lanes.get(key);
    if (lane === undefined) lanes.set(key, (lane = []));
    lane.push({ offset: where.offset, seq: state.send.seq, id });
  }
  let violations = 0;
  for (const [key, lane] of lanes) {
    lane.sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < lane.length; i++) {
      if (lane[i]!.seq > lane[i - 1]!.seq) continue;
      violations++;
      const partition = key.split('\u0000')[1]!;
      example(
        `${lane[i]!.id} at ${partition}@${lane[i]!.offset} after ${lane[i - 1]!.id} at @${lane[i - 1]!.offset}`,
      );
    }
  }
  return violations;
}

/** Per group and partition, commits (and read-backs) never move back without a reset of the group. */
function checkCommits(events: readonly HistoryEvent[], example: (line: string) => void): number {
  const last = new Map<string, CommitEvent | CommittedEvent>();
  let violations = 0;
  for (const event of events) {
    if (event.type === 'reset' && event.member === undefined) {
      for (const key of last.keys()) {
        const [group, topic, partition] = key.split('\u0000');
        if (resetCovers(event, group!, '', topic!, Number(partition))) last.delete(key);
      }
    } else if ((event.type === 'commit' && event.ok) || event.type === 'committed') {
      const key = `${event.group}\u0000${event.topic}\u0000${event.partition}`;
      const previous = last.get(key);
      if (previous !== undefined && event.offset < previous.offset) {
        violations++;
        const what = event.type === 'commit' ? 'committed' : 'read back';
        example(
          `${event.group} ${event.topic}/${event.partition} ${what} ${event.offset} after ${previous.offset}`,
        );
      }
      last.set(key, event);
    }
  }
  return violations;
}

/**
 * `memory` acks may lose, at a kill, only a tail of what was acked before it: per kill cycle and
 * partition, every lost ack must lie above every surviving one of that cycle. Acks of the last
 * cycle (no kill after them) must all survive. Other levels may lose nothing at all (`lost`).
 */
function checkTails(
  sends: ReadonlyMap<string, SendState>,
  drained: ReadonlySet<string>,
  kills: readonly { killAt: number; restartAt: number }[],
): TailReport[] {
  const cycles = new Map<string, { offset: number; lost: boolean; t: number }[]>();
  for (const state of sends.values()) {
    const ack = state.ack;
    if (ack === undefined || state.send.acks !== 'memory') continue;
    let cycle = 0;
    while (cycle < kills.length && kills[cycle]!.restartAt <= ack.t) cycle++;
    const key = `${cycle}\u0000${ack.topic}\u0000${ack.partition}`;
    let list = cycles.get(key);
    if (list === undefined) cycles.set(key, (list = []));
    list.push({ offset: ack.offset, lost: !drained.has(state.send.payloadId), t: ack.t });
  }
  const tails: TailReport[] = [];
  for (const [key, list] of cycles) {
    const [cycleText, topic, partitionText] = key.split('\u0000');
    const cycle = Number(cycleText);
    const killed = cycle < kills.length;
    const survivors = list.filter((each) => !each.lost);
    const highestSurvivor = survivors.reduce((max, each) => Math.max(max, each.offset), -1);
    const lostOnes = list.filter((each) => each.lost);
    const report: TailReport = {
      cycle,
      killed,
      topic: topic!,
      partition: Number(partitionText),
      acked: list.length,
      lost: lostOnes.length,
      holes: lostOnes.filter((each) => each.offset < highestSurvivor).length,
    };
    if (killed && lostOnes.length > 0) {
      report.oldestLostAgeMs = Math.round(kills[cycle]!.killAt - Math.min(...lostOnes.map((each) => each.t)));
    }
    tails.push(report);
  }
  return tails.sort(
    (a, b) => a.cycle - b.cycle || a.topic.localeCompare(b.topic) || a.partition - b.partition,
  );
}

/** The counts as one line, e.g. `lost 0 duplicated 0 ...` (for a TAP diagnostic). */
export function formatCounts(counts: HistoryCounts): string {
  return Object.entries(counts)
    .map(([name, value]) => `${name} ${value}`)
    .join(' ');
}

/** The violation kinds with a non-zero count, each with its examples, one per line. */
export function formatViolations(
  report: HistoryReport,
  kinds: readonly (keyof HistoryCounts)[] = violationKinds,
): string {
  const lines: string[] = [];
  for (const kind of kinds) {
    if (report.counts[kind] === 0) continue;
    lines.push(`${kind} ${report.counts[kind]}`);
    for (const line of report.examples[kind] ?? []) lines.push(`  e.g. ${line}`);
  }
  return lines.join('\n');
}
