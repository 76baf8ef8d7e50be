/**
 * X.509 issuing for `certs`: an ECDSA P-256 CA and leaf certificates it signs, as PEM. Node's
 * crypto makes keys and verifies certificates but cannot issue them; @peculiar/x509 builds the
 * certificate over WebCrypto (it needs the reflect-metadata polyfill, loaded only here).
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];

x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);

/** A certificate and its private key, both PEM. */
export interface IssuedPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A CA able to sign: its certificate and its private key as a WebCrypto key. */
export interface SigningCa {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly pem: IssuedPem;
}

/** What a leaf certificate is for and whom it names. */
export interface LeafRequest {
  readonly commonName: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** server: TLS server and client (members serve clients and call peers); client: client only. */
  readonly usage: 'server' | 'client';
  readonly days: number;
}

function serial(): string {
  // Positive, 16 random bytes (RFC 5280 allows up to 20).
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // A little back-dating so a member whose clock is a minute behind accepts a fresh certificate.
  const now = Date.now();
  return { notBefore: new Date(now - 5 * 60_000), notAfter: new Date(now + days * DAY_MS) };
}

async function keyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

/** A new self-signed CA (pathlen 0: it signs leaf certificates only). */
export async function createCa(commonName: string, days: number): Promise<SigningCa> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    ...validity(days),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert,
    key: keys.privateKey,
    pem: { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) },
  };
}

/** A CA read back from PEM files written earlier (to issue new leaves under the same CA). */
export async function loadCa(certPem: string, keyPemText: string): Promise<SigningCa> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPemText);
  const key = await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign']);
  return { cert, key, pem: { certPem, keyPem: keyPemText } };
}

/** A leaf certificate signed by `ca`, never valid past the CA itself. */
export async function issueLeaf(ca: SigningCa, request: LeafRequest): Promise<IssuedPem> {
  const keys = await generateKeys();
  const { notBefore, notAfter } = validity(request.days);
  const names = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extended =
    request.usage === 'server'
      ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
      : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [request.commonName] }],
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter: notAfter > ca.cert.notAfter ? ca.cert.notAfter : notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(extended),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}
