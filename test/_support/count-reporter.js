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
    if (failures.length) process.stdout.write(`Failed:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
    process.stdout.write(`${results.numPassedTests} passed, ${failed} failed\n`);
  }
}
module.exports = CountReporter;
