// Side-by-side benchmark against NATS JetStream and Redis Streams (`npm run bench -- peers [--quick]
// [--reps N] [--json] [--systems tubemq,nats,redis]`), issue 6 §1.
//
// Starts each system's server(s) as child processes on free ports of 127.0.0.1 with data in a temp
// dir (tubemq: the built master and broker; Debian's `nats-server -js` with file storage; Debian's
// `redis-server` with appendonly yes, appendfsync everysec), drives it from this process with its
// own Node client (bench/peers/*.ts), and stops it by pid (also on failure and SIGINT). Workloads,
// 1 KiB messages: 1 produce to 1 topic; 2 consume that backlog with a group; 3 produce round-robin
// over 1,000 topics; 4 read 1 stream id of 100; 5 produce→consume latency at 5,000 msg/s; 6 fsync
// acks with 64 concurrent producers (servers restarted in their fsync mode); 7 server RSS in 1 and 3.
// Each figure is the median of --reps repetitions. Installs nothing: a missing server binary is
// reported (with the apt package to install) and that system skipped.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dropPageCache, processCpuSeconds, processRssMiB } from './daemons.js';
import {
  chartSvg,
  printResults,
  toDocument,
  workloadSpecs,
  type Measured,
  type Outcome,
  type Results,
  type WorkloadName,
} from './peers/output.js';
import {
  liveChildren,
  systemNames,
  Unsupported,
  withTimeout,
  type LatencyRun,
  type PeerSystem,
  type SystemName,
  type Timing,
} from './peers/system.js';
import { formatNumber, machineFacts, median, percentile, printMachine } from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const valueBytes = 1024;
const streamCount = 100;
const chosenStream = 's42';
const latencyRate = 5000;
const fsyncProducers = 64;
const topicCount = 1000;

interface Sizes {
  reps: number;
  produceMessages: number;
  topicsMessages: number;
  filteredMessages: number;
  latencySeconds: number;
  latencyWarmupSeconds: number;
  fsyncSeconds: number;
}

const fullSizes: Sizes = {
  reps: 3,
  produceMessages: 1_000_000,
  topicsMessages: 1_000_000,
  filteredMessages: 500_000,
  latencySeconds: 20,
  latencyWarmupSeconds: 3,
  fsyncSeconds: 10,
};
const quickSizes: Sizes = {
  reps: 3,
  produceMessages: 100_000,
  topicsMessages: 100_000,
  filteredMessages: 200_000,
  latencySeconds: 3,
  latencyWarmupSeconds: 1,
  fsyncSeconds: 3,
};

/** Server CPU (% of one core over the wall time) and peak RSS while something runs. */
class ServerSampler {
  readonly #pid: number;
  readonly #cpuBefore: number;
  readonly #startedAt = performance.now();
  readonly #timer: NodeJS.Timeout;
  peakRssMiB = 0;

