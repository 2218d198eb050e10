// Is this device enrolled? It reads the registry's devices document (devices.json) beside the channel, has Trust
// verify it (the devices role's signatures, rollback, freeze: the channel's checks), and looks for its own id there:
// listed, not revoked, the entry and the document not expired. A conditional GET keeps an unchanged document at one
// round trip; the same bytes are never verified twice. A failure keeps the last verified document and is reported.
import { createHash } from 'node:crypto';
import { agentError, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { RegistrySource } from '../../../../fetcher/src/source/source.js';
import type { Trust } from '../../../../fetcher/src/trust/trust.js';
import { DEVICES_PATH, enrolmentOf, type DevicesDocument } from '../../../../fetcher/src/formats/devices-doc.js';
import type { EnrolmentRequest } from '../../../../fetcher/src/formats/enrolment-request.js';
import type { DeviceIdentity } from './identity.js';
import { identityCertificate } from './certificate.js';

/**
 * What the last check of the devices document found: `ok` (verified), `absent` (the registry has none), `no-role`
 * (the trusted root has no devices role, so no document can be trusted), `error` (refused, or not reached),
 * `unchecked` (not yet: the channel is verified first).
 */
export type DevicesState = 'unchecked' | 'ok' | 'absent' | 'no-role' | 'error';

/** Why a device is not enrolled. */
export type NotEnrolledReason = 'not-listed' | 'revoked' | 'expired' | 'document-expired' | 'no-document';

export interface IdentityView {
  id: string;
  keys: { sign: string; seal: string };
  enrolled: boolean;
  /** From the device's entry, when enrolled. */
  profile?: string;
  groups?: string[];
  expires?: string;
  reason?: NotEnrolledReason;
  devices: { state: DevicesState; version: number | null; checkedAt: string | null; error: { code: ErrorCode; message: string } | null };
  /** What `bootos device enroll` takes. */
  request: EnrolmentRequest;
  /** The identity's self-signed certificate (PEM), for a registry or office cache that pins enrolled devices (mTLS). */
  certificate: string;
}

export interface EnrolmentOptions {
  identity: DeviceIdentity;
  source: RegistrySource;
  trust(): Trust;
  maxDevicesBytes: number;
  about: { hostname?: string; arch?: string };
  now?: () => number;
  step(message: string): void;
  changed(): void;
}

export class Enrolment {
  private doc: DevicesDocument | null = null;
  private etag: string | null = null;
  private lastHash: string | null = null;
  private state: IdentityView['devices'] = { state: 'unchecked', version: null, checkedAt: null, error: null };
  private checking: Promise<void> | null = null;
  private wasEnrolled = false;
  private readonly now: () => number;
  private readonly certificate: string;

  constructor(private readonly options: EnrolmentOptions) {
    this.now = options.now ?? Date.now;
    this.certificate = identityCertificate(options.identity).cert;
  }

  /**
   * The devices document verified before this start, so that a device whose registry is not reachable yet still
   * knows whether it is enrolled; the next check replaces it.
   */
  async loadSaved(): Promise<void> {
    const saved = await this.options.trust().savedDevices();
    if (!saved || this.doc) return;
    this.doc = saved;
    this.state = { ...this.state, version: saved.signed.version };
    this.wasEnrolled = this.view().enrolled;
  }

  /** One check now; concurrent calls share it. Never rejects: a failure is in view().devices. */
  check(): Promise<void> {
    this.checking ??= this.run().finally(() => (this.checking = null));
    return this.checking;
  }

  async settled(): Promise<void> {
    await this.checking;
  }

  private async run(): Promise<void> {
    const { source } = this.options;
    const trust = this.options.trust();
    const checkedAt = new Date(this.now()).toISOString();
    try {
      if (!trust.trustedRoot.signed.roles.devices) {
        this.doc = null;
        this.state = { state: 'no-role', version: null, checkedAt, error: null };
      } else {
        const result = await source.getIfChanged(DEVICES_PATH, this.options.maxDevicesBytes, this.etag);
        if (result.changed && !result.bytes) {
          this.doc = null;
          this.etag = null;
          this.lastHash = null;
          this.state = { state: 'absent', version: null, checkedAt, error: null };
        } else if (result.changed && result.bytes && hash(result.bytes) !== this.lastHash) {
          const doc = await trust.acceptDevices(result.bytes);
          this.doc = doc;
          this.etag = result.etag;
          this.lastHash = hash(result.bytes);
          this.state = { state: 'ok', version: doc.signed.version, checkedAt, error: null };
        } else {
          this.state = { ...this.state, state: this.doc ? 'ok' : this.state.state, checkedAt, error: null };
        }
      }
    } catch (err) {
      const e = agentError(err, 'the devices document');
      this.state = { state: 'error', version: this.doc?.signed.version ?? null, checkedAt, error: { code: e.code, message: e.message } };
      this.options.step(`devices document: ${e.code}: ${e.message}${this.doc ? ` (version ${this.doc.signed.version} stays)` : ''}`);
    }
    const view = this.view();
    if (view.enrolled !== this.wasEnrolled) {
      this.wasEnrolled = view.enrolled;
      this.options.step(view.enrolled ? `device ${view.id} is enrolled${view.profile ? ` (profile ${view.profile})` : ''}` : `device ${view.id} is no longer enrolled (${view.reason})`);
    }
    this.options.changed();
  }

  view(): IdentityView {
    const { identity } = this.options;
    const base = { id: identity.id, keys: { ...identity.keys }, devices: { ...this.state }, request: identity.enrolmentRequest(this.options.about), certificate: this.certificate };
    const now = this.now();
    if (!this.doc) return { ...base, enrolled: false, reason: 'no-document' };
    // Freeze: a document past its expiry proves nothing, even the last one verified.
    if (Date.parse(this.doc.signed.expires) <= now) return { ...base, enrolled: false, reason: 'document-expired' };
    const found = enrolmentOf(this.doc.signed, identity.id, now);
    if (!found.enrolled) return { ...base, enrolled: false, reason: found.reason };
    const { entry } = found;
    return { ...base, enrolled: true, ...(entry.profile ? { profile: entry.profile } : {}), groups: [...entry.groups], expires: entry.expires };
  }
}

function hash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
