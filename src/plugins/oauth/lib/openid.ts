/**
 * openid-client, loaded with the first sign-in rather than at start (a process whose users never sign in
 * through this plugin, or a cold start, does not pay for it). Types come from `import type`.
 */
import { lazyModule } from '../../../core/lazy-module.js';

export const openidClient = lazyModule(() => import('openid-client'));
