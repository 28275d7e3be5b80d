import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const stripe = program.command('stripe').description('The stripe plugin: its webhook endpoint in Stripe');
  const webhooks = stripe.command('webhooks').description('Stripe webhook endpoints');
  webhooks
    .command('ensure')
    .description('Create the Stripe webhook endpoint for this installation, or update its URL and event types')
    .option('--url <url>', 'public URL Stripe posts to (default STRIPE_WEBHOOK_URL, else PUBLIC_URL + /hooks/stripe/webhook)')
    .action(async (opts: { url?: string }) => {
      const { stripeConfig } = await import('../../plugins/stripe/config.js');
      const { createStripeClient } = await import('../../plugins/stripe/lib/client.js');
      const { ensureWebhookEndpoint } = await import('../../plugins/stripe/lib/endpoint.js');
      const parsed = stripeConfig.safeParse(ctx.env);
      if (!parsed.success) throw new CliError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const client = await createStripeClient(parsed.data);
      if (!client) throw new CliError('STRIPE_SECRET_KEY is not set');
      const publicUrl = (ctx.env.PUBLIC_URL ?? '').replace(/\/+$/, '');
      const url = opts.url ?? parsed.data.STRIPE_WEBHOOK_URL ?? (publicUrl ? `${publicUrl}/hooks/stripe/webhook` : undefined);
      if (!url) throw new CliError('give --url, or set STRIPE_WEBHOOK_URL or PUBLIC_URL');
      if (!/^https?:\/\//.test(url)) throw new CliError(`--url must be an http(s) URL, got ${url}`);
      const r = await ensureWebhookEndpoint(client, url);
      ctx.out(`${r.action} webhook endpoint ${r.id} for ${url} (${r.events} event types)`);
      if (r.secret) ctx.out(`set STRIPE_WEBHOOK_SECRET=${r.secret} (Stripe shows it only now)`);
    });
}
