// One app of the profile: name, state, progress while it downloads, what happens next, and its three buttons.
// A card is built once and then updated in place, so a button keeps keyboard focus across live updates.
import type { Action, AppView } from './api.js';
import { KIOSK } from './config.js';
import { h, setAttr, setText, show } from './dom.js';
import { describeError, formatBytes, percent, stateDetail, stateLabel, updateLine, type KioskAction } from './messages.js';

export interface CardActions {
  open(app: AppView): void;
  /** `pressed`: the button (Resume asks the agent to `start`), for the words of a refusal. */
  act(app: AppView, action: Action, pressed: KioskAction): void;
  /** The app's last output lines, for a failure that did not carry them. */
  logs(app: AppView): Promise<string[]>;
}

/** Soft, calm colours for the app's initial; picked from the name so an app keeps its colour. */
const HUES = [205, 160, 260, 25, 330, 115, 190, 45];

export class AppCard {
  readonly root: HTMLLIElement;
  private app: AppView;
  private readonly chip: HTMLSpanElement;
  private readonly version: HTMLSpanElement;
  private readonly description: HTMLParagraphElement;
  private readonly progress: HTMLDivElement;
  private readonly bar: HTMLDivElement;
  private readonly detail: HTMLParagraphElement;
  private readonly update: HTMLParagraphElement;
  private readonly problem: HTMLDivElement;
  private readonly problemText: HTMLParagraphElement;
  private readonly logs: HTMLDetailsElement;
  private readonly logText: HTMLPreElement;
  private readonly openLink: HTMLAnchorElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly freezeButton: HTMLButtonElement;
  private readonly notice: HTMLParagraphElement;
  private pendingOpen = false;
  private busy: Action | null = null;
  /** Until when (performance.now()) a finished download still shows its full bar; null when none just finished. */
  private completeUntil: number | null = null;
  private completeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(app: AppView, actions: CardActions) {
    this.app = app;
    const id = `app-${app.name}`;
    const hue = HUES[[...app.name].reduce((sum, c) => sum + c.charCodeAt(0), 0) % HUES.length]!;
    const initial = h('span', { class: 'app-icon', 'aria-hidden': 'true' }, app.name.charAt(0).toUpperCase());
    initial.style.setProperty('--hue', String(hue));

    this.chip = h('span', { class: 'chip' });
    this.version = h('span', { class: 'version' });
    this.description = h('p', { class: 'description' });
    this.bar = h('div', { class: 'bar' });
    this.progress = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-label': `Downloading ${app.name}` }, this.bar);
    this.detail = h('p', { class: 'detail', id: `${id}-detail` });
    this.update = h('p', { class: 'update' });
    this.problemText = h('p', { class: 'problem-text' });
    this.logText = h('pre', { class: 'log', tabindex: '0', 'aria-label': `Last output of ${app.name}` });
    this.logs = h('details', { class: 'logs' }, h('summary', {}, 'Last output lines'), this.logText);
    this.problem = h('div', { class: 'problem', role: 'alert' }, this.problemText, this.logs);
    this.logs.addEventListener('toggle', () => {
      if (!this.logs.open || this.logText.textContent) return;
      setText(this.logText, 'Loading…');
      actions.logs(this.app).then(
        (lines) => setText(this.logText, lines.slice(-KIOSK.logTailLines).join('\n') || 'It printed nothing.'),
        () => setText(this.logText, 'The output could not be read.'),
      );
    });

    this.openLink = h('a', { class: 'button primary', 'data-action': 'open', 'aria-describedby': `${id}-detail` }, 'Open');
    this.openLink.addEventListener('click', (event) => {
      if (this.isDisabled(this.openLink)) return event.preventDefault();
      // Modified clicks (new tab, new window) go straight to the app; the agent starts it on the first connection.
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      actions.open(this.app);
    });
    this.stopButton = h('button', { type: 'button', class: 'button', 'data-action': 'stop' }, 'Stop');
    this.stopButton.addEventListener('click', () => {
      if (!this.isDisabled(this.stopButton)) actions.act(this.app, 'stop', 'stop');
    });
    this.freezeButton = h('button', { type: 'button', class: 'button', 'data-action': 'freeze' }, 'Freeze');
    this.freezeButton.addEventListener('click', () => {
      if (this.isDisabled(this.freezeButton)) return;
      if (this.app.state === 'frozen') actions.act(this.app, 'start', 'resume');
      else actions.act(this.app, 'freeze', 'freeze');
    });
    this.notice = h('p', { class: 'notice', role: 'status' });

    this.root = h(
      'li',
      { class: 'app', 'data-app': app.name },
      h(
        'article',
        { class: 'card', 'aria-labelledby': `${id}-name` },
        h('div', { class: 'card-head' },
          initial,
          h('div', { class: 'titles' }, h('h2', { id: `${id}-name`, class: 'name' }, app.name), this.version),
          this.chip,
        ),
        this.description,
        this.progress,
        this.detail,
        this.update,
        this.problem,
        h('div', { class: 'actions', role: 'group', 'aria-label': `${app.name} actions` }, this.openLink, this.stopButton, this.freezeButton),
        this.notice,
      ),
    );
    this.render(app);
  }

  get name(): string {
    return this.app.name;
  }

  get waitingToOpen(): boolean {
    return this.pendingOpen;
  }

