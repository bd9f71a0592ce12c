/**
 * The bench's figures as a small SVG bar chart (no service, no library): one bar per figure that has a goal, its
 * ratio against its baseline, a tick at the goal, green when met and red when not. With the figures of an
 * earlier run (`BENCH_BEFORE=<results.json>`), a grey bar under each shows that run's ratio for the same figure.
 */
export interface ChartRow {
  figure: string;
  ratio: number;
  /** How the table prints the ratio when it is not an `N×` (a count, a percentage). */
  ratioText?: string;
  goal: string;
  met: boolean;
}

/** `≤ 1.5×` → { max: 1.5 }; `≥ 65%` → { min: 0.65 }; anything else (info) has no goal to draw. */
export function goalOf(goal: string): { limit: number; atMost: boolean } | undefined {
  const m = /^(≤|≥|=)\s*([\d.]+)\s*(×|%)?$/.exec(goal.trim());
  if (!m) return undefined;
  const value = Number(m[2]) / (m[3] === '%' ? 100 : 1);
  return { limit: value, atMost: m[1] !== '≥' };
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderChart(rows: readonly ChartRow[], title: string, before: readonly ChartRow[] = []): string {
  const drawn = rows.flatMap((row) => {
    const goal = goalOf(row.goal);
    if (!goal || !Number.isFinite(row.ratio)) return [];
    const earlier = before.find((b) => b.figure === row.figure && Number.isFinite(b.ratio));
    return [{ row, goal, earlier }];
  });
  const labelWidth = 360;
  const barWidth = 380;
  const rowHeight = before.length > 0 ? 34 : 24;
  const top = 44;
  const height = top + drawn.length * rowHeight + 34;
  const scaleMax = Math.min(
    6,
    Math.max(1.2, ...drawn.map(({ row, goal, earlier }) => Math.max(row.ratio, goal.limit, earlier?.ratio ?? 0) * 1.1)),
  );
  const x = (ratio: number) => labelWidth + (Math.min(ratio, scaleMax) / scaleMax) * barWidth;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barWidth + 70}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="8" y="34" fill="#555">ratio to the baseline measured in the same run; tick = goal; green = met, red = missed${before.length ? '; grey = before' : ''}</text>`,
  ];
  for (const ratio of [1, 2, 3, 4, 5, 6].filter((r) => r <= scaleMax)) {
    out.push(
      `<line x1="${x(ratio)}" y1="${top - 4}" x2="${x(ratio)}" y2="${height - 26}" stroke="#ddd"/>`,
      `<text x="${x(ratio)}" y="${height - 12}" text-anchor="middle" fill="#555">${ratio}×</text>`,
    );
  }
  drawn.forEach(({ row, goal, earlier }, i) => {
    const y = top + i * rowHeight;
    const barHeight = 14;
    out.push(
      `<text x="8" y="${y + 11}">${escape(row.figure)}${goal.atMost ? '' : ' (higher is better)'}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${x(row.ratio) - labelWidth}" height="${barHeight}" fill="${row.met ? '#2e8b57' : '#c0392b'}"/>`,
      `<text x="${x(row.ratio) + 4}" y="${y + 11}">${escape(row.ratioText ?? `${row.ratio.toFixed(2)}×`)}${row.ratio > scaleMax ? ' (off scale)' : ''}</text>`,
      `<line x1="${x(goal.limit)}" y1="${y - 2}" x2="${x(goal.limit)}" y2="${y + barHeight + 2}" stroke="#000" stroke-width="2"/>`,
    );
    if (earlier)
      out.push(
        `<rect x="${labelWidth}" y="${y + barHeight + 2}" width="${x(earlier.ratio) - labelWidth}" height="8" fill="#aaa"/>`,
        `<text x="${x(earlier.ratio) + 4}" y="${y + barHeight + 10}" font-size="10" fill="#555">before ${escape(earlier.ratioText ?? `${earlier.ratio.toFixed(2)}×`)}</text>`,
      );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
