// images/profiles.yaml: which apps each kind of device gets. Signed into the channel by `bootos channel sign`.
import { readYamlFile } from '../core/yaml-file.js';
import { BootosError, errnoCode } from '../core/error.js';
import { IMAGE_NAME, Reader } from '../core/guard.js';
import { checkOneDisplay, type ProfileApp } from './trust-docs.js';

export type Profiles = Record<string, (string | ProfileApp)[]>;

export async function loadProfiles(file: string): Promise<Profiles> {
  const doc = await readYamlFile(file, 'the profiles file lists the apps of each device profile');
  const r = new Reader('SCHEMA_INVALID', file);
  const top = r.object(doc, '', ['profiles']);
  const profiles = r.required(top, 'profiles', '', (v, p) => r.object(v, p));
  const result: Profiles = {};
  for (const [name, list] of Object.entries(profiles)) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) r.fail(`profiles.${name}`, 'a profile name is lowercase letters, digits and -');
    const seen = new Set<string>();
    result[name] = r.array(list, `profiles.${name}`).map((item, i) => {
      const path = `profiles.${name}[${i}]`;
      let app: string | ProfileApp;
      if (typeof item === 'string') {
        app = r.string(item, path, IMAGE_NAME, 'expected an image name');
      } else {
        const o = r.object(item, path, ['image', 'prefetch', 'idle', 'hostNetwork', 'display']);
        const entry: ProfileApp = { image: r.required(o, 'image', path, (v, p) => r.string(v, p, IMAGE_NAME)) };
        const prefetch = r.optional(o, 'prefetch', path, (v, p) => r.boolean(v, p));
        if (prefetch !== undefined) entry.prefetch = prefetch;
        const hostNetwork = r.optional(o, 'hostNetwork', path, (v, p) => r.boolean(v, p));
        if (hostNetwork !== undefined) entry.hostNetwork = hostNetwork;
        // The signer makes this image the device's screen (docs/security.md, "The display app").
        const display = r.optional(o, 'display', path, (v, p) => r.boolean(v, p));
        if (display !== undefined) entry.display = display;
        const idle = r.optional(o, 'idle', path, (v, p) => r.object(v, p, ['after', 'action']));
        if (idle) {
          entry.idle = {
            afterSeconds: r.required(idle, 'after', `${path}.idle`, (v, p) => r.integer(v, p, 0)),
            action: r.required(idle, 'action', `${path}.idle`, (v, p) => r.oneOf(v, p, ['stop', 'freeze'] as const)),
          };
        }
        app = entry;
      }
      const image = typeof app === 'string' ? app : app.image;
      if (seen.has(image)) r.fail(path, `duplicate image name: ${image}`);
      seen.add(image);
      return app;
    });
    checkOneDisplay(r, result[name]!, `profiles.${name}`);
  }
  return result;
}
