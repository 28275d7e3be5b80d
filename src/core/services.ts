/**
 * Plugin services: the long-lived objects plugins declare in their manifests (`services: [token]`), created
 * once per runtime in dependency order and closed in reverse. Handlers reach them with `ctx.service(token)`;
 * a plugin reaches only its own services and those of plugins it depends on (or optionally depends on), so
 * a hidden coupling between plugins shows up as a clear error instead of working by accident.
 */
import type { Logger } from 'pino';
import { activeFeatures } from './features.js';
import { SERVICE_TOKEN, type PluginManifest, type PluginRuntime, type ServiceToken } from './plugin.js';

export class ServiceError extends Error {
  override name = 'ServiceError';
}

export function isServiceToken(value: unknown): value is ServiceToken<unknown> {
  return !!value && typeof value === 'object' && (value as Record<symbol, unknown>)[SERVICE_TOKEN] === true;
}

/** Plugins whose services `plugin` may use: itself, its dependencies and optional dependencies, transitively. */
function reachablePlugins(byName: ReadonlyMap<string, PluginManifest>, plugin: string): Set<string> {
  const out = new Set<string>();
  const stack = [plugin];
  while (stack.length) {
    const name = stack.pop()!;
    if (out.has(name)) continue;
    out.add(name);
    const m = byName.get(name);
    for (const d of [...(m?.dependsOn ?? []), ...(m?.optionalDependsOn ?? [])]) stack.push(d);
  }
  return out;
}

export class ServiceRegistry {
  readonly #instances = new Map<ServiceToken<unknown>, unknown>();
  /** Owner of every token a known manifest lists, enabled or not (for errors that say why a service is absent). */
  readonly #declaredBy = new Map<ServiceToken<unknown>, string>();
  readonly #enabledOwner = new Map<ServiceToken<unknown>, string>();
  readonly #access = new Map<string, Set<string>>();
  readonly #created: Array<{ token: ServiceToken<unknown>; plugin: string; instance: unknown }> = [];
  readonly #enabled: ReadonlyMap<string, PluginManifest>;
  readonly #declared: ReadonlyMap<string, PluginManifest>;

  /**
   * `enabled`: the running plugins as `withFeatures` gives them, dependencies first. `catalogue`: every plugin
   * known, as declared (to tell "not enabled" from "not declared anywhere").
   */
  constructor(enabled: readonly PluginManifest[], catalogue: readonly PluginManifest[]) {
    this.#enabled = new Map(enabled.map((p) => [p.name, p]));
    // The catalogue's manifests are the declared ones (every feature); the enabled ones may lack some services.
    this.#declared = new Map([...enabled, ...catalogue].map((p) => [p.name, p]));
    for (const p of [...catalogue, ...enabled]) for (const t of p.services ?? []) this.#declaredBy.set(t, p.name);
    const problems: string[] = [];
    for (const p of enabled) {
      const names = new Set<string>();
      for (const t of p.services ?? []) {
        if (!isServiceToken(t)) problems.push(`plugin ${p.name}: services lists something that is not made with defineService`);
        else if (names.has(t.name)) problems.push(`plugin ${p.name}: service ${t.name} is listed twice`);
        else {
          const prev = this.#enabledOwner.get(t);
          if (prev && prev !== p.name) problems.push(`service ${t.name} is listed by plugin ${prev} and by plugin ${p.name}`);
          this.#enabledOwner.set(t, p.name);
          this.#declaredBy.set(t, p.name);
        }
        names.add(t.name);
      }
    }
    if (problems.length) throw new ServiceError(problems.join('; '));
  }

  /** Creates every enabled plugin's services, in plugin order; on a failure, closes what was created and throws. */
  async start(runtimeOf: (plugin: string) => PluginRuntime, log: Logger): Promise<void> {
    for (const p of this.#enabled.values()) {
      for (const token of (p.services ?? []) as ServiceToken<unknown>[]) {
        let instance: unknown;
        try {
          instance = await token.create(runtimeOf(p.name));
        } catch (e) {
          await this.close(log);
          const err = new ServiceError(`service ${token.name} of plugin ${p.name} failed to start: ${(e as Error).message}`);
          (err as { cause?: unknown }).cause = e;
          throw err;
        }
        this.#instances.set(token, instance);
        this.#created.push({ token, plugin: p.name, instance });
      }
    }
  }

  /** Closes the created services, last created first; a failing close is logged, the others still close. */
  async close(log: Logger): Promise<void> {
    for (const { token, plugin, instance } of this.#created.splice(0).reverse()) {
      this.#instances.delete(token);
      try {
        await token.close?.(instance);
      } catch (err) {
        log.error({ err, plugin, service: token.name }, 'closing a service failed');
      }
    }
  }

  #allowed(plugin: string): Set<string> {
    let s = this.#access.get(plugin);
    if (!s) this.#access.set(plugin, (s = reachablePlugins(this.#declared, plugin)));
    return s;
  }

  /** The instance of `token` for a handler of `plugin`; `optional` turns "not running" into `undefined`. */
  get<T>(plugin: string, token: ServiceToken<T>, optional: boolean): T | undefined {
    const t = token as ServiceToken<unknown>;
    const instance = this.#instances.get(t);
    const owner = this.#enabledOwner.get(t) ?? this.#declaredBy.get(t);
    if (owner === undefined) {
      throw new ServiceError(`service ${isServiceToken(token) ? token.name : String(token)} is not listed in any plugin's manifest services`);
    }
    if (!this.#allowed(plugin).has(owner)) {
      throw new ServiceError(`plugin ${plugin} uses service ${token.name} of plugin ${owner} but does not declare ${owner} in dependsOn or optionalDependsOn`);
    }
    if (instance !== undefined || this.#instances.has(t)) return instance as T;
    if (optional) return undefined;
    const m = this.#enabled.get(owner);
    if (!m) throw new ServiceError(`service ${token.name} needs plugin ${owner}, which is not enabled`);
    if (token.feature && !activeFeatures(m).has(token.feature)) {
      throw new ServiceError(`service ${token.name} needs feature "${token.feature}" of plugin ${owner}, which is off`);
    }
    throw new ServiceError(`service ${token.name} of plugin ${owner} is not running (the runtime is starting or closed)`);
  }
}
