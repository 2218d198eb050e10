// The device identity's crypto: node:crypto against tweetnacl (the library the design first named for sealed boxes),
// per operation: Ed25519 key generation, sign and verify of a 512-byte message (an enrolment request or a small
// devices document), X25519 key generation and one shared-secret derivation (what unsealing a content key costs).
// tweetnacl is not a dependency: it is measured only when it can be resolved, e.g. after
//   npm install --prefix /tmp/nacl-bench tweetnacl && NODE_PATH=/tmp/nacl-bench/node_modules node bench/identity-crypto.mjs
// Run: node bench/identity-crypto.mjs [--runs N]
import { createPublicKey, diffieHellman, generateKeyPairSync, sign, verify } from 'node:crypto';
import { createRequire } from 'node:module';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 2000;
const message = Buffer.alloc(512, 7);

function time(fn, runs = RUNS) {
  for (let i = 0; i < Math.min(50, runs); i++) fn(i); // warm-up
  const started = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / 1e6 / runs;
}

const rows = [];
{
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signature = sign(null, message, privateKey);
  const x = generateKeyPairSync('x25519');
  const peer = generateKeyPairSync('x25519').publicKey;
  rows.push(['node:crypto', {
    'ed25519 keygen': time(() => generateKeyPairSync('ed25519')),
    'ed25519 sign': time(() => sign(null, message, privateKey)),
    'ed25519 verify': time(() => verify(null, message, publicKey, signature)),
    'x25519 keygen': time(() => generateKeyPairSync('x25519')),
    'x25519 derive': time(() => diffieHellman({ privateKey: x.privateKey, publicKey: peer })),
    // What the agent does per document: the raw key bytes to a KeyObject (JWK import), then verify.
    'ed25519 import + verify': time(() => verify(null, message, createPublicKey({ key: publicKey.export({ format: 'jwk' }), format: 'jwk' }), signature)),
  }]);
}

let nacl = null;
try {
  nacl = createRequire(`${process.cwd()}/`)('tweetnacl');
} catch {
  // not installed: only node:crypto is measured
}
if (nacl) {
  const runs = Math.max(20, Math.floor(RUNS / 20));
  const pair = nacl.sign.keyPair();
  const signature = nacl.sign.detached(message, pair.secretKey);
  const box = nacl.box.keyPair();
  const peer = nacl.box.keyPair().publicKey;
  rows.push(['tweetnacl 1.0.3', {
    'ed25519 keygen': time(() => nacl.sign.keyPair(), runs),
    'ed25519 sign': time(() => nacl.sign.detached(message, pair.secretKey), runs),
    'ed25519 verify': time(() => nacl.sign.detached.verify(message, signature, pair.publicKey), runs),
    'x25519 keygen': time(() => nacl.box.keyPair(), runs),
    'x25519 derive': time(() => nacl.scalarMult(box.secretKey, peer), runs),
    'ed25519 import + verify': NaN,
  }]);
}

const ops = Object.keys(rows[0][1]);
console.log(`| operation (ms each, ${process.version}) | ${rows.map(([name]) => name).join(' | ')} |`);
console.log(`| --- | ${rows.map(() => '---').join(' | ')} |`);
for (const op of ops) console.log(`| ${op} | ${rows.map(([, r]) => (Number.isNaN(r[op]) ? '–' : r[op].toFixed(3))).join(' | ')} |`);
