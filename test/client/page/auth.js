// Search and sign-in over nself-plugins/react, driven by test/client/browser-search-oauth.test.ts. Settings come
// from the URL: ?graphql=<url>&mode=search&token=<jwt> (a signed-in user searching) or ?graphql=<url>&mode=oauth
// (signing in with the `idp` provider; the session is kept in localStorage). (Plain JavaScript: the project's
// typecheck has no DOM library.)
import { createElement as h, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createNselfClient, oauthSession } from '../../../src/client/index.ts';
import { NselfProvider, OAuthButton, useOAuth, useSearch } from '../../../src/react/index.ts';

const params = new URLSearchParams(location.search);
const mode = params.get('mode');
const client = createNselfClient({
  url: params.get('graphql'),
  auth: mode === 'oauth' ? oauthSession({ storage: localStorage }) : params.get('token'),
});

function Search() {
  const { results, search, loading, error } = useSearch('nchat_messages', { debounceMs: 150 });
  return h('section', { id: 'search' },
    h('input', { id: 'q', placeholder: 'Search messages', onInput: (e) => void search(e.target.value) }),
    h('p', { id: 'search-loading' }, String(loading)),
    h('p', { id: 'search-query' }, results ? results.query : ''),
    h('p', { id: 'search-time' }, results ? String(results.processingTime) : ''),
    h('p', { id: 'search-error' }, error ? error.code : ''),
    h('ul', { id: 'hits' }, (results ? results.hits : []).map((hit) => h('li', { key: hit.id, 'data-id': hit.id }, hit.document.body))),
  );
}

function SignIn() {
  const { user, providers, signOut, error } = useOAuth();
  const [outcome, setOutcome] = useState('');
  return h('section', { id: 'oauth' },
    h('ul', { id: 'providers' }, (providers ?? []).map((p) => h('li', { key: p.id, 'data-id': p.id }, p.displayName))),
    h(OAuthButton, { provider: 'idp', onSuccess: (s) => setOutcome(`signed in: ${s.user.email}`), onError: (e) => setOutcome(`error: ${e.code}`) }),
    h('p', { id: 'outcome' }, outcome),
    h('p', { id: 'user' }, user ? `${user.displayName} <${user.email}>` : ''),
    h('p', { id: 'oauth-error' }, error ? error.code : ''),
    h('button', { id: 'sign-out', disabled: !user, onClick: () => void signOut() }, 'Sign out'),
  );
}

createRoot(document.getElementById('root')).render(h(NselfProvider, { client }, mode === 'oauth' ? h(SignIn) : h(Search)));
