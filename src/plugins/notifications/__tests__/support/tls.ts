/** A self-signed certificate for 127.0.0.1, made once per test file; its PEM is what the server is told to trust. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';

export interface Tls {
  cert: string;
  key: string;
  /** A file holding the certificate, for NOTIFICATIONS_PUSH_CA_FILE. */
  caFile: string;
}

export async function selfSigned(): Promise<Tls> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    days: 1,
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  } as never);
  const caFile = join(mkdtempSync(join(tmpdir(), 'nself-push-ca-')), 'ca.pem');
  writeFileSync(caFile, pems.cert);
  return { cert: pems.cert, key: pems.private, caFile };
}
