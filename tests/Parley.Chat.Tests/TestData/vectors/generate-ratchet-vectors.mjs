// Known-answer vectors for Parley's X3DH, Double Ratchet, sealed box and passphrase protection, produced by a
// second implementation written from docs/chat.md section 3 and docs/ratchet.md with nothing but node:crypto.
// The C# tests replay ratchet-vectors.json byte for byte; Node is only needed to regenerate it, with the npm package
// hash-wasm for Argon2id (node:crypto has none before Node 24):
//   npm install --no-save --prefix tests/Parley.Chat.Tests/TestData/vectors hash-wasm@4.13.0
//   node tests/Parley.Chat.Tests/TestData/vectors/generate-ratchet-vectors.mjs
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  scryptSync,
} from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { argon2id } from 'hash-wasm';
import { fileURLToPath } from 'node:url';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const utf8 = (text) => Buffer.from(text, 'utf8');
const u32 = (value) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
};

// Every fixed key is SHA-256 of a label, so the vectors can be rebuilt from this file alone.
const fixedSecret = (label) => createHash('sha256').update(`parley-ratchet-vector/${label}`).digest();

// ---- X25519 and Ed25519 from raw bytes, through DER wrappers ----
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

const x25519Private = (raw) => createPrivateKey({ key: Buffer.concat([X25519_PKCS8, raw]), format: 'der', type: 'pkcs8' });
const x25519Public = (raw) => createPublicKey({ key: Buffer.concat([X25519_SPKI, raw]), format: 'der', type: 'spki' });
const rawPublic = (privateKeyObject) => createPublicKey(privateKeyObject).export({ format: 'der', type: 'spki' }).subarray(-32);

function keyPair(label) {
  const priv = fixedSecret(label);
  return { label, priv, pub: rawPublic(x25519Private(priv)) };
}

const dh = (pair, peerPublic) => diffieHellman({ privateKey: x25519Private(pair.priv), publicKey: x25519Public(peerPublic) });

