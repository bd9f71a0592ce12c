/**
 * `node --import tsx dev/make-ca.ts <dir>`: makes (or keeps) the local dev CA in `<dir>`.
 *
 * Run before any process that must trust the stand-ins starts, because `NODE_EXTRA_CA_CERTS=<dir>/ca.pem` is
 * read only at process start-up. Silent on success so it can sit in front of `npm test`.
 */
import { loadOrCreateDevCa } from './ca';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node --import tsx dev/make-ca.ts <dir>\n');
  process.exit(2);
}
try {
  loadOrCreateDevCa(dir);
} catch (error) {
  process.stderr.write(`make-ca: ${(error as Error).message}\n`);
  process.exit(1);
}
