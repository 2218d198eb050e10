// The kiosk: what the person at a bootos device sees. It reads the agent's API (docs/api.md), keeps itself current
// over /api/events, and turns states and error codes into plain words.
import './style.css';
import { ActivityPanel } from './activity.js';
import { ApiCallError, fetchActivity, fetchApps, fetchDevice, fetchLogs, postAction, postOsRestart, readApps, readStep, type Action, type AppsView, type AppView } from './api.js';
import { AppCard } from './app-card.js';
import { AppView as AppPage } from './app-view.js';
import { KIOSK } from './config.js';
import { byId, setText, show } from './dom.js';
import { DevicePanel } from './device-panel.js';
import { connectLive } from './live.js';
import { describeError, isTransient, osBanner, refusalSentence, stateLabel, type KioskAction } from './messages.js';
import { PairingPanel } from './pairing.js';

class Kiosk {
  private readonly list = byId<HTMLUListElement>('apps');
  private readonly empty = byId('apps-empty');
  private readonly profile = byId('profile');
  private readonly channelName = byId('channel-name');
  private readonly channelStatus = byId('channel-status');
  private readonly channelBox = byId('channel');
  private readonly problem = byId('channel-problem');
  private readonly connection = byId('connection');
  private readonly announcer = byId('announcer');
  private readonly activity = new ActivityPanel(byId<HTMLOListElement>('activity'), byId('activity-empty'));
  private readonly page = new AppPage();
  private readonly device = new DevicePanel(byId('device'));
  private readonly cards = new Map<string, AppCard>();
  private view: AppsView | null = null;
  /** When the channel's retry countdown reaches zero (performance.now() based). */
  private retryAt: number | null = null;
  private openTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pairing = new PairingPanel((view) => (document.body.dataset.role = view.role));
  private readonly osBox = byId('os-banner');
  private readonly osRestart = byId<HTMLButtonElement>('os-restart');

  start(): void {
    this.osRestart.addEventListener('click', () => void this.restartOs());
    void this.pairing.start();
    connectLive({
      onApps: (data) => this.showApps(readApps(data)),
      onStep: (data) => {
        const step = readStep(data);
        if (step) this.activity.add(step);
      },
      // The screen's home key (the agent reads it from the keyboards): back to the kiosk wherever the focus was.
      onScreen: (data) => {
        if ((data as { key?: unknown } | null)?.key === 'home') this.page.close();
      },
      onConnection: (connected) => show(this.connection, !connected),
      onOpen: () => {
        this.activity.reconnected();
        void this.refresh();
        void this.refreshActivity();
      },
    });
    this.page.onClose((name) => this.cards.get(name)?.focusOpen());
    void this.refresh();
    void this.refreshDevice();
    setInterval(() => void this.refreshDevice(), KIOSK.deviceRefreshMs);
    setInterval(() => this.tick(), KIOSK.tickMs);
  }

  private async refresh(): Promise<void> {
    try {
      this.showApps(await fetchApps());
    } catch {
      show(this.connection, true);
    }
  }

  private async refreshActivity(): Promise<void> {
    try {
      this.activity.setHistory(await fetchActivity());
    } catch {
      // An agent without /api/activity, or a dropped connection: the live steps still show.
    }
  }

  private async refreshDevice(): Promise<void> {
    try {
      this.device.render(await fetchDevice());
    } catch {
      this.device.unavailable();
    }
  }

  private showApps(view: AppsView): void {
    const previous = this.view;
    this.view = view;
    setText(this.profile, view.device.profile ? `profile ${view.device.profile}` : '');

    const seen = new Set<string>();
    view.apps.forEach((app, index) => {
      seen.add(app.name);
      let card = this.cards.get(app.name);
      if (!card) {
        card = new AppCard(app, { open: (a) => this.open(a), act: (a, action, pressed) => void this.act(a, action, pressed), logs: (a) => fetchLogs(a.name) });
        this.cards.set(app.name, card);
      } else {
        const before = previous?.apps.find((a) => a.name === app.name);
        if (before && before.state !== app.state) this.announce(`${app.name}: ${stateLabel(app.state).toLowerCase()}.`);
        card.render(app);
      }
      // Keep the agent's order without moving nodes that are already in place (moving one would drop its focus).
      if (this.list.children[index] !== card.root) this.list.insertBefore(card.root, this.list.children[index] ?? null);
      if (card.waitingToOpen) this.continueOpen(card, app);
    });
    for (const [name, card] of this.cards) {
      if (!seen.has(name)) {
        card.root.remove();
        this.cards.delete(name);
      }
    }
    show(this.empty, view.apps.length === 0);
    setText(this.empty, view.channel.state === 'ok' ? 'This device has no apps in its profile.' : 'No apps yet: the channel could not be read.');

    const { channel } = view;
    this.retryAt = channel.state !== 'ok' ? retryDeadline(channel.retryInMs, channel.checkedAt) : null;
    if (previous && previous.channel.state !== channel.state) {
      this.announce(channel.state === 'ok' ? 'The channel is up to date again.' : this.channelSentence());
    }
    this.renderChannel();
    this.renderOs();
    this.page.apps(view.apps);
    // Nothing has the focus yet (a fresh kiosk, as on the device's own screen): the first app's Open takes it, so
    // that Enter opens it and Tab goes on from there without a mouse.
    if (!previous && document.activeElement === document.body) [...this.cards.values()].find((c) => c.canOpen)?.focusOpen();
  }

