/**
 * The hello-world v4 function: the floor of the programming model and the host. The bench bundles it alone (the
 * cold-start baseline: its bundle load + registration, its first answer) and inside bench/floors.ts (the CPU floor).
 */
import { app } from '@azure/functions';

/** What the hello-world function answers: a redirect, like a login. */
export const HELLO_ANSWER = {
  status: 302,
  headers: { location: 'https://login.example/authorize', 'cache-control': 'no-store' },
};

app.http('hello', {
  methods: ['GET'],
  route: 'bench/hello',
  authLevel: 'anonymous',
  handler: async () => HELLO_ANSWER,
});
