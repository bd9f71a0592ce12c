// node:test reporter that prints the one closing line CI reads: "N passed, N failed" (tests, not suites).
export default async function* countReporter(source) {
  let passed = 0;
  let failed = 0;
  const failures = [];
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.details?.type === 'suite') continue;
    if (event.data.skip || event.data.todo) continue;
    if (event.type === 'test:pass') passed++;
    else {
      failed++;
      failures.push(`${event.data.file ?? ''} › ${event.data.name}`);
    }
  }
  if (failures.length) yield `Failed:\n${failures.map((f) => `  ${f}`).join('\n')}\n`;
  yield `${passed} passed, ${failed} failed\n`;
}
