// `npm run bench -- <suite> [options]`: runs one benchmark suite; with no name, lists them.
// Every suite measures its own baseline in the same run and prints ratios against it
// (DESIGN.md §11); none asserts on timings.

interface Suite {
  summary: string;
  run(args: string[]): Promise<number>;
}

const suites: Record<string, Suite> = {
  storage: {
    summary:
      'storage engine: append vs raw fs, 1000 topics, fsync group commit, reads, offset seek, memory ' +
      '(options: --quick, --json FILE, --only SECTIONS, --reps N)',
    run: async (args) => (await import('./storage.js')).main(args),
  },
  e2e: {
    summary:
      'master + broker processes, one producer and one consumer process over loopback: msg/s vs raw ' +
      'framing, produce-to-consume latency at 5,000 msg/s (options: --quick, --json FILE, --reps N)',
    run: async (args) => (await import('./e2e.js')).main(args),
  },
  filter: {
    summary:
      'master + broker processes, a topic over 100 stream ids: reading 1 stream id with filters vs the ' +
      'whole topic (options: --quick, --reps N, --messages N, --partitions N, --cold, --json FILE)',
    run: async (args) => (await import('./filter.js')).main(args),
  },
  peers: {
    summary:
      'tubemq vs NATS JetStream vs Redis Streams on this machine: produce, consume, 1,000 topics, filtered, ' +
      'latency, fsync, RSS (options: --quick, --reps N, --json, --systems tubemq,nats,redis)',
    run: async (args) => (await import('./peers.js')).main(args),
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    console.log('usage: npm run bench -- <suite> [options]\n\nsuites:');
    for (const [each, suite] of Object.entries(suites)) console.log(`  ${each.padEnd(10)} ${suite.summary}`);
    return 0;
  }
  const suite = Object.hasOwn(suites, name) ? suites[name] : undefined;
  if (!suite) {
    console.error(
      `error: unknown bench suite ${JSON.stringify(name)}; known: ${Object.keys(suites).join(', ')}`,
    );
    return 2;
  }
  return suite.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  },
);
