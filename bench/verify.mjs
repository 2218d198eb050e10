// Ed25519 verification cost on the boot path: node:crypto, per verify of a 4 KiB message.
// Run: node bench/verify.mjs
import { generateKeyPairSync, sign, verify } from 'node:crypto';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const message = Buffer.alloc(4096, 7);
const signature = sign(null, message, privateKey);
const runs = 2000;
const started = process.hrtime.bigint();
for (let i = 0; i < runs; i++) verify(null, message, publicKey, signature);
const ms = Number(process.hrtime.bigint() - started) / 1e6 / runs;
console.log('| library | ms per verify |\n| --- | --- |');
console.log(`| node:crypto | ${ms.toFixed(3)} |`);
