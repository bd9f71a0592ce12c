/**
 * Bench module (bundled by bench/run.ts like the app): the real /auth/login handler with storage taken out, so
 * the CPU figure is the function's own cost (flow, PKCE, sealing, cookies, the Functions programming model).
 * Registered as `loginmem` on `bench/login-memory`; the real functions are not loaded in this process.
 */
import { app } from '@azure/functions';
import { createLoginHandler } from '../functions/login';
import { getConfig } from '../shared/config';
import { createServices } from '../shared/services';
// The unit tier's in-memory store (it passes the RowStore contract); esbuild bundles it into this module.
import { MemoryRowStore } from '../test/_support/fakes/memory-row-store';

const deps = createServices(getConfig(), { states: new MemoryRowStore(), sessions: new MemoryRowStore() });
app.http('loginmem', {
  methods: ['GET'],
  route: 'bench/login-memory',
  authLevel: 'anonymous',
  handler: createLoginHandler(() => deps),
});

/** The floor of the same host and programming model: a function that only answers a 302. */
app.http('noop302', {
  methods: ['GET'],
  route: 'bench/noop-302',
  authLevel: 'anonymous',
  handler: async () => ({
    status: 302,
    headers: { location: 'https://login.example/authorize', 'cache-control': 'no-store' },
  }),
});