  render(app: AppView): void {
    const before = this.app.state;
    this.app = app;
    const { state } = app;
    setAttr(this.root, 'data-state', state);
    setText(this.chip, stateLabel(state));
    setText(this.version, app.version ? `version ${app.version}` : '');
    setText(this.description, app.description);
    show(this.description, app.description !== '');

    // The bar ends at 100 %: the agent's last progress event before the state moves on may be merged into the state
    // change (events are throttled), so when a download ends well (cached, starting, running) the kiosk fills the
    // bar itself, without animation, and keeps it while the app starts (a cached one: progressDoneMs), not once it runs.
    const downloading = state === 'downloading';
    if (downloading) this.completeUntil = null;
    else if (before === 'downloading' && (state === 'cached' || state === 'starting' || state === 'running')) {
      this.completeUntil = performance.now() + KIOSK.progressDoneMs;
      clearTimeout(this.completeTimer);
      this.completeTimer = setTimeout(() => this.render(this.app), KIOSK.progressDoneMs + 20);
    }
    const complete = this.completeUntil !== null && (state === 'starting' || (state === 'cached' && performance.now() < this.completeUntil));
    if (!downloading && !complete) this.completeUntil = null;
    show(this.progress, downloading || complete);
    setAttr(this.progress, 'data-complete', complete || (downloading && percent(app.progress?.doneBytes ?? 0, app.progress?.totalBytes ?? 0) === 100) ? '' : null);
    if (complete) {
      this.bar.style.setProperty('width', '100%');
      setAttr(this.progress, 'aria-valuenow', '100');
      setAttr(this.progress, 'aria-valuetext', '100 percent, downloaded');
      setAttr(this.progress, 'data-indeterminate', null);
    } else if (downloading) {
      const done = app.progress?.doneBytes ?? 0;
      const total = app.progress?.totalBytes ?? 0;
      const pct = percent(done, total);
      this.bar.style.setProperty('width', `${total > 0 ? pct : 8}%`);
      setAttr(this.progress, 'aria-valuenow', total > 0 ? String(pct) : null);
      setAttr(this.progress, 'aria-valuetext', total > 0 ? `${pct} percent, ${formatBytes(done)} of ${formatBytes(total)}` : 'starting the download');
      setAttr(this.progress, 'data-indeterminate', total > 0 ? null : '');
    }

    let detail = stateDetail(app);
    if (this.pendingOpen && state !== 'running' && state !== 'failed') detail = `${detail} It opens when ready.`;
    setText(this.detail, detail);

    const update = updateLine(app);
    setText(this.update, update);
    show(this.update, update !== '');
    setAttr(this.update, 'data-state', app.update.state);

    // A failure (crash loop) or a stop the person did not ask for (crash, memory-limit kill): what and why.
    const failed = state === 'failed' || (state === 'stopped' && app.error !== null);
    show(this.problem, failed);
    if (failed) {
      setText(this.problemText, app.error ? describeError(app.error) : `${app.name} stopped unexpectedly.`);
      const tail = app.error?.logTail.slice(-KIOSK.logTailLines) ?? [];
      // Without a tail in the error, the lines are fetched from /api/apps/:name/logs when the person opens them.
      if (tail.length > 0 || this.logs.dataset.for !== app.error?.message) setText(this.logText, tail.join('\n'));
      this.logs.dataset.for = app.error?.message ?? '';
    }

    // Open works in every state but a failed pull of an app that is not on the device: the agent starts the app.
    this.openLink.href = appUrl(app);
    this.setDisabled(this.openLink, app.port === null);
    setText(this.openLink, this.pendingOpen && state !== 'running' ? 'Opening…' : 'Open');
    setAttr(this.openLink, 'aria-busy', this.pendingOpen ? 'true' : null);
    this.setDisabled(this.stopButton, !['running', 'frozen', 'starting'].includes(state) || this.busy !== null);
    const frozen = state === 'frozen';
    setText(this.freezeButton, frozen ? 'Resume' : 'Freeze');
    // The agent freezes only an idle app: one with open connections would hang its users.
    const freezable = (state === 'running' && app.connections === 0) || frozen;
    this.setDisabled(this.freezeButton, !freezable || this.busy !== null);
    setAttr(this.freezeButton, 'title', state === 'running' && app.connections > 0 ? 'In use: it can be frozen once idle' : null);
  }

  setPendingOpen(pending: boolean): void {
    this.pendingOpen = pending;
    this.render(this.app);
  }

  setBusy(action: Action | null): void {
    this.busy = action;
    setAttr(this.root, 'aria-busy', action ? 'true' : null);
    this.render(this.app);
  }

  /** Back from the app's page: the focus returns to its Open. */
  /** Open is enabled (the app has a port). */
  get canOpen(): boolean {
    return !this.isDisabled(this.openLink);
  }

  focusOpen(): void {
    this.openLink.focus();
  }

  /** A short message under the buttons (a refused action); cleared by the next one or after a while. */
  say(text: string): void {
    setText(this.notice, text);
  }

  // Buttons stay focusable when they do not apply (aria-disabled), so focus is never lost when a state changes.
  private setDisabled(el: HTMLElement, disabled: boolean): void {
    setAttr(el, 'aria-disabled', disabled ? 'true' : null);
  }

  private isDisabled(el: HTMLElement): boolean {
    return el.getAttribute('aria-disabled') === 'true';
  }
}

/** The app's own page: the same host as the kiosk, on the app's public port. */
export function appUrl(app: AppView): string {
  if (app.port === null) return '#';
  // location.hostname keeps the brackets of an IPv6 address.
  return `${location.protocol}//${location.hostname}:${app.port}/`;
}
