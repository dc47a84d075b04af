// The setup most HTTP tests share: a server with some registered users, started before the
// describe block's tests and stopped after them.
import { afterAll, beforeAll } from 'vitest';
import type { TestEngine } from './databases.js';
import { startTestServer, type TestServer } from './server.js';
import { Client } from './client.js';

export interface ServerContext {
  server: TestServer;
  /** A logged-in client per username, with its access token. */
  users: Record<string, Client>;
}

/** Registers beforeAll/afterAll hooks in the calling describe block; read the context inside tests. */
export function withServer(engine: TestEngine, usernames: string[], overrides: Parameters<typeof startTestServer>[1] = {}): ServerContext {
  const ctx = { users: {} } as ServerContext;
  beforeAll(async () => {
    ctx.server = await startTestServer(engine, overrides);
    for (const name of usernames) {
      const c = new Client(ctx.server.baseUrl);
      await c.register(name);
      ctx.users[name] = c;
    }
  });
  afterAll(() => ctx.server?.close());
  return ctx;
}
