/** The search behaviour on the PostgreSQL engine (the embedded default). */
import { searchBehaviour } from './support/behaviour.js';
import { startStack } from './support/stack.js';

searchBehaviour('postgres', () => startStack('search_pg'), async (s) => {
  await s.harness.drain();
});
