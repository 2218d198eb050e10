// The Activity panel: the agent's recent steps, newest first. The history comes from the agent (GET /api/activity,
// read on every (re)connection of the event stream), so a reload shows what happened before; `step` events add to
// it live. Entries are keyed by the agent's `seq`, so a step that is both in the history and on the stream shows once.
import type { StepEvent } from './api.js';
import { KIOSK } from './config.js';
import { h, show } from './dom.js';

export class ActivityPanel {
  /** The history of this connection, and the steps streamed since it opened, by seq (or a local key). */
  private history: StepEvent[] = [];
  private streamed: StepEvent[] = [];

  constructor(
    private readonly list: HTMLOListElement,
    private readonly empty: HTMLElement,
  ) {}

  /** A new connection: steps streamed before it belong to an older view (the agent may have restarted). */
  reconnected(): void {
    this.streamed = [];
  }

  /** The agent's history (GET /api/activity), oldest first. */
  setHistory(entries: StepEvent[]): void {
    this.history = entries;
    this.render();
  }

  add(step: StepEvent): void {
    this.streamed.push({ ...step, at: step.at ?? new Date().toISOString() });
    if (this.streamed.length > KIOSK.activityLines * 4) this.streamed.splice(0, this.streamed.length - KIOSK.activityLines * 4);
    this.render();
  }

  private render(): void {
    const bySeq = new Map<string, StepEvent>();
    let local = 0;
    for (const step of [...this.history, ...this.streamed]) bySeq.set(step.seq !== null ? `s${step.seq}` : `l${local++}`, step);
    // Numbered steps in the agent's order; an older agent's unnumbered ones in the order they came.
    const steps = [...bySeq.values()].sort((a, b) => (a.seq !== null && b.seq !== null ? a.seq - b.seq : 0)).slice(-KIOSK.activityLines).reverse();
    this.list.replaceChildren(...steps.map((step) => item(step)));
    show(this.empty, steps.length === 0);
  }
}

function item(step: StepEvent): HTMLLIElement {
  const at = step.at ? new Date(step.at) : new Date();
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  return h('li', {}, h('time', { datetime: at.toISOString() }, time), ' ', step.app ? h('strong', {}, step.app) : '', step.app ? ' ' : '', step.message);
}
