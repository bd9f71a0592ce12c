import { parseConfig, type Environment } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

/** What shared/config.ts reports for `env`: every problem, or none when the configuration is accepted. */
export function configProblems(env: Environment): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}
