/**
 * Timer trigger schedules: NCRONTAB with six fields (seconds first), as Azure requires (a five-field
 * expression is rejected there, so it is rejected here too), or a TimeSpan "hh:mm:ss" / "d.hh:mm:ss".
 * `%Name%` is resolved from the environment like any binding expression in Azure. Times are UTC, the Azure
 * default when WEBSITE_TIME_ZONE is unset.
 */

export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

export interface Schedule {
  expression: string;
  /** The first occurrence strictly after `from`. */
  next(from: Date): Date;
  /** The last occurrence at or before `from` (for scheduleStatus.last), when it can be known. */
  previous(from: Date): Date | undefined;
}

export function parseSchedule(raw: string, functionName: string, env: NodeJS.ProcessEnv = process.env): Schedule {
  let expression = raw.trim();
  const setting = /^%([^%]+)%$/.exec(expression);
  if (setting) {
    const value = env[setting[1]!]?.trim();
    if (!value) throw new ScheduleError(`Function "${functionName}": schedule setting ${setting[1]} is not set.`);
    expression = value;
  }
  const span = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(expression);
  if (span) {
    const ms = ((Number(span[1] ?? 0) * 24 + Number(span[2])) * 3600 + Number(span[3]) * 60 + Number(span[4])) * 1000;
    if (ms <= 0) throw new ScheduleError(`Function "${functionName}": schedule "${expression}" must be positive.`);
    return { expression, next: (from) => new Date(from.getTime() + ms), previous: () => undefined };
  }
  if (expression.split(/\s+/).length !== 6) {
    throw new ScheduleError(
      `Function "${functionName}": schedule "${expression}" must be an NCRONTAB expression with 6 fields ` +
        '({second} {minute} {hour} {day} {month} {day-of-week}) or a TimeSpan.',
    );
  }
  // The cron parser loads, and first parses, when a time is asked for (arming the timer, or an invocation), not
  // here: that first parse loads luxon's time-zone and locale data (~10-20 ms of CPU), which the real host never
  // puts on the Node worker's start. An invalid field is reported then, as the same ScheduleError.
  const parse = (from: Date) => {
    try {
      const { CronExpressionParser } = require('cron-parser') as typeof import('cron-parser');
      return CronExpressionParser.parse(expression, { currentDate: from, tz: 'UTC' });
    } catch (error) {
      throw new ScheduleError(
        `Function "${functionName}": invalid schedule "${expression}": ${(error as Error).message}`,
      );
    }
  };
  return {
    expression,
    next: (from) => parse(from).next().toDate(),
    previous: (from) =>
      parse(new Date(from.getTime() + 1))
        .prev()
        .toDate(),
  };
}
