/**
 * A real SMTP server (smtp-server) as the peer of the SMTP transport: it parses what it receives with
 * mailparser, can refuse recipients with a 550 like a real MTA, and can be stopped and started again on the
 * same port to play an outage.
 */
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface Received {
  envelope: { from: string; to: string[] };
  mail: ParsedMail;
  raw: Buffer;
}

export class SmtpPeer {
  readonly received: Received[] = [];
  /** Addresses refused at RCPT with 550 (a hard bounce). */
  readonly reject = new Set<string>();
  port = 0;
  #server: SMTPServer | undefined;
  /** Called after a message is accepted (before the client gets the 250). */
  onAccept: ((r: Received) => void) | undefined;

  async start(port = 0): Promise<number> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 200,
      size: 30 * 1024 * 1024,
      onRcptTo: (address, _session, cb) => {
        if (this.reject.has(address.address.toLowerCase())) {
          const err = new Error('5.1.1 mailbox unavailable') as Error & { responseCode: number };
          err.responseCode = 550;
          return cb(err);
        }
        cb();
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', async () => {
          const raw = Buffer.concat(chunks);
          const mail = await simpleParser(raw);
          const r = {
            envelope: {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((t) => t.address),
            },
            mail,
            raw,
          };
          this.received.push(r);
          this.onAccept?.(r);
          cb();
        });
      },
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.server.address() as { port: number }).port;
    return this.port;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  byMessageId(id: string): Received[] {
    return this.received.filter((r) => r.mail.messageId?.includes(id));
  }
}