// An account key in libp2p PublicKey protobuf form: KeyType Ed25519 (field 1 = 1), Data (field 2, 32 bytes).
function accountKey(label) {
  const seed = fixedSecret(label);
  const spki = createPublicKey(createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' }))
    .export({ format: 'der', type: 'spki' });
  return { seed, protobuf: Buffer.concat([Buffer.from('08011220', 'hex'), spki.subarray(-32)]) };
}

const hkdf = (ikm, salt, info, length) => Buffer.from(hkdfSync('sha256', ikm, salt, utf8(info), length));
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

function aeadSeal(key, nonce, plaintext, ad) {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  cipher.setAAD(ad, { plaintextLength: plaintext.length });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function aeadOpen(key, nonce, sealed, ad) {
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  decipher.setAAD(ad, { plaintextLength: sealed.length - 16 });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

// ---- X3DH (docs/chat.md section 3) ----
const ZERO32 = Buffer.alloc(32);
const lengthPrefixed = (...parts) => Buffer.concat(parts.flatMap((p) => [u32(p.length), p]));

function x3dhAssociatedData(accountA, identityA, accountB, identityB) {
  return Buffer.concat([utf8('parley-x3dh-ad:'), lengthPrefixed(accountA, identityA, accountB, identityB)]);
}

function x3dhInitiate(alice, bob, ephemeral, useOneTime) {
  const parts = [
    Buffer.alloc(32, 0xff),
    dh(alice.identity, bob.signedPrekey.pub),
    dh(ephemeral, bob.identity.pub),
    dh(ephemeral, bob.signedPrekey.pub),
  ];
  if (useOneTime) parts.push(dh(ephemeral, bob.oneTimePrekey.pub));
  return {
    sharedSecret: hkdf(Buffer.concat(parts), ZERO32, 'Parley_X3DH_v1', 32),
    associatedData: x3dhAssociatedData(alice.account.protobuf, alice.identity.pub, bob.account.protobuf, bob.identity.pub),
  };
}

function x3dhRespond(bob, alice, ephemeralPublic, useOneTime) {
  const parts = [
    Buffer.alloc(32, 0xff),
    dh(bob.signedPrekey, alice.identity.pub),
    dh(bob.identity, ephemeralPublic),
    dh(bob.signedPrekey, ephemeralPublic),
  ];
  if (useOneTime) parts.push(dh(bob.oneTimePrekey, ephemeralPublic));
  return hkdf(Buffer.concat(parts), ZERO32, 'Parley_X3DH_v1', 32);
}

// ---- Double Ratchet (Signal's specification, Parley's KDFs and header) ----
const MAX_SKIP = 1000;
const HEADER_VERSION = 1;

function kdfRk(rootKey, dhOutput) {
  const out = hkdf(dhOutput, rootKey, 'Parley_Ratchet_v1', 64);
  return [out.subarray(0, 32), out.subarray(32)];
}

const kdfCk = (chainKey) => [hmac(chainKey, Buffer.from([0x02])), hmac(chainKey, Buffer.from([0x01]))];

function encodeHeader(ratchetPublic, pn, n) {
  return Buffer.concat([Buffer.from([HEADER_VERSION]), ratchetPublic, u32(pn), u32(n)]);
}

function decodeHeader(header) {
  if (header.length !== 41 || header[0] !== HEADER_VERSION) throw new Error('bad header');
  return { dh: header.subarray(1, 33), pn: header.readUInt32BE(33), n: header.readUInt32BE(37) };
}

function messageKeyMaterial(mk) {
  const out = hkdf(mk, ZERO32, 'Parley_MessageKey_v1', 44);
  return { key: out.subarray(0, 32), nonce: out.subarray(32) };
}

class Party {
  constructor(name, nextRatchetKey) {
    this.name = name;
    this.nextRatchetKey = nextRatchetKey;
    this.skipped = new Map();
  }

  static initiator(name, sk, ad, bobRatchetPublic, nextRatchetKey) {
    const p = new Party(name, nextRatchetKey);
    p.ad = ad;
    p.dhs = nextRatchetKey();
    p.dhr = bobRatchetPublic;
    [p.rk, p.cks] = kdfRk(sk, dh(p.dhs, p.dhr));
    p.ckr = null;
    p.ns = 0;
    p.nr = 0;
    p.pn = 0;
    return p;
  }

  static responder(name, sk, ad, ownRatchetPair, nextRatchetKey) {
    const p = new Party(name, nextRatchetKey);
    p.ad = ad;
    p.dhs = ownRatchetPair;
    p.dhr = null;
    p.rk = sk;
    p.cks = null;
    p.ckr = null;
    p.ns = 0;
    p.nr = 0;
    p.pn = 0;
    return p;
  }

  encrypt(plaintext) {
    let mk;
    [this.cks, mk] = kdfCk(this.cks);
    const header = encodeHeader(this.dhs.pub, this.pn, this.ns);
    this.ns += 1;
    const { key, nonce } = messageKeyMaterial(mk);
    return { header, ciphertext: aeadSeal(key, nonce, plaintext, Buffer.concat([this.ad, header])), messageKey: mk, key, nonce };
  }

  decrypt(header, ciphertext) {
    const h = decodeHeader(header);
    const id = `${hex(h.dh)}:${h.n}`;
    if (this.skipped.has(id)) {
      const mk = this.skipped.get(id);
      this.skipped.delete(id);
      return this.open(mk, header, ciphertext);
    }
    if (this.dhr === null || !h.dh.equals(this.dhr)) {
      this.skip(h.pn);
      this.dhRatchet(h);
    }
    this.skip(h.n);
    let mk;
    [this.ckr, mk] = kdfCk(this.ckr);
    this.nr += 1;
    return this.open(mk, header, ciphertext);
  }

  open(mk, header, ciphertext) {
    const { key, nonce } = messageKeyMaterial(mk);
    return aeadOpen(key, nonce, ciphertext, Buffer.concat([this.ad, header]));
  }

  skip(until) {
    if (this.nr + MAX_SKIP < until) throw new Error('too many skipped');
    if (this.ckr === null) return;
    while (this.nr < until) {
      let mk;
      [this.ckr, mk] = kdfCk(this.ckr);
      this.skipped.set(`${hex(this.dhr)}:${this.nr}`, mk);
      this.nr += 1;
    }
  }

  dhRatchet(h) {
    this.pn = this.ns;
    this.ns = 0;
    this.nr = 0;
    this.dhr = Buffer.from(h.dh);
    [this.rk, this.ckr] = kdfRk(this.rk, dh(this.dhs, this.dhr));
    this.dhs = this.nextRatchetKey();
    [this.rk, this.cks] = kdfRk(this.rk, dh(this.dhs, this.dhr));
  }

  snapshot() {
    return {
      rootKey: hex(this.rk),
      ratchetPublicKey: hex(this.dhs.pub),
      remoteRatchetKey: this.dhr === null ? '' : hex(this.dhr),
      sendingChainKey: this.cks === null ? '' : hex(this.cks),
      receivingChainKey: this.ckr === null ? '' : hex(this.ckr),
      sendingIndex: this.ns,
      receivingIndex: this.nr,
      previousSendingCount: this.pn,
      skippedKeyCount: this.skipped.size,
    };
  }
}

// ---- Fixed parties ----
const alice = { account: accountKey('alice-account'), identity: keyPair('alice-identity') };
const bob = {
  account: accountKey('bob-account'),
  identity: keyPair('bob-identity'),
  signedPrekey: keyPair('bob-signed-prekey'),
  oneTimePrekey: keyPair('bob-one-time-prekey'),
};

const describePair = (pair) => ({ privateKey: hex(pair.priv), publicKey: hex(pair.pub) });

function x3dhCase(name, useOneTime) {
  const ephemeral = keyPair(`alice-ephemeral-${name}`);
  const initiation = x3dhInitiate(alice, bob, ephemeral, useOneTime);
  const responderSecret = x3dhRespond(bob, alice, ephemeral.pub, useOneTime);
  if (!responderSecret.equals(initiation.sharedSecret)) throw new Error('X3DH sides disagree');
  return {
    name,
    aliceAccountKey: hex(alice.account.protobuf),
    aliceIdentity: describePair(alice.identity),
    aliceEphemeral: describePair(ephemeral),
    bobAccountKey: hex(bob.account.protobuf),
    bobIdentity: describePair(bob.identity),
    bobSignedPrekey: describePair(bob.signedPrekey),
    bobOneTimePrekey: useOneTime ? describePair(bob.oneTimePrekey) : null,
    sharedSecret: hex(initiation.sharedSecret),
    associatedData: hex(initiation.associatedData),
    _x3dh: initiation,
  };
}

const withOpk = x3dhCase('with-one-time-prekey', true);
const withoutOpk = x3dhCase('without-one-time-prekey', false);

// ---- The scripted conversation, on the X3DH result with a one-time prekey ----
function keySequence(name) {
  const used = [];
  let index = 0;
  const next = () => {
    const pair = keyPair(`${name}-ratchet-${index++}`);
    used.push(pair);
    return pair;
  };
  return { next, used };
}

const aliceKeys = keySequence('alice');
const bobKeys = keySequence('bob');
const sk = withOpk._x3dh.sharedSecret;
const ad = withOpk._x3dh.associatedData;
const parties = {
  alice: Party.initiator('alice', sk, ad, bob.signedPrekey.pub, aliceKeys.next),
  bob: Party.responder('bob', sk, ad, bob.signedPrekey, bobKeys.next),
};

const texts = {
  a1: 'a1: hello Bob',
  a2: 'a2: second, delivered third',
  a3: 'a3: third, delivered second',
  b1: 'b1: hi Alice, delivered after b2',
  b2: 'b2: second reply',
  a4: 'a4: new chain, delivered after a5',
  a5: 'a5: new chain',
  b3: 'b3: never delivered',
  b4: 'b4: delivered after b5',
  b5: 'b5: delivered first of this chain',
  a6: 'a6: before a ratchet',
  a7: 'a7: delayed past a DH ratchet',
  b6: 'b6: ',
  a8: 'a8: announces PN = 2 for a7',
  b7: '',
  a9: 'x'.repeat(1024),
};

// [op, party, message]: encrypt by the sender, or deliver (decrypt) at the receiver.
const script = [
  ['encrypt', 'alice', 'a1'], ['encrypt', 'alice', 'a2'], ['encrypt', 'alice', 'a3'],
  ['decrypt', 'bob', 'a1'], ['decrypt', 'bob', 'a3'], ['decrypt', 'bob', 'a2'],
  ['encrypt', 'bob', 'b1'], ['encrypt', 'bob', 'b2'],
  ['decrypt', 'alice', 'b2'], ['decrypt', 'alice', 'b1'],
  ['encrypt', 'alice', 'a4'], ['encrypt', 'alice', 'a5'],
  ['decrypt', 'bob', 'a5'], ['decrypt', 'bob', 'a4'],
  ['encrypt', 'bob', 'b3'], ['encrypt', 'bob', 'b4'], ['encrypt', 'bob', 'b5'],
  ['decrypt', 'alice', 'b5'], ['decrypt', 'alice', 'b4'],
  ['encrypt', 'alice', 'a6'], ['encrypt', 'alice', 'a7'],
  ['decrypt', 'bob', 'a6'],
  ['encrypt', 'bob', 'b6'],
  ['decrypt', 'alice', 'b6'],
  ['encrypt', 'alice', 'a8'],
  ['decrypt', 'bob', 'a8'], ['decrypt', 'bob', 'a7'],
  ['encrypt', 'bob', 'b7'],
  ['decrypt', 'alice', 'b7'],
  ['encrypt', 'alice', 'a9'],
  ['decrypt', 'bob', 'a9'],
];

const sent = new Map();
const steps = script.map(([op, party, id]) => {
  const session = parties[party];
  const step = { op, party, message: id };
  if (op === 'encrypt') {
    const plaintext = utf8(texts[id]);
    const { header, ciphertext, messageKey, key, nonce } = session.encrypt(plaintext);
    sent.set(id, { header, ciphertext, plaintext });
    Object.assign(step, {
      plaintext: hex(plaintext),
      messageKey: hex(messageKey),
      aeadKey: hex(key),
      aeadNonce: hex(nonce),
      header: hex(header),
      ciphertext: hex(ciphertext),
    });
  } else {
    const message = sent.get(id);
    const plaintext = session.decrypt(message.header, message.ciphertext);
    if (!plaintext.equals(message.plaintext)) throw new Error(`${id} decrypted wrongly`);
    step.plaintext = hex(plaintext);
  }
  step.stateAfter = session.snapshot();
  return step;
});
if (parties.alice.skipped.size !== 1 || parties.bob.skipped.size !== 0) throw new Error('unexpected skipped keys at the end');

// ---- Sealed box to Bob's identity DH key ----
function sealedBoxCase() {
  const ephemeral = keyPair('sealed-box-ephemeral');
  const plaintext = utf8('sealed for Bob: sender certificate and ratchet payload go here');
  const version = Buffer.from([1]);
  const okm = hkdf(dh(ephemeral, bob.identity.pub), Buffer.concat([ephemeral.pub, bob.identity.pub]), 'Parley_Sealed_v1', 44);
  const sealed = Buffer.concat([version, ephemeral.pub, aeadSeal(okm.subarray(0, 32), okm.subarray(32), plaintext, version)]);
  return {
    recipientIdentity: describePair(bob.identity),
    ephemeral: describePair(ephemeral),
    plaintext: hex(plaintext),
    aeadKey: hex(okm.subarray(0, 32)),
    aeadNonce: hex(okm.subarray(32)),
    sealed: hex(sealed),
  };
}

// ---- Passphrase protection, at a low scrypt cost ----
function passphraseCase() {
  const passphrase = 'correct horse battery staple \u00e9';
  const logN = 10;
  const r = 8;
  const p = 1;
  const salt = fixedSecret('passphrase-salt').subarray(0, 16);
  const nonce = fixedSecret('passphrase-nonce').subarray(0, 12);
  const secret = fixedSecret('passphrase-secret');
  const key = scryptSync(utf8(passphrase), salt, 32, { N: 2 ** logN, r, p });
  const header = Buffer.concat([utf8('PLPK'), Buffer.from([1, logN, r, p]), salt, nonce]);
  return {
    passphrase,
    logN,
    r,
    p,
    salt: hex(salt),
    nonce: hex(nonce),
    secret: hex(secret),
    derivedKey: hex(key),
    protected: hex(Buffer.concat([header, aeadSeal(key, nonce, secret, header)])),
  };
}

// ---- Passphrase protection, version 2 (Argon2id), at a low cost ----
async function passphraseArgon2idCase() {
  const passphrase = 'correct horse battery staple \u00e9';
  const logMemoryKib = 5;
  const passes = 2;
  const salt = fixedSecret('passphrase-argon2id-salt').subarray(0, 16);
  const nonce = fixedSecret('passphrase-argon2id-nonce').subarray(0, 12);
  const secret = fixedSecret('passphrase-secret');
  const key = Buffer.from(await argon2id({
    password: utf8(passphrase), salt, parallelism: 1, iterations: passes, memorySize: 2 ** logMemoryKib, hashLength: 32, outputType: 'binary',
  }));
  const header = Buffer.concat([utf8('PLPK'), Buffer.from([2, logMemoryKib, passes, 1]), salt, nonce]);
  return {
    passphrase,
    memoryKib: 2 ** logMemoryKib,
    passes,
    salt: hex(salt),
    nonce: hex(nonce),
    secret: hex(secret),
    derivedKey: hex(key),
    protected: hex(Buffer.concat([header, aeadSeal(key, nonce, secret, header)])),
  };
}

const strip = ({ _x3dh, ...rest }) => rest;
const vectors = {
  description: 'Generated by generate-ratchet-vectors.mjs (node:crypto only); every private key is SHA-256("parley-ratchet-vector/" + label).',
  x3dh: [strip(withOpk), strip(withoutOpk)],
  conversation: {
    x3dh: withOpk.name,
    aliceRatchetKeys: aliceKeys.used.map(describePair),
    bobRatchetKeys: bobKeys.used.map(describePair),
    steps,
  },
  sealedBox: sealedBoxCase(),
  passphrase: passphraseCase(),
  passphraseArgon2id: await passphraseArgon2idCase(),
};

const out = fileURLToPath(new URL('./ratchet-vectors.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${out}: ${steps.length} conversation steps`);
