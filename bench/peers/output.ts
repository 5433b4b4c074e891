// The peers suite's results: the workloads' figures per system, tubemq's ratio to the best peer and
// its target, printed as one table, as the JSON document scripts read (issue 6 §1), and as an SVG
// chart.
import { formatNumber, printTable, type MachineFacts } from '../report.js';
import { systemNames, type SystemName } from './system.js';

export type WorkloadName =
  'produce' | 'consume' | 'topics-1000' | 'filtered' | 'latency-p99' | 'fsync' | 'rss';

/** What one system measured in one workload (medians over the repetitions). */
export interface Measured {
  /** The workload's figure in its unit. */
  value: number;
  runs: number[];
  mbPerSecond?: number;
  /** Produce→consume or ack latency, ms. */
  p50?: number;
  p99?: number;
  p999?: number;
  /** Server CPU in % of one core, and its peak RSS in MiB, while the workload ran. */
  serverCpuPercent?: number;
  serverRssMiB?: number;
  clientCpuPercent?: number;
}

/** A system's outcome in a workload: measured, or why not. */
export type Outcome =
  ({ status: 'ok' } & Measured) | { status: 'missing' | 'unsupported' | 'failed'; reason: string };

export interface WorkloadSpec {
  name: WorkloadName;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  /** tubemq ÷ best peer (or best peer ÷ tubemq) at least this. */
  target: number;
  /** The target as the issue words it. */
  targetText: string;
}

export const workloadSpecs: readonly WorkloadSpec[] = [
  {
    name: 'produce',
    title: '1 produce 1 KiB, 1 topic',
    unit: 'msg/s',
    higherIsBetter: true,
    target: 1.5,
    targetText: '>= 1.5x best peer',
  },
  {
    name: 'consume',
    title: '2 consume backlog, group',
    unit: 'msg/s',
    higherIsBetter: true,
    target: 2,
    targetText: '>= 2x best peer',
  },
  {
    name: 'topics-1000',
    title: '3 produce, 1,000 topics',
    unit: 'msg/s',
    higherIsBetter: true,
    target: 2,
    targetText: '>= 2x best peer, >= 90% of own 1-topic',
  },
  {
    name: 'filtered',
    title: '4 read 1 stream id of 100',
    unit: 'msg/s',
    higherIsBetter: true,
    target: 3,
    targetText: '>= 3x best peer',
  },
  {
    name: 'latency-p99',
    title: '5 produce->consume @ 5,000/s',
    unit: 'p99 ms',
    higherIsBetter: false,
    target: 1,
    targetText: 'p99 <= best peer',
  },
  {
    name: 'fsync',
    title: '6 fsync acks, 64 producers',
    unit: 'msg/s',
    higherIsBetter: true,
    target: 1,
    targetText: '>= 1x best peer, p99 <= 10 ms',
  },
  {
    name: 'rss',
    title: '7 server peak RSS in 1 and 3',
    unit: 'MiB',
    higherIsBetter: false,
    target: 1,
    targetText: '<= best peer, <= 300 MiB',
  },
];

export type Results = Record<WorkloadName, Record<SystemName, Outcome>>;

/** Numbers only a table reader needs (not part of the workloads' shape). */
export interface Detail {
  name: string;
  system: SystemName;
  value: number;
  unit: string;
}

/** The tubemq ÷ best-peer ratio, oriented so that above 1 means tubemq is better; null when it cannot be formed. */
export function ratioToBestPeer(spec: WorkloadSpec, outcomes: Record<SystemName, Outcome>): number | null {
  const tubemq = outcomes.tubemq;
  const peers = (['nats', 'redis'] as const)
    .map((name) => outcomes[name])
    .filter((each) => each.status === 'ok')
    .map((each) => each.value);
  if (tubemq.status !== 'ok' || peers.length === 0 || !(tubemq.value > 0)) return null;
  if (spec.higherIsBetter) return tubemq.value / Math.max(...peers);
  return Math.min(...peers) / tubemq.value;
}

/** Whether tubemq meets the workload's target, with the issue's side conditions. */
export function targetMet(spec: WorkloadSpec, results: Results): boolean | null {
  const ratio = ratioToBestPeer(spec, results[spec.name]);
  if (ratio === null) return null;
  const tubemq = results[spec.name].tubemq;
  if (tubemq.status !== 'ok') return null;
  let met = ratio >= spec.target;
  if (spec.name === 'topics-1000') {
    const own = results.produce.tubemq;
    met &&= own.status === 'ok' && tubemq.value >= 0.9 * own.value;
  }
  if (spec.name === 'fsync') met &&= (tubemq.p99 ?? Number.POSITIVE_INFINITY) <= 10;
  if (spec.name === 'rss') met &&= tubemq.value <= 300;
  return met;
}

export interface Document {
  machine: MachineFacts & Record<string, unknown>;
  workloads: {
    name: WorkloadName;
    unit: string;
    higherIsBetter: boolean;
    results: Record<SystemName, number | null>;
    ratioToBestPeer: number | null;
    target: number;
  }[];
  details: Record<string, unknown>;
}

export function toDocument(
  machine: Document['machine'],
  results: Results,
  details: Record<string, unknown>,
): Document {
  return {
    machine,
    workloads: workloadSpecs.map((spec) => {
      const outcomes = results[spec.name];
      const ratio = ratioToBestPeer(spec, outcomes);
      return {
        name: spec.name,
        unit: spec.unit,
        higherIsBetter: spec.higherIsBetter,
        results: Object.fromEntries(
          systemNames.map((system) => {
            const outcome = outcomes[system];
            return [system, outcome.status === 'ok' ? round(outcome.value) : null];
          }),
        ) as Record<SystemName, number | null>,
        ratioToBestPeer: ratio === null ? null : Math.round(ratio * 1000) / 1000,
        target: spec.target,
      };
    }),
    details,
  };
}

