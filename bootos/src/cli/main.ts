// `bootos`: one CLI whose verbs come from the parts (fetcher, OS builder, agent, QEMU harness).
import { helpText, runCommand, type Command } from '../../../fetcher/src/cli/kit.js';
import { fetcherVerbs } from '../../../fetcher/src/cli/verbs.js';
import { didYouMean } from '../../../fetcher/src/core/did-you-mean.js';
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
    const names = commands.map((c) => c.name);
    const group = commands.filter((c) => c.name.split(' ')[0] === argv[0]);
    if (group.length) {
      const choices = group.map((c) => `  bootos ${c.name}  — ${c.summary}`).join('\n');
      if (argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h') {
        process.stderr.write(`bootos ${argv[0]}: choose one of:\n${choices}\n`);
        return argv[1] === undefined ? 2 : 0;
      }
      // A slip of the second word ("key generat").
      const hint = didYouMean(`${argv[0]} ${argv[1]}`, group.map((c) => c.name), (n) => `bootos ${n}`);
      process.stderr.write(`bootos: error USAGE: unknown verb ${JSON.stringify(`${argv[0]} ${argv[1]}`)}${hint}; choose one of:\n${choices}\n`);
      return 2;
    }
    // A slip of the verb ("verfy", "chanel sign"): the nearest verb, or the nearest group of verbs.
    const groups = [...new Set(names.filter((n) => n.includes(' ')).map((n) => n.split(' ')[0]!))];
    const typed = argv[1] !== undefined && !argv[1].startsWith('-') ? `${argv[0]} ${argv[1]}` : argv[0]!;
    const hint = didYouMean(typed, names, (n) => `bootos ${n}`) || didYouMean(argv[0]!, [...names, ...groups], (n) => `bootos ${n}`);
    process.stderr.write(`bootos: error USAGE: unknown verb ${JSON.stringify(argv[0])}${hint}\nusage: bootos <verb> [options]   (bootos --help lists the verbs)\n`);
    return 2;
  }
  return runCommand(match, argv.slice(match.name.split(' ').length));
}

export { helpText };

process.exitCode = await main(process.argv.slice(2));
