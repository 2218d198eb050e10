// What this file proves: the device identity's certificate is a well-formed self-signed X.509 certificate that Node
// and the openssl tool both read and verify for TLS client use (subject CN = the device id, its key the device's
// Ed25519 key), the same bytes for the same identity; and a peer's certificate gives back the key, hence the id.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeviceIdentity } from '../../bootos/src/agent/identity/identity.js';
import { FileKeyStore } from '../../bootos/src/agent/identity/key-store.js';
import { certificateSignKey, identityCertificate } from '../../bootos/src/agent/identity/certificate.js';
import { deviceIdOf } from '../../fetcher/src/formats/devices-doc.js';
import { testDir } from '../support/registry.js';

test('the identity certificate: self-signed Ed25519, CN = device id, verified by Node and by openssl for client use', async (t) => {
  const dir = await testDir(t);
  // Several identities: the serial (the id's bytes) sometimes starts with a high bit, which DER must pad.
  for (let i = 0; i < 8; i++) {
    const { identity } = await DeviceIdentity.open(new FileKeyStore(join(dir, `identity-${i}.json`)));
    const { cert, key, fingerprint } = identityCertificate(identity);
    const x509 = new X509Certificate(cert);
    t.is(x509.subject, `CN=${identity.id}`);
    t.is(x509.issuer, `CN=${identity.id}`);
    t.is(x509.serialNumber.toLowerCase().replace(/^0+/, ''), identity.id.replace(/^0+/, ''));
    t.true(x509.checkPrivateKey(identity.signPrivateKey));
    t.true(x509.verify(x509.publicKey), 'signed by its own key');
    t.is(x509.fingerprint256.replace(/:/g, '').toLowerCase(), fingerprint);
    t.is(Date.parse(x509.validFrom), Date.parse(identity.created));
    t.regex(x509.validTo, /9999/);
    t.is(identityCertificate(identity).cert, cert, 'the same identity gives the same certificate');
    t.true(key.startsWith('-----BEGIN PRIVATE KEY-----'));
    const signKey = certificateSignKey(x509.raw);
    t.is(signKey && deviceIdOf(signKey), identity.id);
    const file = join(dir, `cert-${i}.pem`);
    await writeFile(file, cert);
    const verdict = execFileSync('openssl', ['verify', '-CAfile', file, '-purpose', 'sslclient', file], { encoding: 'utf8' });
    t.is(verdict.trim(), `${file}: OK`);
  }
  t.is(certificateSignKey(Buffer.from('not a certificate')), null);
});