  private renderOs(): void {
    this.device.setOs(this.view?.os ?? null);
    const banner = osBanner(this.view?.os ?? null);
    show(this.osBox, banner !== null);
    if (!banner) return;
    this.osBox.className = `banner ${banner.kind}`;
    setText(byId('os-banner-text'), banner.text);
    show(this.osRestart, banner.restart);
  }

  private async restartOs(): Promise<void> {
    const message = byId('os-restart-message');
    setText(message, '');
    this.osRestart.disabled = true;
    try {
      await postOsRestart();
      setText(message, 'Stopping the apps and restarting…');
    } catch (err) {
      const error = err instanceof ApiCallError ? err.error : null;
      setText(message, error ? describeError(error) : 'The device did not take the restart.');
      this.osRestart.disabled = false;
    }
  }

  private renderChannel(): void {
    if (!this.view) return;
    const { channel } = this.view;
    const version = channel.version !== null ? ` · version ${channel.version}` : '';
    setText(this.channelName, `${channel.name || 'channel'}${version}`);
    this.channelBox.dataset.state = channel.state;
    let status: string;
    if (channel.state === 'ok') {
      const at = channel.checkedAt ? new Date(channel.checkedAt) : null;
      status = at && !Number.isNaN(at.getTime()) ? `up to date · checked ${at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })}` : 'up to date';
    } else {
      status = channel.state === 'retrying' ? 'retrying' : 'not updating';
    }
    setText(this.channelStatus, status);
    const problem = channel.state !== 'ok' && channel.error !== null;
    show(this.problem, problem);
    if (problem) {
      setText(byId('channel-problem-text'), this.channelSentence());
      this.problem.dataset.kind = channel.error && isTransient(channel.error.code) ? 'transient' : 'trust';
    }
  }

  private channelSentence(): string {
    const error = this.view?.channel.error;
    if (!error) return 'The channel could not be read.';
    const retryInMs = this.retryAt === null ? null : Math.max(0, this.retryAt - performance.now());
    return describeError(error, retryInMs);
  }

  private tick(): void {
    if (this.retryAt !== null) this.renderChannel();
    this.device.tick(KIOSK.tickMs / 1000);
  }

  /** Open: a running app opens at once; any other is started first, its progress shown here, then opened. */
  private open(app: AppView): void {
    const card = this.cards.get(app.name);
    if (!card) return;
    if (app.state === 'running') {
      this.page.show(app);
      return;
    }
    for (const other of this.cards.values()) if (other !== card && other.waitingToOpen) other.setPendingOpen(false);
    card.say('');
    card.setPendingOpen(true);
    this.announce(`Opening ${app.name} as soon as it is ready.`);
    clearTimeout(this.openTimer);
    // If it takes very long, go anyway: the agent holds the connection until the app answers.
    this.openTimer = setTimeout(() => {
      if (!card.waitingToOpen) return;
      card.setPendingOpen(false);
      this.page.show(app);
    }, KIOSK.openWaitMs);
    postAction(app.name, 'start').catch((err: unknown) => {
      // 409: already on its way (downloading or starting); the events say when it runs.
      if (err instanceof ApiCallError && err.status === 409) return;
      card.setPendingOpen(false);
      clearTimeout(this.openTimer);
      card.say(this.refusal(app, 'open', err));
    });
  }

  private continueOpen(card: AppCard, app: AppView): void {
    if (app.state === 'running') {
      card.setPendingOpen(false);
      clearTimeout(this.openTimer);
      this.page.show(app);
    } else if (app.state === 'failed') {
      card.setPendingOpen(false);
      clearTimeout(this.openTimer);
    }
  }

  private async act(app: AppView, action: Action, pressed: KioskAction): Promise<void> {
    const card = this.cards.get(app.name);
    if (!card) return;
    card.say('');
    card.setBusy(action);
    try {
      await postAction(app.name, action);
    } catch (err) {
      card.say(this.refusal(app, pressed, err));
    } finally {
      card.setBusy(null);
    }
  }

  private refusal(app: AppView, pressed: KioskAction, err: unknown): string {
    return err instanceof ApiCallError ? refusalSentence(app.name, pressed, err.status, err.error) : refusalSentence(app.name, pressed, 500, null);
  }

  private announce(text: string): void {
    // Clearing first makes screen readers repeat a message that happens to equal the previous one.
    this.announcer.textContent = '';
    setTimeout(() => (this.announcer.textContent = text), 50);
  }

}

/**
 * When the agent retries, as a performance.now() time. `retryInMs` counts from `checkedAt`; the agent's clock is
 * trusted only when it agrees with ours (the kiosk may run on another machine), else the count starts on receipt.
 */
function retryDeadline(retryInMs: number | null, checkedAt: string | null): number | null {
  if (retryInMs === null) return null;
  const checked = checkedAt ? Date.parse(checkedAt) : Number.NaN;
  const leftMs = Number.isNaN(checked) ? retryInMs : checked + retryInMs - Date.now();
  return performance.now() + (leftMs >= 0 && leftMs <= retryInMs ? leftMs : retryInMs);
}

new Kiosk().start();
