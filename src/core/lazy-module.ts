/**
 * A dependency loaded on first use instead of at startup.
 *
 * Starting `serve` is mostly module loading: every enabled plugin is imported, and with them their
 * dependencies. Several of the heaviest (the Stripe SDK, the MinIO client, nodemailer, openid-client, sharp)
 * serve settings a deployment may never turn on, so plugins reach them through `lazyModule` and a process
 * pays for them only when it uses them.
 *
 * `load()` imports once (concurrent callers share the import); `loaded` is the module once an import has
 * finished — for synchronous code that can only run after a use, such as classifying an error the module
 * threw.
 */
export interface LazyModule<M> {
  (): Promise<M>;
  readonly loaded: M | undefined;
}

export function lazyModule<M>(load: () => Promise<M>): LazyModule<M> {
  let pending: Promise<M> | undefined;
  let loaded: M | undefined;
  const get = (() =>
    (pending ??= load().then(
      (m) => (loaded = m),
      (e: unknown) => {
        // A failed import (a missing optional package) is retried on the next use, not cached forever.
        pending = undefined;
        throw e;
      },
    ))) as LazyModule<M>;
  Object.defineProperty(get, 'loaded', { get: () => loaded });
  return get;
}
