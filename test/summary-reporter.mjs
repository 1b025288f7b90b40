// Prints the plain closing line CI reads ("N passed, N failed, N skipped") after jest's summary.
// Suites that could not run (a syntax error, a failed import) count as failed.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests} skipped\n`);
  }
}
