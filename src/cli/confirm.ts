// The safety rule of destructive commands (ecosystem.md §5.3): `--yes` goes ahead; otherwise a y/N
// question on a terminal, and without one (a script, a pipe) a usage error asking for `--yes`.
import { createInterface } from 'node:readline/promises';
import { UsageError } from './exit.js';

/**
 * Resolves when the action may go ahead; throws a {@link UsageError} (exit 2) when it may not:
 * no `--yes` and no terminal to ask on, or the answer was not yes.
 */
export async function confirmOrThrow(options: {
  yes: boolean;
  question: string;
  action: string;
}): Promise<void> {
  if (options.yes) return;
  if (process.stdin.isTTY !== true || process.stderr.isTTY !== true) {
    throw new UsageError(`${options.action} needs --yes when it cannot ask on a terminal`, {
      hint: 'add --yes to confirm',
      showHelp: false,
    });
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${options.question} [y/N] `);
    if (/^y(es)?$/i.test(answer.trim())) return;
  } finally {
    prompt.close();
  }
  throw new UsageError(`${options.action}: not confirmed, nothing changed`, { showHelp: false });
}
