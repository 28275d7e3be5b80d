/**
 * `/hooks/email/…`: the unsubscribe page and its one-click POST (RFC 8058), and the providers' event webhooks.
 * Each route authenticates its caller by the caller's own scheme (signed link, provider signature).
 */
import express, { type Router } from 'express';
import type { PluginRuntime } from '../../../core/plugin.js';
import type { EmailConfig } from '../config.js';
import { applyEvents } from './tracking.js';
import { unsubscribeKey, verifyUnsubscribe, type UnsubscribeClaim } from './unsubscribe.js';
import { resendEvents, sendgridEvents, sendgridKey, verifyResend, verifySendgrid, WebhookAuthError } from './webhooks.js';

const WEBHOOK_LIMIT = '5mb';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:480px;margin:64px auto;padding:0 16px;color:#1f2328"><h1 style="font-size:20px">${escapeHtml(title)}</h1>${body}</body></html>`;
}

/** `a***@example.com`: enough for the reader to recognise the address, not enough to harvest it. */
function masked(address: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, Math.min(1, at))}***${address.slice(at)}`;
}

export function emailRoutes(router: Router, runtime: PluginRuntime<EmailConfig>): void {
  const config = runtime.config;
  const key = unsubscribeKey(config.EMAIL_UNSUBSCRIBE_SECRET, runtime.core.NSELF_PLUGINS_WEBHOOK_SECRET ?? '');
  const send = (res: express.Response, status: number, html: string) => {
    res.status(status).set({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-robots-tag': 'noindex', 'referrer-policy': 'no-referrer' }).send(html);
  };
  const claimOf = (req: express.Request): UnsubscribeClaim | null => verifyUnsubscribe(key, req.query.t);

  // GET only asks: link scanners and previews fetch links, and must not unsubscribe anyone.
  router.get('/unsubscribe', (req, res) => {
    const claim = claimOf(req);
    if (!claim) return send(res, 400, page('Invalid link', '<p>This unsubscribe link is not valid.</p>'));
    const action = `?t=${encodeURIComponent(String(req.query.t))}`;
    send(res, 200, page('Unsubscribe', `<p>Stop sending <b>${escapeHtml(claim.category)}</b> emails to ${escapeHtml(masked(claim.address))}?</p>
<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`));
  });

  router.post('/unsubscribe', async (req, res, next) => {
    try {
      const claim = claimOf(req);
      if (!claim) return send(res, 400, page('Invalid link', '<p>This unsubscribe link is not valid.</p>'));
      await runtime.db.query(
        `insert into email.suppression (address, scope, reason, source, message_id)
         values ($1, $2, 'unsubscribe', 'link', case when $3 ~* '^[0-9a-f-]{36}$' then $3::uuid end)
         on conflict (address, scope) do nothing`,
        [claim.address, claim.category, claim.messageId],
      );
      send(res, 200, page('Unsubscribed', `<p>${escapeHtml(masked(claim.address))} will get no more <b>${escapeHtml(claim.category)}</b> emails.</p>`));
    } catch (e) {
      next(e);
    }
  });

  const raw = express.raw({ type: () => true, limit: WEBHOOK_LIMIT });
  const webhook =
    (verifyAndParse: (req: express.Request, body: Buffer) => ReturnType<typeof sendgridEvents> | Promise<ReturnType<typeof sendgridEvents>>) =>
    async (req: express.Request, res: express.Response, next: express.NextFunction) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let events;
      try {
        events = await verifyAndParse(req, body);
      } catch (e) {
        if (e instanceof WebhookAuthError) {
          res.status(401).json({ message: e.message, extensions: { code: 'email/invalid-signature' } });
          return;
        }
        res.status(400).json({ message: (e as Error).message, extensions: { code: 'email/invalid-event' } });
        return;
      }
      try {
        const result = await applyEvents(runtime.db, events);
        res.json(result);
      } catch (e) {
        next(e);
      }
    };
  const parseJson = (body: Buffer) => {
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new TypeError('the body is not JSON');
    }
  };

  const sgKey = config.EMAIL_SENDGRID_WEBHOOK_PUBLIC_KEY ? sendgridKey(config.EMAIL_SENDGRID_WEBHOOK_PUBLIC_KEY) : null;
  router.post('/sendgrid', (req, res, next) => {
    if (!sgKey) return void res.status(404).json({ message: 'the SendGrid webhook is not configured', extensions: { code: 'not-found' } });
    next();
  }, raw, webhook((req, body) => {
    verifySendgrid(sgKey!, req.headers, body, config.EMAIL_WEBHOOK_TOLERANCE_SECONDS);
    return sendgridEvents(parseJson(body));
  }));

  const resendSecret = config.EMAIL_RESEND_WEBHOOK_SECRET;
  router.post('/resend', (req, res, next) => {
    if (!resendSecret) return void res.status(404).json({ message: 'the Resend webhook is not configured', extensions: { code: 'not-found' } });
    next();
  }, raw, webhook(async (req, body) => {
    await verifyResend(resendSecret!, req.headers, body, config.EMAIL_WEBHOOK_TOLERANCE_SECONDS);
    const id = String(req.headers['svix-id'] ?? req.headers['webhook-id']);
    return resendEvents(id, parseJson(body));
  }));
}
