// `snat-doctor config`: the app settings checked exactly as the Functions app checks them when it starts
// (lib/config.ts), from a local.settings.json (`--settings`) or this environment: every problem, by name, grouped by
// the area it turns off. Exit 0 when complete, 1 when anything is wrong, 2 when the file cannot be read.
// Secrets and URLs are never printed.

import { AREAS, type Env, jsonSyntaxError, projectConfig, settingsReport } from '../config.ts';
import { SnatDoctorError } from '../errors.ts';
import { readInputText } from '../readInput.ts';
import { badInputExit, jsonTerminalSafe, terminalSafe } from './badInput.ts';

/** A local.settings.json is a few kB. */
const MAX_SETTINGS_BYTES = 1024 * 1024;

export interface ConfigCommandOptions {
  settings?: string;
  json?: boolean;
}

export interface ConfigIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Env;
}

export async function configCommand(
  options: ConfigCommandOptions,
  io: ConfigIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  let env: Env;
  try {
    env = options.settings === undefined ? io.env : await localSettings(options.settings);
  } catch (error) {
    return badInputExit(error, io.stderr);
  }
  const config = projectConfig(env);
  if (options.json) {
    const areas = Object.fromEntries(
      AREAS.map((area) => {
        const section = config[area];
        return [area, section.ok ? { on: true } : { on: false, problems: section.problems }];
      }),
    );
    const json = JSON.stringify({ complete: config.problems.length === 0, problems: config.problems, areas }, null, 2);
    io.stdout.write(`${jsonTerminalSafe(json)}\n`);
  } else {
    const source = options.settings === undefined ? 'the environment' : options.settings;
    // Problems quote values that are no secret (a ratio, a schedule), as they were written.
    io.stdout.write(terminalSafe(`Settings from ${source}\n${settingsReport(config, { all: true })}\n`));
  }
  return config.problems.length === 0 ? 0 : 1;
}

/** The `Values` of a Functions local.settings.json: the app settings `func start` gives the app. */
async function localSettings(path: string): Promise<Env> {
  let text: string;
  try {
    text = await readInputText(path, '--settings', MAX_SETTINGS_BYTES);
  } catch (error) {
    // A directory or a file over the cap says so; one that cannot be opened is most likely not there yet.
    const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
    if (cause?.code === undefined) throw error;
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `cannot read ${path}: ${cause.code}. Pass a local.settings.json (copy local.settings.sample.json).`,
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    // Not JSON.parse's own message: it quotes the text around the fault, which may be a secret's value.
    throw new SnatDoctorError('BAD_ARGUMENT', `${path} is not JSON: ${jsonSyntaxError(error)}.`);
  }
  const values = (document as { Values?: unknown } | null)?.Values;
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `${path} has no "Values" object: expected a local.settings.json, {"IsEncrypted": false, "Values": {"NAME": "value", …}}.`,
    );
  }
  const wrong = Object.entries(values).filter(([, value]) => typeof value !== 'string');
  if (wrong.length > 0) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `${path}: every value in "Values" is a string; ${wrong.map(([name]) => name).join(', ')} ${wrong.length === 1 ? 'is' : 'are'} not (JSON settings are written as strings, quotes escaped).`,
    );
  }
  return values as Env;
}
