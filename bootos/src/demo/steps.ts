// The demo's numbered progress lines ("2/6 publish: …"): the steps are named once, so the total is one number for the
// whole run (--no-boot has five steps, a boot six) and a line can only name a step of its own run.

export const BOOT_STEPS = ['key', 'publish', 'channel', 'serve', 'build', 'boot'] as const;
export const ROUND_TRIP_STEPS = ['key', 'publish', 'channel', 'serve', 'verify'] as const;

export class Steps<Name extends string> {
  constructor(
    private readonly names: readonly Name[],
    private readonly out: (line: string) => void,
  ) {}

  /** `<n>/<total> <name>: <text>`; a step may print several lines (one per image), all with its number. */
  line(name: Name, text: string): string {
    const line = `${this.names.indexOf(name) + 1}/${this.names.length} ${name}: ${text}`;
    this.out(line);
    return line;
  }
}
