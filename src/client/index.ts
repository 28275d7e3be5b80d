/**
 * `nself-plugins/client`: the framework-free SDK. Each plugin's module is its own file and import, so a bundler
 * keeps only the modules an app uses (`nself-plugins/client/realtime`, …); this entry re-exports all of them.
 */
export { createClientCore, type NselfClient, type NselfClientOptions, type Operation, type RequestOptions, type SubscribeHandlers, type Subscription } from './core.js';
export { createNselfClient, graphqlRequestHttp } from './client.js';
export { fetchHttp, type HttpTransport, type HttpRequest } from './http.js';
export { refreshingToken, staticToken, jwtExpiry, type TokenProvider, type RefreshingTokenOptions } from './auth.js';
export { NselfError, isAuthError } from './errors.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export * from './realtime.js';
export * from './files.js';
export * from './file-rules.js';
export * from './notifications.js';
export * from './jobs.js';
export * from './search.js';
export * from './oauth.js';
export { createCallConnection, type CallConnection, type CallConnectionOptions } from './webrtc.js';