  constructor(pid: number) {
    this.#pid = pid;
    this.#cpuBefore = processCpuSeconds(pid);
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), 100);
  }

  #sample(): void {
    const rss = processRssMiB(this.#pid);
    if (rss > this.peakRssMiB) this.peakRssMiB = rss;
  }

  stop(): { cpuPercent: number; rssMiB: number } {
    clearInterval(this.#timer);
    this.#sample();
    const seconds = (performance.now() - this.#startedAt) / 1000;
    return {
      cpuPercent: ((processCpuSeconds(this.#pid) - this.#cpuBefore) / seconds) * 100,
      rssMiB: this.peakRssMiB,
    };
  }
}

/** The runs of one workload on one system, folded into medians. */
class Runs {
  readonly values: number[] = [];
  readonly mb: number[] = [];
  readonly p50: number[] = [];
  readonly p99: number[] = [];
  readonly p999: number[] = [];
  readonly serverCpu: number[] = [];
  readonly clientCpu: number[] = [];
  rssMiB = 0;
  failure: Outcome | undefined;

  addThroughput(timing: Timing, server: { cpuPercent: number; rssMiB: number }): void {
    const rate = timing.messages / timing.seconds;
    this.values.push(rate);
    this.mb.push((rate * valueBytes) / 1e6);
    this.serverCpu.push(server.cpuPercent);
    this.clientCpu.push((timing.clientCpuSeconds / timing.seconds) * 100);
    this.rssMiB = Math.max(this.rssMiB, server.rssMiB);
  }

  addLatency(run: LatencyRun, server: { cpuPercent: number; rssMiB: number }, value: 'p99' | 'rate'): void {
    const ascending = run.latenciesMs.slice().sort();
    const p99 = percentile(ascending, 99);
    const rate = run.messages / run.seconds;
    this.values.push(value === 'p99' ? p99 : rate);
    if (value === 'rate') this.mb.push((rate * valueBytes) / 1e6);
    this.p50.push(percentile(ascending, 50));
    this.p99.push(p99);
    this.p999.push(percentile(ascending, 99.9));
    this.serverCpu.push(server.cpuPercent);
    this.rssMiB = Math.max(this.rssMiB, server.rssMiB);
  }

  outcome(): Outcome {
    if (this.values.length === 0) return this.failure ?? { status: 'failed', reason: 'not run' };
    const med = (values: number[]) => (values.length === 0 ? undefined : median(values));
    const measured: Measured = {
      value: median(this.values),
      runs: this.values,
      mbPerSecond: med(this.mb),
      p50: med(this.p50),
      p99: med(this.p99),
      p999: med(this.p999),
      serverCpuPercent: med(this.serverCpu),
      serverRssMiB: this.rssMiB,
      clientCpuPercent: med(this.clientCpu),
    };
    return { status: 'ok', ...measured };
  }
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Creates the adapter for `name`, or says what is missing to run it. */
async function makeSystem(name: SystemName): Promise<PeerSystem | string> {
  const require = createRequire(import.meta.url);
  const hasModule = (module: string): boolean => {
    try {
      require.resolve(module);
      return true;
    } catch {
      return false;
    }
  };
  if (name === 'tubemq') {
    const { TubemqSystem } = await import('./peers/tubemq.js');
    return TubemqSystem.missing() ?? new TubemqSystem();
  }
  if (name === 'nats') {
    if (!hasModule('nats')) return 'the npm dev dependency `nats` is missing: `npm install`';
    const { NatsSystem } = await import('./peers/nats.js');
    const found = NatsSystem.locate();
    return 'missing' in found ? found.missing : new NatsSystem(found.binary);
  }
  if (!hasModule('ioredis')) return 'the npm dev dependency `ioredis` is missing: `npm install`';
  const { RedisSystem } = await import('./peers/redis.js');
  const found = RedisSystem.locate();
  return 'missing' in found ? found.missing : new RedisSystem(found.binary);
}

/** Stops every server child still running (SIGINT, or an exit with some left): by pid, SIGKILL. */
function killLeftovers(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      json: { type: 'boolean', default: false },
      systems: { type: 'string' },
    },
  });
  const sizes: Sizes = { ...(values.quick ? quickSizes : fullSizes) };
  if (values.reps !== undefined) sizes.reps = Math.max(1, Number(values.reps));
  const wanted = (values.systems?.split(',') ?? systemNames) as SystemName[];
  const unknown = wanted.filter((each) => !systemNames.includes(each));
  if (unknown.length > 0) {
    console.error(`error: unknown system(s) ${unknown.join(', ')}; known: ${systemNames.join(', ')}`);
    return 2;
  }
  // With --json, stdout carries only the document; progress goes to stderr.
  const log = values.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  const timeoutMs = (values.quick ? 120 : 900) * 1000;

  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-bench-peers-'));
  const onSigint = (): void => {
    console.error('\ninterrupted: stopping the servers');
    killLeftovers();
    fs.rmSync(dataRoot, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  process.once('exit', killLeftovers);
  // A client library's stray rejection fails that workload's run at worst, never the whole suite.
  const onStray = (error: unknown): void => log(`  (stray client error: ${describe(error)})`);
  process.on('unhandledRejection', onStray);

  const machine = machineFacts(dataRoot);
  printMachine(machine, log);
  log(
    `peers: ${sizes.reps} rep(s); produce ${sizes.produceMessages.toLocaleString('en-US')} x ${valueBytes} B; ` +
      `${topicCount.toLocaleString('en-US')} topics ${sizes.topicsMessages.toLocaleString('en-US')} msgs; ` +
      `filtered 1 of ${streamCount} stream ids in ${sizes.filteredMessages.toLocaleString('en-US')} msgs; ` +
      `latency ${latencyRate}/s for ${sizes.latencySeconds} s (+${sizes.latencyWarmupSeconds} s warm-up); ` +
      `fsync ${fsyncProducers} producers for ${sizes.fsyncSeconds} s\n`,
  );

  const results = Object.fromEntries(
    workloadSpecs.map((spec) => [
      spec.name,
      Object.fromEntries(
        systemNames.map((system) => [
          system,
          { status: 'missing', reason: 'not selected' } satisfies Outcome,
        ]),
      ),
    ]),
  ) as Results;
  const versions: Record<string, string> = {};
  const notes: Record<string, Record<string, string>> = {};
  const extra: { name: string; system: SystemName; value: number; unit: string }[] = [];

  try {
    for (const name of wanted) {
      const system = await makeSystem(name);
      if (typeof system === 'string') {
        log(`${name}: skipped, ${system}`);
        for (const spec of workloadSpecs) results[spec.name][name] = { status: 'missing', reason: system };
        continue;
      }
      notes[name] = system.notes;
      const runs = Object.fromEntries(workloadSpecs.map((spec) => [spec.name, new Runs()])) as Record<
        WorkloadName,
        Runs
      >;
      // Figures beside the workloads': each 1,000-topic layout, and NATS's produce through js.publish.
      const extraRuns = new Map<string, Runs>();
      await runSystem(system, sizes, path.join(dataRoot, name), runs, extraRuns, log, timeoutMs);
      versions[name] = system.version;
      for (const spec of workloadSpecs) results[spec.name][name] = runs[spec.name].outcome();
      // Workload 7: the server's peak RSS during 1 and 3.
      const peak = Math.max(runs.produce.rssMiB, runs['topics-1000'].rssMiB);
      results.rss[name] =
        peak > 0
          ? { status: 'ok', value: peak, runs: [peak] }
          : { status: 'failed', reason: 'workloads 1 and 3 did not run' };
      for (const [label, each] of extraRuns) {
        const outcome = each.outcome();
        if (outcome.status === 'ok')
          extra.push({ name: label, system: name, value: outcome.value, unit: 'msg/s' });
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('unhandledRejection', onStray);
    killLeftovers();
    fs.rmSync(dataRoot, { recursive: true, force: true });
  }

  const clients = clientVersions();
  const document = toDocument(
    { ...machine, date: new Date().toISOString(), servers: versions, clients },
    results,
    {
      command: `npm run bench -- peers ${argv.join(' ')}`.trim(),
      sizes: { ...sizes, valueBytes, topicCount, streamCount, latencyRate, fsyncProducers },
      tubemqTopicsVsOneTopic: ratioOwn(results),
      figures: Object.fromEntries(
        workloadSpecs.map((spec) => [spec.name, results[spec.name] as Record<string, unknown>]),
      ),
      layouts: extra,
      notes,
    },
  );

  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const chartDir = path.join(root, 'bench', 'results');
  fs.mkdirSync(chartDir, { recursive: true });
  const chartFile = path.join(chartDir, `peers-${stamp}.svg`);
  const title = `tubemq vs NATS JetStream vs Redis Streams, ${machine.cores} cores, ${sizes.reps} rep(s)${values.quick ? ', --quick' : ''}, ${new Date().toISOString().slice(0, 16)}`;
  fs.writeFileSync(chartFile, chartSvg(results, title));
  fs.copyFileSync(chartFile, path.join(chartDir, 'peers-latest.svg'));
  fs.writeFileSync(path.join(chartDir, `peers-${stamp}.json`), JSON.stringify(document, null, 2) + '\n');

  if (values.json) {
    console.log(JSON.stringify(document, null, 2));
  } else {
    log('');
    printResults(results, log);
    const own = ratioOwn(results);
    if (own !== null)
      log(`  tubemq 1,000 topics / its own 1 topic: ${(own * 100).toFixed(1)}% (target >= 90%)`);
    for (const each of extra) log(`  ${each.system} ${each.name}: ${formatNumber(each.value)} ${each.unit}`);
    log(
      `\nservers: ${Object.entries(versions)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}`,
    );
    log(
      `clients: ${Object.entries(clients)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    for (const [system, lines] of Object.entries(notes)) {
      for (const [workload, line] of Object.entries(lines)) log(`  ${system} ${workload}: ${line}`);
    }
  }
  log(`chart: ${path.relative(root, chartFile)} (and bench/results/peers-latest.svg); JSON beside it`);
  return 0;
}

function ratioOwn(results: Results): number | null {
  const many = results['topics-1000'].tubemq;
  const one = results.produce.tubemq;
  return many.status === 'ok' && one.status === 'ok' ? many.value / one.value : null;
}

function clientVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const versions: Record<string, string> = {};
  for (const module of ['nats', 'ioredis']) {
    try {
      versions[module] = (require(`${module}/package.json`) as { version: string }).version;
    } catch {
      versions[module] = 'missing';
    }
  }
  return versions;
}

/** Runs every workload on one system: default mode for 1-5, then a restart in fsync mode for 6. */
async function runSystem(
  system: PeerSystem,
  sizes: Sizes,
  dataDir: string,
  runs: Record<WorkloadName, Runs>,
  extraRuns: Map<string, Runs>,
  log: (line: string) => void,
  timeoutMs: number,
): Promise<void> {
  const name = system.name;
  const value = Buffer.alloc(valueBytes, 0x61);
  const attempt = async (workload: string, runsOf: Runs, task: () => Promise<void>) => {
    try {
      await withTimeout(task(), timeoutMs, `${name} ${workload}`);
    } catch (error) {
      const status = error instanceof Unsupported ? 'unsupported' : 'failed';
      runsOf.failure = { status, reason: describe(error) };
      log(`  ${name} ${workload}: ${status}: ${describe(error)}`);
    }
  };
  const sample = () => new ServerSampler(system.serverPid());

  try {
    log(`${name}: starting`);
    await system.start('default', path.join(dataDir, 'default'));
    log(`${name}: ${system.version}`);
    const topics = new Map(
      system.layouts.map((layout) => [
        layout,
        Array.from({ length: topicCount }, (_, i) => `many-${layout}-${i}`),
      ]),
    );
    await attempt('setup', runs['topics-1000'], async () => {
      for (const [layout, names] of topics) await system.createTopics(names, layout);
    });
    const filteredTopic = 'filtered';
    let chosenCount = 0;
    await attempt('filtered setup', runs.filtered, async () => {
      await system.createTopics([filteredTopic]);
      await system.produce({
        topics: [filteredTopic],
        messages: sizes.filteredMessages,
        value,
        streamCount,
      });
      chosenCount = Math.floor(sizes.filteredMessages / streamCount);
    });

    for (let rep = 0; rep < sizes.reps; rep++) {
      dropPageCache();
      const topic = `produce-${rep}`;
      await attempt('produce', runs.produce, async () => {
        await system.createTopics([topic]);
        const sampler = sample();
        const timing = await system.produce({ topics: [topic], messages: sizes.produceMessages, value });
        runs.produce.addThroughput(timing, sampler.stop());
      });
      await attempt('consume', runs.consume, async () => {
        const sampler = sample();
        const timing = await system.consume(topic, `group-${rep}`, sizes.produceMessages + 1);
        runs.consume.addThroughput(timing, sampler.stop());
      });
      // Not `instanceof NatsSystem`: importing it here would need the `nats` package to be installed.
      if ('publishApi' in system) {
        const nats = system as PeerSystem & { publishApi: boolean };
        const label = 'produce via js.publish in windows';
        const each = extraRuns.get(label) ?? new Runs();
        extraRuns.set(label, each);
        await attempt(label, each, async () => {
          const apiTopic = `produce-api-${rep}`;
          await system.createTopics([apiTopic]);
          nats.publishApi = true;
          const sampler = sample();
          try {
            each.addThroughput(
              await system.produce({ topics: [apiTopic], messages: sizes.produceMessages, value }),
              sampler.stop(),
            );
          } finally {
            nats.publishApi = false;
          }
        });
      }
      for (const [layout, names] of topics) {
        const label = `topics-1000 as ${layout}`;
        const each = extraRuns.get(label) ?? new Runs();
        extraRuns.set(label, each);
        await attempt(label, each, async () => {
          const sampler = sample();
          const timing = await system.produce({ topics: names, messages: sizes.topicsMessages, value });
          const server = sampler.stop();
          each.addThroughput(timing, server);
          if (layout === system.layouts[0]) runs['topics-1000'].addThroughput(timing, server);
        });
      }
      if (chosenCount > 0) {
        await attempt('filtered', runs.filtered, async () => {
          const sampler = sample();
          const timing = await system.consumeFiltered(
            filteredTopic,
            chosenStream,
            `filtered-${rep}`,
            chosenCount,
          );
          runs.filtered.addThroughput(timing, sampler.stop());
        });
      }
      await attempt('latency-p99', runs['latency-p99'], async () => {
        const latencyTopic = `latency-${rep}`;
        await system.createTopics([latencyTopic]);
        const sampler = sample();
        const run = await system.latency(
          latencyTopic,
          latencyRate,
          sizes.latencyWarmupSeconds,
          sizes.latencySeconds,
        );
        runs['latency-p99'].addLatency(run, sampler.stop(), 'p99');
      });
      log(`${name}: rep ${rep + 1} of ${sizes.reps} done ${summary(runs)}`);
    }
  } catch (error) {
    log(`${name}: failed: ${describe(error)}`);
    for (const each of Object.values(runs)) each.failure ??= { status: 'failed', reason: describe(error) };
  } finally {
    await system.stop().catch((error: unknown) => log(`${name}: stop failed: ${describe(error)}`));
  }

  try {
    dropPageCache();
    await system.start('fsync', path.join(dataDir, 'fsync'));
    await system.createTopics(['fsync']);
    for (let rep = 0; rep < sizes.reps; rep++) {
      await attempt('fsync', runs.fsync, async () => {
        const sampler = sample();
        const run = await system.fsyncProduce('fsync', fsyncProducers, sizes.fsyncSeconds);
        runs.fsync.addLatency(run, sampler.stop(), 'rate');
      });
      if (runs.fsync.failure) break;
    }
    log(`${name}: fsync done ${summary(runs)}`);
  } catch (error) {
    const status = error instanceof Unsupported ? 'unsupported' : 'failed';
    runs.fsync.failure = { status, reason: describe(error) };
    log(`${name}: fsync ${status}: ${describe(error)}`);
  } finally {
    await system.stop().catch((error: unknown) => log(`${name}: stop failed: ${describe(error)}`));
  }
}

function summary(runs: Record<WorkloadName, Runs>): string {
  return Object.entries(runs)
    .filter(([, each]) => each.values.length > 0)
    .map(([workload, each]) => `${workload} ${Math.round(each.values.at(-1)!).toLocaleString('en-US')}`)
    .join(', ');
}
