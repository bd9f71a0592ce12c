import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** One function per functions/*.ts, named like its file (the project's layout): what a built app must serve. */
export function functionNames(root = join(__dirname, '..', '..')): string[] {
  return readdirSync(join(root, 'functions'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
}
