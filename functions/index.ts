// The Functions app's entry: importing a function module registers it.
import './investigate.ts';
import './activities.ts';
import './startInvestigation.ts';
import './slack.ts';
import './snatWatch.ts';
import './alertHook.ts';
import './status.ts';
