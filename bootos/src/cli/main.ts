// `bootos`: one CLI whose verbs come from the parts (fetcher, OS builder, agent, QEMU harness).
import { helpText, runCommand, type Command } from '../../../fetcher/src/cli/kit.js';
import { fetcherVerbs } from '../../../fetcher/src/cli/verbs.js';
import { agentCommand } from '../agent/cli.js';
import { demoCommand } from './demo.js';
import { osCommands } from '../os/commands.js';
import { qemuCommand } from '../../../qemu/src/command.js';

const commands: Command[] = [...fetcherVerbs, demoCommand, agentCommand, ...osCommands, qemuCommand];

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'bootos — a tiny network-booted OS that runs signed process images on demand',
    '',
    'usage: bootos <verb> [options]      bootos <verb> --help',
    '',
    'verbs:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(overview());
    return argv.length === 0 ? 2 : 0;
  }
  // Longest match first: "key generate" before "key".
  const match = commands
    .filter((c) => {
      const words = c.name.split(' ');
      return words.every((w, i) => argv[i] === w);
    })
    .sort((a, b) => b.name.length - a.name.length)[0];
  if (!match) {
    const group = commands.filter((c) => c.name.split(' ')[0] === argv[0]);
    if (group.length) {
      process.stderr.write(`bootos ${argv[0]}: choose one of:\n${group.map((c) => `  bootos ${c.name}  — ${c.summary}`).join('\n')}\n`);
      return argv[1] === '--help' || argv[1] === '-h' ? 0 : 2;
    }
    process.stderr.write(`bootos: unknown verb ${JSON.stringify(argv[0])}\n\n${overview()}`);
    return 2;
  }
  return runCommand(match, argv.slice(match.name.split(' ').length));
}

export { helpText };

process.exitCode = await main(process.argv.slice(2));
