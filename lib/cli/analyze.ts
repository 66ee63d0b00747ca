// `snat-doctor analyze`: the evidence engine (lib/analysis/analyzeEvidence.ts) on files a person captured by hand,
// printed as text or JSON.
import { type AnalyzeOptions, analyzeEvidence } from '../analysis/analyzeEvidence.ts';
import { badInputExit, jsonTerminalSafe } from './badInput.ts';

export async function analyze(options: AnalyzeOptions & { json?: boolean }): Promise<number> {
  try {
    const result = await analyzeEvidence(options);
    if (options.json) process.stdout.write(`${jsonTerminalSafe(JSON.stringify(result, null, 2))}\n`);
    else {
      const { renderAnalysis } = await import('../render/analysisText.ts');
      const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
      process.stdout.write(`${renderAnalysis(result, { color, width: process.stdout.columns ?? 100 })}\n`);
    }
    return 0;
  } catch (error) {
    return badInputExit(error);
  }
}
