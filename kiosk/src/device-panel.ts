// "This device": hostname, processor, memory, storage, network and uptime from /api/device, and its identity: the
// device id, whether it is enrolled, and (when it is not) the enrolment request to copy for the administrator.
import type { DeviceView, IdentityView, OsView } from './api.js';
import { h, setAttr, setText } from './dom.js';
import { describeError, formatBytes, formatDuration, notEnrolledText, percent } from './messages.js';

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
    if (device.identity) rows.push(['Device id', h('code', { class: 'device-id' }, device.identity.id)], ['Enrolled', enrolment(device.identity)]);
    else if (device.identityError) rows.push(['Device id', h('span', {}, describeError(device.identityError))]);

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

function enrolment(identity: IdentityView): HTMLElement {
  if (identity.enrolled) {
    const about = [identity.profile && `profile ${identity.profile}`, identity.groups.length && `groups ${identity.groups.join(', ')}`].filter(Boolean).join(' · ');
    return h('span', {}, `Yes${about ? ` · ${about}` : ''}`);
  }
  const out = h('span', {}, notEnrolledText(identity.reason, identity.devicesState));
  if (identity.devicesError) out.append(h('br'), describeError(identity.devicesError));
  if (identity.request) {
    const text = h('textarea', { class: 'log enrolment-request', readonly: true, rows: '4', 'aria-label': 'Enrolment request', spellcheck: 'false' });
    text.value = identity.request;
    out.append(h('details', { class: 'logs' }, h('summary', {}, 'Enrolment request'), text));
  }
  return out;
}

function meter(label: string, value: number, max: number): HTMLElement {
  const bar = h('span', { class: 'meter-bar' });
  bar.style.setProperty('width', `${percent(value, max)}%`);
  return h('span', { class: 'meter-wrap' }, label, h('span', { class: 'meter', role: 'img', 'aria-label': `${percent(value, max)} percent` }, bar));
}
