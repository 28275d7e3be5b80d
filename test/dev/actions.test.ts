/**
 * Actions through /v1/graphql: sync actions calling a real webhook with Hasura's body and session, action
 * relationships joined to tables under the caller's permission, async actions (`action_id`, the result query and
 * its subscription), and actions mixed with table fields.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { asUser, chatMetadata, startChat, type ChatFixture } from './support/fixture.js';

let f: ChatFixture;
let hooks: http.Server;
const calls: any[] = [];

beforeAll(async () => {
  hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const payload = JSON.parse(body);
      calls.push({ path: req.url, payload, headers: req.headers });
      const reply = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.url === '/latest') return reply(200, { messageId: 2, roomId: 1, label: 'latest' });
      if (req.url === '/ids') return reply(200, [{ messageId: 1, roomId: 1, label: 'a' }, { messageId: 4, roomId: 3, label: 'b' }]);
      if (req.url === '/export') {
        if (payload.input.roomId === 13) return reply(400, { message: 'unlucky room', extensions: { code: 'EXPORT_FAILED' } });
        return reply(200, { count: 42 });
      }
      reply(404, { message: 'no such hook' });
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
  const meta = chatMetadata() as any;
  meta.actions = [
    { name: 'latestMessage', definition: { handler: `${base}/latest`, type: 'query', arguments: [], output_type: 'MessageRef!' }, permissions: [{ role: 'user' }] },
    { name: 'someMessages', definition: { handler: `${base}/ids`, type: 'query', arguments: [], output_type: '[MessageRef!]!' }, permissions: [{ role: 'user' }] },
    { name: 'exportRoom', definition: { handler: `${base}/export`, type: 'mutation', kind: 'asynchronous', arguments: [{ name: 'roomId', type: 'Int!' }], output_type: 'ExportResult' }, permissions: [{ role: 'user' }] },
  ];
  meta.custom_types = {
    objects: [
      {
        name: 'MessageRef',
        fields: [
          { name: 'messageId', type: 'Int!' },
          { name: 'roomId', type: 'Int!' },
          { name: 'label', type: 'String!' },
        ],
        relationships: [
          { name: 'message', type: 'object', remote_table: { schema: 'public', name: 'messages' }, field_mapping: { messageId: 'id' } },
          { name: 'roomMessages', type: 'array', remote_table: { schema: 'public', name: 'messages' }, field_mapping: { roomId: 'room_id' } },
        ],
      },
      { name: 'ExportResult', fields: [{ name: 'count', type: 'Int!' }] },
    ],
  };
  f = await startChat('dev_actions', { harness: { asyncActionsFetchIntervalMs: 50 }, subscriptions: { refetchIntervalMs: 50 } }, meta);
});
afterAll(async () => {
  await f?.close();
  await new Promise<void>((r) => hooks.close(() => r()));
});

describe('sync actions', () => {
  it('calls the webhook with the session and joins output relationships under the caller permission', async () => {
    calls.length = 0;
    const r = await f.gql(`query { latestMessage { label message { body author { name } } roomMessages { id } } messages_aggregate { aggregate { count } } }`, undefined, asUser('u1'));
    expect(r.errors).toBeUndefined();
    expect(r.data!.latestMessage).toEqual({ label: 'latest', message: { body: 'hi ann', author: { name: 'Bob' } }, roomMessages: [{ id: 1 }, { id: 2 }] });
    expect(r.data!.messages_aggregate.aggregate.count).toBe(3);
    expect(calls[0].payload).toMatchObject({ action: { name: 'latestMessage' }, input: {}, session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': 'u1' } });
    expect(calls[0].payload.request_query).toContain('messages_aggregate');
  });

  it('joins each element of a list output, and gives null where the caller may not see the row', async () => {
    const r = await f.gql(`{ someMessages { label message { id } } }`, undefined, asUser('u1'));
    expect(r.data!.someMessages).toEqual([{ label: 'a', message: { id: 1 } }, { label: 'b', message: null }]);
    const admin = await f.gql(`{ someMessages { message { id } } }`);
    expect(admin.data!.someMessages).toEqual([{ message: { id: 1 } }, { message: { id: 4 } }]);
  });

  it('hides actions from roles without permission', async () => {
    const r = await f.gql(`{ latestMessage { label } }`, undefined, { 'x-hasura-role': 'anonymous' });
    expect(r.errors![0]).toMatchObject({ message: `field "latestMessage" not found in type: 'query_root'`, extensions: { code: 'validation-failed' } });
  });
});

describe('async actions', () => {
  it('returns an action id, runs the handler in the background and answers the result query and subscription', async () => {
    const started = await f.gql(`mutation { exportRoom(roomId: 1) }`, undefined, asUser('u1'));
    const id = started.data!.exportRoom;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const client = createClient({ url: f.url.replace('http', 'ws') + '/v1/graphql', webSocketImpl: WebSocket, connectionParams: { headers: asUser('u1') }, retryAttempts: 0 });
    try {
      const done = await new Promise<any>((resolve, reject) => {
        const stop = client.subscribe(
          { query: `subscription ($id: uuid!) { exportRoom(id: $id) { id errors output { count } } }`, variables: { id } },
          {
            next: (r: any) => {
              if (r.data?.exportRoom?.output) {
                stop();
                resolve(r.data.exportRoom);
              }
            },
            error: reject,
            complete: () => undefined,
          },
        );
        setTimeout(() => reject(new Error('async action result never arrived')), 10_000).unref();
      });
      expect(done).toEqual({ id, errors: null, output: { count: 42 } });
    } finally {
      await client.dispose();
    }
    const q = await f.gql(`query ($id: uuid!) { exportRoom(id: $id) { output { count } } }`, { id }, asUser('u1'));
    expect(q.data!.exportRoom).toEqual({ output: { count: 42 } });
    const other = await f.gql(`query ($id: uuid!) { exportRoom(id: $id) { output { count } } }`, { id }, asUser('u2'));
    expect(other.data!.exportRoom).toBeNull();
  });

  it('stores a handler 4xx as the errors of the result', async () => {
    const started = await f.gql(`mutation { exportRoom(roomId: 13) }`, undefined, asUser('u1'));
    const id = started.data!.exportRoom;
    await f.endpoint.harness.drain();
    const q = await f.gql(`query ($id: uuid!) { exportRoom(id: $id) { output { count } errors } }`, { id }, asUser('u1'));
    expect(q.data!.exportRoom.output).toBeNull();
    expect(q.data!.exportRoom.errors).toMatchObject({ error: 'unlucky room' });
  });
});
