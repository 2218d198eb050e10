// Who is at the other end of a loopback TCP connection: the uid that owns the peer's socket, from the kernel's
// socket tables (/proc/net/tcp and tcp6, whose rows name each socket's local and remote address and its owner's
// uid) — the TCP counterpart of SO_PEERCRED. Apps never run as root, so a loopback peer owned by uid 0 is one of
// the device's own programs, and one owned by any other uid may be an app that shares the host's network.
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';

/** "127.0.0.1" / "::ffff:127.0.0.1" / "::1" and a port → the address column of /proc/net/tcp(6) ("0100007F:1F90"). */
export function procNetAddress(address: string, port: number): { file: 'tcp' | 'tcp6'; key: string }[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  const out: { file: 'tcp' | 'tcp6'; key: string }[] = [];
  if (isIPv4(v4)) {
    const le = v4.split('.').reverse().map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0')).join('');
    out.push({ file: 'tcp', key: `${le}:${hexPort}` });
    // An IPv4 peer of a dual-stack listener shows in tcp6 as ::ffff:a.b.c.d (4 words, each in host byte order).
    out.push({ file: 'tcp6', key: `0000000000000000FFFF0000${le}:${hexPort}` });
  } else if (address === '::1') {
    out.push({ file: 'tcp6', key: `00000000000000000000000001000000:${hexPort}` });
  }
  return out;
}

/** The uid owning the socket at `address:port` (the peer of one of our connections), or null when not found. */
export async function socketOwner(address: string, port: number, procNet = '/proc/net'): Promise<number | null> {
  for (const { file, key } of procNetAddress(address, port)) {
    const text = await readFile(`${procNet}/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      if (f[1] === key && f[7] !== undefined) return Number(f[7]);
    }
  }
  return null;
}
