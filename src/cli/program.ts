// The `tubemq` command tree (ecosystem.md §5.2). Only commander and the small parsers load here:
// every action imports its implementation (client, daemons, tables) when it runs, so
// `tubemq --help` starts in well under 150 ms.
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { topicDefaults } from '../common/limits.js';
import { exitCodeFor, exitCodes, formatError, UsageError } from './exit.js';
import { defaultMaster, type CommandHandler, type GlobalOptions, type Invocation } from './invocation.js';
import {
  collectKeyValue,
  collectTopicScope,
  parseAcks,
  parseAddressList,
  parseBindPort,
  parseBrokerId,
  parseBrokerList,
  parseGroupName,
  parseNonNegativeInt,
  parseOffset,
  parsePartitionOffsets,
  parsePositiveInt,
  parseSeparator,
  parseSignedInt,
  parseStreamIds,
  parseTime,
  parseTopicName,
} from './parsers.js';

/** Options of {@link buildProgram}, for tests. */
export interface ProgramOptions {
  /** Called with each action's exit code. */
  onExit?: (code: number) => void;
  /** Replaces stderr writes (errors, hints, commander's messages). */
  writeErr?: (text: string) => void;
  /** Replaces stdout writes of commander (help, version). */
  writeOut?: (text: string) => void;
}

const examples = `
Examples:
  tubemq start                                   master + broker on 127.0.0.1, data in ./data
  tubemq topic create orders --partitions 3
  seq 1 1000 | tubemq produce orders
  tubemq consume orders --group g1 --offset earliest --max-messages 1000
  tubemq offset show orders --group g1
  tubemq group describe g1

Environment:
  TUBEMQ_MASTER   master list when -m is not given (default ${defaultMaster})
  NO_COLOR        no colour in tables

Exit codes: 0 ok, 1 refused by the server, 2 usage, 3 nothing answered, 130 interrupted.`;

