// Jest reporter that prints the one closing line CI reads: "N passed, N failed" (tests; a file that fails to load
// counts as one failure, skipped tests count as neither).
class CountReporter {
  onRunComplete(_contexts, results) {
    const failures = [];
    for (const file of results.testResults) {
      if (file.testExecError)
        failures.push(`${file.testFilePath} (did not run: ${file.testExecError.message.split('\n')[0]})`);
      for (const t of file.testResults)
        if (t.status === 'failed') failures.push(`${file.testFilePath} › ${t.fullName}`);
    }
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const text = `${failures.length ? `Failed:\n${failures.map((f) => `  ${f}`).join('\n')}\n` : ''}${results.numPassedTests} passed, ${failed} failed\n`;
    // Under `npm test` the runner prints it once Jest has exited, so that it is the run's last line (Jest's own
    // summary goes to stderr after the reporters).
    if (process.env.TEST_COUNT_FILE) require('node:fs').writeFileSync(process.env.TEST_COUNT_FILE, text);
    else process.stdout.write(text);
  }
}
module.exports = CountReporter;
