// Bolt's Logger over any sink with the four levels: the invocation's context in Azure (so the lines land in that
// invocation's logs), the console elsewhere.
import { type Logger, LogLevel } from '@slack/bolt';

export interface LogSink {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

const ORDER = [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN, LogLevel.ERROR];

export function boltLogger(sink: LogSink, initialLevel: LogLevel = LogLevel.INFO): Logger {
  let level = initialLevel;
  let name = 'snat-doctor-slack';
  const at =
    (messageLevel: LogLevel, write: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      if (ORDER.indexOf(messageLevel) >= ORDER.indexOf(level)) write(`[${name}]`, ...args);
    };
  return {
    debug: at(LogLevel.DEBUG, (...args) => sink.debug(...args)),
    info: at(LogLevel.INFO, (...args) => sink.info(...args)),
    warn: at(LogLevel.WARN, (...args) => sink.warn(...args)),
    error: at(LogLevel.ERROR, (...args) => sink.error(...args)),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: (next) => {
      name = next;
    },
  };
}
