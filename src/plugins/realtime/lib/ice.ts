/**
 * TURN credentials in coturn's REST scheme (`use-auth-secret`, draft-uberti-behave-turn-rest): the user name
 * is "<expiry unix seconds>:<user id>" and the password base64(HMAC-SHA1(static-auth-secret, user name)).
 * coturn recomputes the HMAC and refuses a name whose expiry has passed, so nothing is stored anywhere.
 */
import { createHmac } from 'node:crypto';

export interface IceServer {
  urls: string[];
  username: string | null;
  credential: string | null;
}

export interface IceServers {
  iceServers: IceServer[];
  ttlSeconds: number;
  expiresAt: string | null;
}

export function turnCredential(secret: string, userId: string, expiresAtUnix: number): { username: string; credential: string } {
  const username = `${expiresAtUnix}:${userId}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

export function iceServers(
  o: { stunUrls: readonly string[]; turnUrls: readonly string[]; secret: string | undefined; ttlSeconds: number },
  userId: string,
  nowMs = Date.now(),
): IceServers {
  const servers: IceServer[] = [];
  if (o.stunUrls.length) servers.push({ urls: [...o.stunUrls], username: null, credential: null });
  if (o.secret && o.turnUrls.length) {
    const expires = Math.floor(nowMs / 1000) + o.ttlSeconds;
    const { username, credential } = turnCredential(o.secret, userId, expires);
    servers.push({ urls: [...o.turnUrls], username, credential });
    return { iceServers: servers, ttlSeconds: o.ttlSeconds, expiresAt: new Date(expires * 1000).toISOString() };
  }
  return { iceServers: servers, ttlSeconds: o.ttlSeconds, expiresAt: null };
}
