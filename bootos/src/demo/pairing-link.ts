// The demo pairs the browser of the person running it: the device prints its one-time pairing code on its console
// (`bootos-agent: pairing code 1234 5678 …`, bootos/src/agent/api/pairing.ts), and a kiosk link carrying it
// (`?pair=12345678`) pairs the browser that opens it, once. The newest code on the console is the current one.
const CODE_LINE = /pairing code (\d{4}) (\d{4})\b/g;

/** The kiosk URL with the newest pairing code of `serialLog`, or null when the console has none yet. */
export function pairingLink(serialLog: string, kioskUrl: string): string | null {
  const codes = [...serialLog.matchAll(CODE_LINE)];
  const last = codes[codes.length - 1];
  if (!last) return null;
  const url = new URL(kioskUrl);
  url.searchParams.set('pair', `${last[1]}${last[2]}`);
  return url.toString();
}