/** Builds the command tree. Nothing runs until `parseAsync`. */
export function buildProgram(options: ProgramOptions = {}): Command {
  const writeErr = options.writeErr ?? ((text: string) => void process.stderr.write(text));
  const onExit = options.onExit ?? (() => undefined);

  const program = new Command('tubemq')
    .description("Apache TubeMQ's model in TypeScript: daemons, topics, produce and consume")
    .version(version(), '-V, --version')
    .addOption(
      new Option('-m, --master <host:port,...>', 'master addresses, tried in any order')
        .env('TUBEMQ_MASTER')
        .default(defaultMaster)
        .argParser(parseAddressList),
    )
    .option('--json', 'machine output: one JSON document (NDJSON for consume)')
    .option('-q, --quiet', 'no status lines on stderr')
    .option('--debug', 'error codes, details and stack traces')
    .option(
      '--timeout-ms <ms>',
      'request timeout; for consume, exit 0 after this long without a message',
      parsePositiveInt,
    )
    .option('--no-color', 'no colour (also NO_COLOR)')
    .addHelpText('after', examples)
    .showHelpAfterError()
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .exitOverride()
    .configureOutput({
      writeErr,
      ...(options.writeOut === undefined ? {} : { writeOut: options.writeOut }),
    });

  /** Wraps a lazily imported implementation as a commander action. */
  const lazy =
    (load: () => Promise<CommandHandler>) =>
    async (...actionArgs: unknown[]): Promise<void> => {
      const command = actionArgs.at(-1) as Command;
      const globals = globalOptions(command);
      const invocation: Invocation = {
        args: actionArgs.slice(0, -2),
        options: command.opts(),
        globals,
        command,
        sourceOf: (option) => command.getOptionValueSourceWithGlobals(option),
      };
      try {
        const handler = await load();
        onExit((await handler(invocation)) ?? exitCodes.ok);
      } catch (error) {
        writeErr(formatError(error, globals.debug));
        if (error instanceof UsageError && error.showHelp) writeErr(`\n${command.helpInformation()}`);
        onExit(exitCodeFor(error));
      }
    };

  // --- daemons ---------------------------------------------------------------------------------
  program
    .command('start')
    .description('run one master and one broker in this process (a dev cluster; what npm start runs)')
    .option('--data-dir <dir>', 'data directory (master in <dir>/master, broker in <dir>/broker)', './data')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'master port (0 = any free port)', parseBindPort, 8715)
    .option('--broker-port <port>', 'broker port (0 = any free port)', parseBindPort, 8123)
    .option('--detach', 'run in the background, log to <data-dir>/tubemq.log')
    .action(lazy(async () => (await import('./commands/start.js')).startDevCluster));

  const master = program.command('master').description('run and check a master daemon');
  master
    .command('start')
    .description('run a master (foreground unless --detach)')
    .option('-c, --config <file>', 'master.ini ([master] hostName, port, primaryPath)')
    .option('--data-dir <dir>', 'metadata directory (default ./data/master)')
    .option('--host <host>', 'address to bind (default 127.0.0.1)')
    .option('--port <port>', 'port (default 8715; 0 = any free port)', parseBindPort)
    .option('--detach', 'run in the background, log to <data-dir>/master.log')
    .action(lazy(async () => (await import('./commands/master.js')).masterStart));
  addDaemonControl(master, 'master', lazy);

  const broker = program.command('broker').description('run, check and list brokers');
  broker
    .command('start')
    .description('run a broker that registers with the master list -m (foreground unless --detach)')
    .option(
      '-c, --config <file>',
      'broker.ini ([broker] brokerId, hostName, port, masterAddressList, primaryPath)',
    )
    .option('--broker-id <id>', 'broker id (default 1)', parseBrokerId)
    .option('--data-dir <dir>', 'storage directory (default ./data/broker)')
    .option('--host <host>', 'address to bind (default 127.0.0.1)')
    .option('--port <port>', 'port (default 8123; 0 = any free port)', parseBindPort)
    .option('--detach', 'run in the background, log to <data-dir>/broker.log')
    .action(lazy(async () => (await import('./commands/broker.js')).brokerStart));
  addDaemonControl(broker, 'broker', lazy);
  broker
    .command('list')
    .description('brokers known to the master, with their state')
    .action(lazy(async () => (await import('./commands/broker.js')).brokerList));

  // --- topics ----------------------------------------------------------------------------------
  const topic = program.command('topic').description('create, list and describe topics');
  topic
    .command('create')
    .description('create a topic, placed on the online brokers')
    .argument('<topic>', 'topic name', parseTopicName)
    .option('--partitions <n>', 'number of partitions', parsePositiveInt, topicDefaults.partitions)
    .option(
      '--stores <n>',
      `storage instances per broker (default ${topicDefaults.stores})`,
      parsePositiveInt,
    )
    .option(
      '--brokers <ids>',
      'place partitions on these brokers, e.g. 1,2 (default: all online)',
      parseBrokerList,
    )
    .option(
      '--config <key=value>',
      'retention.ms, retention.bytes or ack.floor (memory|written|fsync); repeatable',
      collectKeyValue,
    )
    .option('--if-not-exists', 'exit 0 when the topic already exists')
    .action(lazy(async () => (await import('./commands/topic.js')).topicCreate));
  topic
    .command('list')
    .description('every topic with its settings')
    .action(lazy(async () => (await import('./commands/topic.js')).topicList));
  topic
    .command('describe')
    .description('a topic and the broker serving each partition')
    .argument('<topic>', 'topic name', parseTopicName)
    .action(lazy(async () => (await import('./commands/topic.js')).topicDescribe));

  // --- data ------------------------------------------------------------------------------------
  program
    .command('produce')
    .description('send messages: the arguments, else stdin one message per line')
    .argument('<topic>', 'topic name', parseTopicName)
    .argument('[message...]', 'messages to send (default: read stdin)')
    .addOption(
      new Option('--key <key>', 'key of every message (routes to a partition)').conflicts('parseKey'),
    )
    .option('--parse-key', 'each line is KEY<separator>VALUE')
    .option('--key-separator <sep>', 'separator for --parse-key (\\t = tab)', parseSeparator, '\t')
    .option('--stream-id <id>', 'stream id of every message (the attribute consumers filter on)')
    .option('--partition <p>', 'send every message to this partition', parseNonNegativeInt)
    .option('--acks <level>', 'memory, written or fsync', parseAcks, 'written')
    .action(lazy(async () => (await import('./commands/produce.js')).produce));

  program
    .command('consume')
    .description('print messages, one per line (value only unless --print-*/--format/--json)')
    .argument('<topic>', 'topic name', parseTopicName)
    .option(
      '--group <group>',
      'consumer group; processes with the same group share its partitions (default: a throwaway group that commits nothing)',
      parseGroupName,
    )
    .addOption(new Option('--pull', 'pull consumption: poll in a loop (the default)').conflicts('push'))
    .option('--push', 'push consumption: the client calls a handler per message (consumer.run)')
    .option(
      '--filter <ids>',
      'only messages with these stream ids, e.g. clicks,views (at most 500, each at most 256 bytes)',
      parseStreamIds,
    )
    .addOption(
      new Option('--offset <offset>', 'start at earliest, latest or an offset (N needs --partition)')
        .argParser(parseOffset)
        .conflicts(['offsets', 'fromBeginning', 'toDatetime']),
    )
    .addOption(
      new Option('--partition <p>', 'consume only this partition')
        .argParser(parseNonNegativeInt)
        .conflicts('offsets'),
    )
    .addOption(
      new Option('--offsets <P:N,...>', 'consume only these partitions, from these offsets')
        .argParser(parsePartitionOffsets)
        .conflicts(['fromBeginning', 'toDatetime']),
    )
    .addOption(
      new Option(
        '--to-datetime <time>',
        'start at the first message at or after this time (ISO date or epoch ms)',
      )
        .argParser(parseTime)
        .conflicts(['fromBeginning', 'sessionKey']),
    )
    .addOption(
      new Option(
        '--session-key <key>',
        'with --group and --offsets: stay balanced, and apply the offsets once per key (bound start)',
      ).conflicts(['partition', 'offset']),
    )
    .option('--from-beginning', 'same as --offset earliest')
    .option('--max-messages <n>', 'exit 0 after this many messages', parsePositiveInt)
    .option('--exit-at-end', 'exit 0 once every partition is read to its end')
    .option('--print-key', 'prefix each value with its key')
    .option('--print-partition', 'prefix each value with Partition:<p>')
    .option('--print-offset', 'prefix each value with Offset:<n>')
    .option('--print-timestamp', 'prefix each value with Time:<epoch ms>')
    .option(
      '--format <fmt>',
      'kcat tokens: %t topic %p partition %o offset %T time %k key %s value %S size %h attributes',
    )
    .addHelpText(
      'after',
      '\nWith --timeout-ms MS, exit 0 when no message arrives for MS milliseconds.\n' +
        'Without --offset, a new group starts at latest and an existing group resumes from its commit.\n' +
        'With --group, processes of one group share its partitions; --partition, --offset N, --offsets\n' +
        'and --to-datetime read the partitions named (or all) from exactly that start instead.',
    )
    .action(lazy(async () => (await import('./commands/consume.js')).consume));

  const offset = program.command('offset').description('stored and committed offsets');
  offset
    .command('show')
    .description('earliest/latest per partition; committed offset and lag with --group')
    .argument('<topic>', 'topic name', parseTopicName)
    .option('--group <group>', 'show this group’s committed offsets and lag')
    .addOption(
      new Option('--at <time>', 'also the first offset at or after this time (ISO date or epoch ms)')
        .argParser(parseTime)
        .conflicts('group'),
    )
    .action(lazy(async () => (await import('./commands/offset.js')).offsetShow));

  const group = program.command('group').description('consumer groups: members, progress, offset resets');
  group
    .command('list')
    .description('every group: with members, with a bound session, or with committed offsets only')
    .action(lazy(async () => (await import('./commands/group.js')).groupList));
  group
    .command('describe')
    .description('state, members and per partition the committed offset, log end, lag and owner')
    .argument('<group>', 'group name', parseGroupName)
    .action(lazy(async () => (await import('./commands/group.js')).groupDescribe));
  const resetTargets = ['toEarliest', 'toLatest', 'toOffset', 'toDatetime', 'shiftBy'];
  const others = (name: string): string[] => resetTargets.filter((target) => target !== name);
  group
    .command('reset-offsets')
    .description('print where a group’s offsets would move; commit them with --execute')
    .argument('<group>', 'group name', parseGroupName)
    .requiredOption(
      '--topic <T[:P,...]>',
      'topic, or topic:partitions (e.g. orders:0,2); repeatable',
      collectTopicScope,
    )
    .addOption(new Option('--to-earliest', 'to the oldest stored offset').conflicts(others('toEarliest')))
    .addOption(new Option('--to-latest', 'to the end (skip everything stored)').conflicts(others('toLatest')))
    .addOption(
      new Option('--to-offset <n>', 'to this offset')
        .argParser(parseNonNegativeInt)
        .conflicts(others('toOffset')),
    )
    .addOption(
      new Option('--to-datetime <time>', 'to the first message at or after this time (ISO date or epoch ms)')
        .argParser(parseTime)
        .conflicts(others('toDatetime')),
    )
    .addOption(
      new Option('--shift-by <±n>', 'move the committed offset by n (negative = back)')
        .argParser(parseSignedInt)
        .conflicts(others('shiftBy')),
    )
    .option('--execute', 'commit the new offsets (without it nothing changes)')
    .option('--force', 'also while the group has live members: the master pauses them, commits, resumes')
    .addHelpText(
      'after',
      '\nOffsets are moved into the stored range [earliest, latest]. Without --execute this is a dry run.',
    )
    .action(lazy(async () => (await import('./commands/group.js')).groupResetOffsets));
  group
    .command('delete')
    .description('delete a group without live members: its committed offsets and bound session')
    .argument('<group>', 'group name', parseGroupName)
    .option('--yes', 'do not ask (required when not on a terminal)')
    .action(lazy(async () => (await import('./commands/group.js')).groupDelete));

  const cluster = program.command('cluster').description('the cluster as the master sees it');
  cluster
    .command('status')
    .description('the master, the brokers and their states, topic and partition counts')
    .action(lazy(async () => (await import('./commands/cluster.js')).clusterStatus));

  return program;
}

