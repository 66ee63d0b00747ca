// The Functions app's entry: importing a function module registers it.
import azureFunctions from '@azure/functions';
import { appConfig, settingsReport } from '../lib/config.ts';
import './investigate.ts';
import './activities.ts';
import './startInvestigation.ts';
import './slack.ts';
import './snatWatch.ts';
import './alertHook.ts';
import './status.ts';

// The settings are read and validated once, when the worker starts, and every problem is logged at once, by name
// (never a secret). An area with problems stays off; the others run.
azureFunctions.app.hook.appStart(() => {
  const config = appConfig();
  if (config.problems.length > 0) console.error(settingsReport(config));
});
