import { expect, test } from '@jest/globals';
import { goalOf, renderChart } from '../../bench/chart';

test.each([
  ['≤ 1.5×', { limit: 1.5, atMost: true }],
  ['≥ 65%', { limit: 0.65, atMost: false }],
  ['= 1', { limit: 1, atMost: true }],
  ['info (was ≤ 2.5×)', undefined],
  ['flat (info)', undefined],
])('goal %s', (goal, parsed) => {
  expect(goalOf(goal)).toStrictEqual(parsed);
});

test('one bar per figure with a goal: green when met, red when missed, a grey bar for the earlier run', () => {
  const svg = renderChart(
    [
      { figure: 'a <met>', ratio: 1.1, goal: '≤ 1.5×', met: true },
      { figure: 'b missed', ratio: 9, goal: '≤ 2×', met: false },
      { figure: 'c info', ratio: 3, goal: 'info', met: true },
    ],
    'title',
    [{ figure: 'b missed', ratio: 12, goal: '≤ 2×', met: false }],
  );
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg).toContain('a &lt;met&gt;');
  expect(svg).not.toContain('c info');
  expect(svg.match(/fill="#2e8b57"/g)).toHaveLength(1);
  expect(svg.match(/fill="#c0392b"/g)).toHaveLength(1);
  expect(svg).toContain('9.00× (off scale)');
  expect(svg).toContain('before 12.00×');
});
