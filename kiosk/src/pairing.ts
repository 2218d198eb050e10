// Pairing in the kiosk (docs/api.md "Pairing"). On the device's own screen: the current code and how many browsers
// are paired, with a button that ends every pairing. In a browser elsewhere that is not paired: a banner that says it
// can look but not change anything, and a field for the code; a link that carries `?pair=CODE` (what `bootos demo`
// prints) pairs at once. A paired browser sees until when.
import { ApiCallError, fetchPairing, pairWith, revokePairings, type PairingView } from './api.js';
import { byId, h, setText, show } from './dom.js';
import { describeError } from './messages.js';

const REFRESH_MS = 5000;

export class PairingPanel {
  private readonly banner = byId('pairing-banner');
  private readonly form = byId<HTMLFormElement>('pairing-form');
  private readonly input = byId<HTMLInputElement>('pairing-code');
  private readonly message = byId('pairing-message');
  private readonly panel = byId('pairing');
  private view: PairingView = { role: 'visitor' };

  constructor(private readonly changed: (view: PairingView) => void) {}

  async start(): Promise<void> {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.pair(this.input.value);
    });
    const fromLink = new URL(location.href).searchParams.get('pair');
    if (fromLink) {
      // The code is used up either way: drop it from the address bar (and from the history).
      const url = new URL(location.href);
      url.searchParams.delete('pair');
      history.replaceState(null, '', url);
      await this.pair(fromLink);
    } else {
      await this.refresh();
    }
    setInterval(() => void this.refresh(), REFRESH_MS);
  }

  get role(): PairingView['role'] {
    return this.view.role;
  }

  private async pair(code: string): Promise<void> {
    setText(this.message, 'Pairing…');
    try {
      await pairWith(code);
      this.input.value = '';
      setText(this.message, '');
    } catch (err) {
      setText(this.message, err instanceof ApiCallError ? describeError(err.error) : 'Could not reach the device.');
    }
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    try {
      this.render(await fetchPairing());
    } catch {
      // The connection banner says so; keep what is shown.
    }
  }

  private render(view: PairingView): void {
    const before = this.view.role;
    this.view = view;
    show(this.banner, view.role === 'visitor');
    show(this.panel, view.role !== 'visitor');
    this.panel.replaceChildren(h('h2', { id: 'pairing-title' }, 'Pairing'), ...this.panelBody(view));
    if (before !== view.role) this.changed(view);
  }

  private panelBody(view: PairingView): (Node | string)[] {
    if (view.role === 'paired') {
      const until = new Date(view.sessionExpiresAt);
      return [h('p', { class: 'muted' }, `This browser is paired with the device until ${Number.isNaN(until.getTime()) ? 'it ends' : until.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })}.`)];
    }
    if (view.role !== 'device') return [];
    const revoke = h('button', { type: 'button', class: 'button', id: 'pairing-revoke' }, 'End all pairings');
    revoke.disabled = view.sessions === 0;
    revoke.addEventListener('click', () => void revokePairings().then(() => this.refresh()));
    return [
      h('p', {}, 'To use this device from another browser, enter this code there:'),
      h('p', { class: 'pairing-code', id: 'pairing-shown-code' }, view.code),
      h('p', { class: 'muted' }, view.sessions === 1 ? '1 browser is paired.' : `${view.sessions} browsers are paired.`),
      revoke,
    ];
  }
}
