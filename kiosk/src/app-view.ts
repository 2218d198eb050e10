// An open app: its page in a frame that fills the screen, under a thin bar whose "← Kiosk" comes back. The browser
// on the device is full screen without chrome (no back button, no address bar), and the agent proxies apps as raw
// TCP (it cannot add a link to their pages), so the way back has to be the kiosk's own page around them.
// The address says which app is open (#app/NAME): a reload keeps it open, and the browser's Back (Alt+←) closes it.
// The frame may not navigate the kiosk itself (no allow-top-navigation in its sandbox). An app whose own headers
// forbid framing (X-Frame-Options, frame-ancestors) shows the browser's refusal there, with the bar still above it.
import type { AppView as App } from './api.js';
import { appUrl } from './app-card.js';
import { byId, setAttr, setText, show } from './dom.js';

const ROUTE = /^#app\/([a-z0-9-]+)$/;

export class AppView {
  private readonly root = byId('app-view');
  private readonly frame = byId<HTMLIFrameElement>('app-frame');
  private readonly name = byId('app-name');
  private readonly back = byId<HTMLAnchorElement>('app-back');
  private known: App[] = [];
  private shown: string | null = null;
  private closed: ((name: string) => void) | null = null;

  constructor() {
    window.addEventListener('hashchange', () => this.route());
    this.back.addEventListener('click', (event) => {
      event.preventDefault();
      this.close();
    });
  }

  /** Called with the app's name when the person came back, to put the focus on that app's card. */
  onClose(listener: (name: string) => void): void {
    this.closed = listener;
  }

  /** The apps of the latest /api/apps: the address may name one that was not known yet (a reload). */
  apps(apps: App[]): void {
    this.known = apps;
    this.route();
  }

  show(app: App): void {
    const hash = `#app/${app.name}`;
    if (location.hash !== hash) {
      location.hash = hash; // a history entry: the browser's Back closes it too
    } else this.route();
  }

  close(): void {
    if (!ROUTE.test(location.hash)) return;
    // Not history.back(): the app's own navigations in its frame are entries of the same joint history, and going
    // back would step the frame back (WPE WebKit showed a blank frame under the bar) instead of closing it.
    history.replaceState(null, '', location.pathname + location.search);
    this.route();
  }

  private route(): void {
    const m = ROUTE.exec(location.hash);
    const app = m ? this.known.find((a) => a.name === m[1] && a.port !== null) : undefined;
    if (!app) {
      if (m && this.known.length === 0) return; // not known yet: wait for /api/apps
      if (this.shown === null) return;
      const name = this.shown;
      this.shown = null;
      // about:blank closes the app's connections, so its idle timer can run.
      this.frame.src = 'about:blank';
      show(this.root, false);
      setAttr(document.body, 'data-view', null);
      document.title = 'bootos';
      this.closed?.(name);
      return;
    }
    if (this.shown === app.name) return;
    this.shown = app.name;
    const url = appUrl(app);
    this.frame.src = url;
    this.frame.title = app.name;
    setText(this.name, app.name);
    show(this.root, true);
    setAttr(document.body, 'data-view', 'app');
    document.title = `${app.name} · bootos`;
    this.frame.focus();
  }
}
