import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/logger.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, destination };
}

describe('logger', () => {
  it('redacts the webhook secret, authorization and cookies in logged headers', () => {
    const c = capture();
    const log = createLogger({ destination: c.destination });
    log.info({ headers: { 'x-nself-plugins-secret': 'hunter2hunter2hunter2', authorization: 'Bearer abc.def', cookie: 'sid=1', 'user-agent': 'hasura' } }, 'incoming');
    log.info({ req: { headers: { 'x-nself-plugins-secret': 'hunter2hunter2hunter2' } } }, 'request');
    const text = c.lines.join('');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('abc.def');
    expect(text).not.toContain('sid=1');
    expect(text).toContain('"user-agent":"hasura"');
    expect(text.match(/\[redacted\]/g)).toHaveLength(4);
  });
});
