// The `tubemq` entry point (bin/tubemq imports the compiled copy). Keep it tiny: parse, run, exit.
import { runCli } from './program.js';

// `tubemq consume … | head -1`: the reader went away, which is success for us, not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

const code = await runCli(process.argv.slice(2));
process.exit(code);
