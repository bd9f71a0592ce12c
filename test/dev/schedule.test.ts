/** The local host's timer schedules: NCRONTAB (6 fields, UTC) and TimeSpan, as Azure reads them. */
import { describe, expect, test } from '@jest/globals';
import { parseSchedule, ScheduleError } from '../../dev/host/schedule';

const at = (iso: string) => new Date(iso);

describe('parseSchedule', () => {
  test('NCRONTAB: the next and previous occurrences, in UTC', () => {
    const every5 = parseSchedule('0 */5 * * * *', 'purge');
    expect(every5.next(at('2026-12-08T01:02:03.000Z')).toISOString()).toBe('2026-12-08T01:05:00.000Z');
    expect(every5.previous(at('2026-12-08T01:02:03.000Z'))?.toISOString()).toBe('2026-12-08T01:00:00.000Z');
    // An occurrence exactly now is the previous one, and the next is strictly after it.
    expect(every5.previous(at('2026-12-08T01:05:00.000Z'))?.toISOString()).toBe('2026-12-08T01:05:00.000Z');
    expect(every5.next(at('2026-12-08T01:05:00.000Z')).toISOString()).toBe('2026-12-08T01:10:00.000Z');
  });

  test('TimeSpan and %setting% expressions', () => {
    const span = parseSchedule('%SCHEDULE%', 'tick', { SCHEDULE: '1.02:00:30' });
    expect(span.expression).toBe('1.02:00:30');
    expect(span.next(at('2026-01-01T00:00:00.000Z')).toISOString()).toBe('2026-01-02T02:00:30.000Z');
    expect(span.previous(at('2026-01-01T00:00:00.000Z'))).toBeUndefined();
  });

  test.each([
    ['a five-field cron (Azure rejects it)', '*/5 * * * *', /6 fields/],
    ['an unset setting', '%MISSING%', /MISSING is not set/],
    ['a zero TimeSpan', '00:00:00', /must be positive/],
  ])('refuses %s at once', (_name, expression, message) => {
    expect(() => parseSchedule(expression, 'tick', {})).toThrow(ScheduleError);
    expect(() => parseSchedule(expression, 'tick', {})).toThrow(message);
  });

  test('an invalid cron field is a ScheduleError when a time is first asked for (the parser loads lazily)', () => {
    const schedule = parseSchedule('0 */5 * * * 9', 'purge');
    expect(() => schedule.next(new Date())).toThrow(ScheduleError);
    expect(() => schedule.next(new Date())).toThrow(/Function "purge": invalid schedule "0 \*\/5 \* \* \* 9"/);
  });
});