function addDaemonControl(
  parent: Command,
  role: 'master' | 'broker',
  lazy: (load: () => Promise<CommandHandler>) => (...args: unknown[]) => Promise<void>,
): void {
  const dirHelp = `data directory of the ${role} (default ./data/${role})`;
  parent
    .command('status')
    .description(`whether the ${role} of a data directory runs, with its pid and ports (exit 3 if not)`)
    .option('--data-dir <dir>', dirHelp)
    .option('-c, --config <file>', `${role}.ini to read primaryPath from`)
    .action(lazy(async () => (await import('./commands/daemon-control.js'))[`${role}Status`]));
  parent
    .command('stop')
    .description(`stop the ${role} of a data directory (SIGTERM through its pid file) and wait for it`)
    .option('--data-dir <dir>', dirHelp)
    .option('-c, --config <file>', `${role}.ini to read primaryPath from`)
    .action(lazy(async () => (await import('./commands/daemon-control.js'))[`${role}Stop`]));
  const files = role === 'master' ? 'metadata files (meta.json, meta.wal)' : 'group offsets files (offsets/)';
  parent
    .command('repair')
    .description(
      `repair the ${role}'s ${files} so that it starts, keeping every valid change and saying what is dropped (the ${role} must be stopped)`,
    )
    .option('--data-dir <dir>', dirHelp)
    .option('-c, --config <file>', `${role}.ini to read primaryPath from`)
    .action(lazy(async () => (await import('./commands/repair.js'))[`${role}Repair`]));
}

function globalOptions(command: Command): GlobalOptions {
  const all = command.optsWithGlobals<{
    master: string;
    json?: boolean;
    quiet?: boolean;
    debug?: boolean;
    timeoutMs?: number;
    color: boolean;
  }>();
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  return {
    master: all.master,
    json: all.json === true,
    quiet: all.quiet === true,
    debug: all.debug === true,
    timeoutMs: all.timeoutMs,
    color: all.color && !noColor,
  };
}

function version(): string {
  // src/cli and dist/cli both sit two levels below package.json.
  const pkg = createRequire(import.meta.url)('../../package.json') as { version?: string };
  return pkg.version ?? '0.0.0';
}

/**
 * Parses `argv` (without node and script) and runs the command. Resolves to the exit code:
 * 0 for help and version, 2 for every commander usage error.
 */
export async function runCli(argv: string[], options: ProgramOptions = {}): Promise<number> {
  let code: number = exitCodes.ok;
  const program = buildProgram({
    ...options,
    onExit: (exitCode) => {
      code = exitCode;
      options.onExit?.(exitCode);
    },
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return exitCodes.ok;
      return exitCodes.usage;
    }
    throw error;
  }
}
