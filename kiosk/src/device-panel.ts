// "This device": hostname, processor, memory, storage, network and uptime from /api/device.
import type { DeviceView, OsView } from './api.js';
import { h, setAttr, setText } from './dom.js';
import { formatBytes, formatDuration, percent } from './messages.js';

export class DevicePanel {
  private readonly list: HTMLDListElement;
  private readonly status: HTMLParagraphElement;
  private uptimeSeconds: number | null = null;
  private uptime: HTMLElement | null = null;
  /** "System": the OS version and slot, from /api/apps (kept across renders of /api/device). */
  private readonly system = h('span', {}, '—');

  constructor(private readonly root: HTMLElement) {
    this.list = h('dl', { class: 'facts' });
    this.status = h('p', { class: 'muted' }, 'Reading the device…');
    root.append(this.status, this.list);
  }

  render(device: DeviceView): void {
    setText(this.status, '');
    this.status.hidden = true;
    const rows: [string, Node | string][] = [];
    rows.push(['Name', device.hostname || '—']);
    const cores = device.cpu.cores !== null ? ` · ${device.cpu.cores} ${device.cpu.cores === 1 ? 'core' : 'cores'}` : '';
    rows.push(['Processor', `${device.cpu.brand || 'unknown'}${cores}${device.arch ? ` · ${device.arch}` : ''}`]);
    const { totalBytes, availableBytes } = device.memory;
    if (totalBytes !== null && availableBytes !== null) {
      const used = Math.max(0, totalBytes - availableBytes);
      rows.push(['Memory', meter(`${formatBytes(used)} of ${formatBytes(totalBytes)} in use`, used, totalBytes)]);
    }
    for (const disk of device.disks) {
      const label = disk.sizeBytes > 0 ? `${formatBytes(disk.usedBytes)} of ${formatBytes(disk.sizeBytes)} used` : 'kept in memory';
      const value = disk.sizeBytes > 0 ? meter(label, disk.usedBytes, disk.sizeBytes) : h('span', {}, label);
      value.title = disk.mount;
      rows.push(['Storage', value]);
    }
    const nets = device.network.filter((n) => n.ip4 || n.mac);
    rows.push(['Network', nets.length ? h('span', {}, ...nets.flatMap((n, i) => [i ? h('br') : '', `${n.iface} ${n.ip4 || 'no address'}`])) : 'not connected']);
    this.uptimeSeconds = device.uptimeSeconds;
    this.uptime = h('span', {}, this.uptimeText());
    rows.push(['Up for', this.uptime]);
    rows.push(['bootos', device.bootos.version ? `version ${device.bootos.version}` : '—']);
    rows.push(['System', this.system]);

    this.list.replaceChildren(...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
    setAttr(this.root, 'aria-busy', null);
  }

  /** The OS this device runs: its version and slot, or how it was started. */
  setOs(os: OsView | null): void {
    if (!os) setText(this.system, '—');
    else if (os.bootedFrom === 'other') setText(this.system, 'not started from its own disk, so not updated here');
    else setText(this.system, `version ${os.version ?? '?'} · slot ${os.slot ?? '?'}`);
  }

  unavailable(): void {
    this.status.hidden = false;
    setText(this.status, 'The device details cannot be read right now.');
  }

  tick(seconds: number): void {
    if (this.uptimeSeconds === null || !this.uptime) return;
    this.uptimeSeconds += seconds;
    setText(this.uptime, this.uptimeText());
  }

  private uptimeText(): string {
    return this.uptimeSeconds === null ? '—' : formatDuration(this.uptimeSeconds);
  }
}

function meter(label: string, value: number, max: number): HTMLElement {
  const bar = h('span', { class: 'meter-bar' });
  bar.style.setProperty('width', `${percent(value, max)}%`);
  return h('span', { class: 'meter-wrap' }, label, h('span', { class: 'meter', role: 'img', 'aria-label': `${percent(value, max)} percent` }, bar));
}