function round(value: number): number {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 1000) / 1000;
}

const show = (value: number | undefined, suffix = ''): string =>
  value === undefined || !Number.isFinite(value) ? '' : `${formatNumber(value)}${suffix}`;

/** The table: workload × system with msg/s, MB/s, latency, CPU, RSS, and tubemq's ratio and verdict. */
export function printResults(results: Results, print: (line: string) => void): void {
  const rows: string[][] = [];
  for (const spec of workloadSpecs) {
    const ratio = ratioToBestPeer(spec, results[spec.name]);
    const met = targetMet(spec, results);
    for (const system of systemNames) {
      const outcome = results[spec.name][system];
      const first = system === 'tubemq';
      const head = [first ? spec.title : '', system];
      const tail = first
        ? [
            ratio === null ? '-' : `${ratio.toFixed(2)}x`,
            spec.targetText,
            met === null ? '' : met ? 'met' : 'MISSED',
          ]
        : ['', '', ''];
      if (outcome.status !== 'ok') {
        rows.push([...head, `(${outcome.status})`, '', '', '', '', '', ...tail]);
        continue;
      }
      const figure = spec.unit === 'msg/s' ? '' : `${formatNumber(outcome.value)} ${spec.unit}`;
      const msgs = spec.unit === 'msg/s' ? formatNumber(outcome.value) : '';
      const latency =
        outcome.p99 === undefined
          ? ''
          : `${show(outcome.p50)} / ${show(outcome.p99)}${outcome.p999 === undefined ? '' : ` / ${show(outcome.p999)}`}`;
      rows.push([
        ...head,
        figure || msgs,
        show(outcome.mbPerSecond),
        latency,
        show(outcome.serverCpuPercent, '%'),
        show(outcome.serverRssMiB),
        show(outcome.clientCpuPercent, '%'),
        ...tail,
      ]);
    }
  }
  printTable(
    [
      'workload',
      'system',
      'figure (msg/s)',
      'MB/s',
      'lat p50/p99/p99.9 ms',
      'srv CPU',
      'srv RSS MiB',
      'client CPU',
      'tubemq/best',
      'target',
      'result',
    ],
    rows,
    new Set([2, 3, 4, 5, 6, 7, 8]),
    print,
  );
  const reasons = new Set<string>();
  for (const spec of workloadSpecs) {
    for (const system of systemNames) {
      const outcome = results[spec.name][system];
      if (outcome.status !== 'ok')
        reasons.add(`  ${spec.name} ${system} ${outcome.status}: ${outcome.reason}`);
    }
  }
  for (const reason of reasons) print(reason);
}

const colors: Record<SystemName, string> = { tubemq: '#d9480f', nats: '#1c7ed6', redis: '#5c940d' };

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * One SVG: per workload, a bar per system whose length is its goodness relative to the best of the
 * three (value ÷ max, or min ÷ value where lower is better), labelled with the figure.
 */
export function chartSvg(results: Results, title: string): string {
  const barHeight = 16;
  const groupHeight = barHeight * 3 + 18;
  const left = 230;
  const barMax = 420;
  const width = left + barMax + 190;
  const top = 56;
  const height = top + groupHeight * workloadSpecs.length + 20;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="10" y="38" fill="#555">bar length: relative to the best of the three (longer is better); label: the figure</text>`,
  ];
  systemNames.forEach((system, i) => {
    parts.push(
      `<rect x="${left + i * 90}" y="44" width="10" height="10" fill="${colors[system]}"/>`,
      `<text x="${left + i * 90 + 14}" y="53">${system}</text>`,
    );
  });
  workloadSpecs.forEach((spec, w) => {
    const y0 = top + w * groupHeight + 8;
    const outcomes = results[spec.name];
    const values = systemNames.map((system) => {
      const outcome = outcomes[system];
      return outcome.status === 'ok' ? outcome.value : undefined;
    });
    const present = values.filter((each): each is number => each !== undefined && each > 0);
    const best = spec.higherIsBetter ? Math.max(...present) : Math.min(...present);
    const ratio = ratioToBestPeer(spec, outcomes);
    parts.push(`<text x="10" y="${y0 + barHeight}" font-weight="bold">${escape(spec.name)}</text>`);
    parts.push(`<text x="10" y="${y0 + barHeight * 2 + 2}" fill="#555">${escape(spec.unit)}</text>`);
    if (ratio !== null) {
      parts.push(
        `<text x="10" y="${y0 + barHeight * 3 + 4}" fill="#555">tubemq/best ${ratio.toFixed(2)}x (target ${spec.target}x)</text>`,
      );
    }
    systemNames.forEach((system, i) => {
      const y = y0 + i * barHeight;
      const value = values[i];
      const outcome = outcomes[system];
      if (value === undefined || !(value > 0) || present.length === 0) {
        const why = outcome.status === 'ok' ? 'no figure' : outcome.status;
        parts.push(`<text x="${left}" y="${y + 12}" fill="#888">${system}: ${why}</text>`);
        return;
      }
      const goodness = spec.higherIsBetter ? value / best : best / value;
      const length = Math.max(1, Math.round(goodness * barMax));
      parts.push(
        `<rect x="${left}" y="${y + 2}" width="${length}" height="${barHeight - 4}" fill="${colors[system]}"/>`,
        `<text x="${left + length + 6}" y="${y + 12}">${escape(`${formatNumber(value)} ${spec.unit}`)}</text>`,
      );
    });
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
