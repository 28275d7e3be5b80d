/**
 * The React hooks render on a server: importing and rendering every hook touches no browser API and opens no
 * connection (effects do not run there), and a hook outside `NselfProvider` says what is missing.
 */
import { describe, expect, it } from '@jest/globals';
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { createNselfClient, oauthSession } from '../../src/client/index.js';
import { NselfProvider, OAuthButton, useFileUpload, useJobStats, useNotifications, useOAuth, usePresence, useRealtime, useSearch, useTyping } from '../../src/react/index.js';

function Everything() {
  const rt = useRealtime();
  const typing = useTyping('channel:x');
  const presence = usePresence('channel:x', { heartbeat: true });
  const up = useFileUpload({ maxSize: '100MB', accept: 'image/*' });
  const inbox = useNotifications();
  const jobs = useJobStats();
  return h('pre', null, JSON.stringify({ typing, presence, progress: up.uploadProgress, state: up.state, unread: inbox.unreadCount, loading: inbox.loading, items: inbox.notifications.length, jobsLoading: jobs.loading, fns: typeof rt.sendTyping }));
}

describe('nself-plugins/react on a server', () => {
  it('renders every hook without browser APIs and without a request', () => {
    expect(typeof (globalThis as { document?: unknown }).document).toBe('undefined');
    let fetched = 0;
    const client = createNselfClient({ url: 'http://127.0.0.1:9/v1/graphql', fetch: (async () => (fetched++, new Response('{}'))) as typeof fetch });
    const html = renderToString(h(NselfProvider, { client, userId: 'u1' }, h(Everything)));
    expect(html).toContain(JSON.stringify({ typing: [], presence: [], progress: 0, state: 'idle', unread: 0, loading: true, items: 0, jobsLoading: true, fns: 'function' }).replace(/"/g, '&quot;'));
    expect(fetched).toBe(0);
  });

  it('renders search and sign-in without browser APIs and without a request', () => {
    let fetched = 0;
    const client = createNselfClient({ url: 'http://127.0.0.1:9/v1/graphql', auth: oauthSession(), fetch: (async () => (fetched++, new Response('{}'))) as typeof fetch });
    function SearchAndSignIn() {
      const found = useSearch('nchat_messages');
      const auth = useOAuth();
      return h('div', null, h('pre', null, JSON.stringify({ results: found.results, loading: found.loading, error: found.error, user: auth.user, signedIn: auth.signedIn, providers: auth.providers, search: typeof found.search })), h(OAuthButton, { provider: 'google', onSuccess: () => undefined }));
    }
    const html = renderToString(h(NselfProvider, { client }, h(SearchAndSignIn)));
    expect(html).toContain(JSON.stringify({ results: null, loading: false, error: null, user: null, signedIn: false, providers: null, search: 'function' }).replace(/"/g, '&quot;'));
    expect(html).toMatch(/<button type="button" data-provider="google" aria-busy="false">Sign in with Google<\/button>/);
    expect(fetched).toBe(0);
  });

  it('says what is missing when a hook is used outside NselfProvider', () => {
    const Lonely = () => (useRealtime(), null);
    expect(() => renderToString(h(Lonely))).toThrow(/wrap the app in <NselfProvider client=\{…\}>/);
  });
});
