// Text from outside (files' lines, names in them, arguments, settings) as it may be printed on a terminal.
// C0 controls but tab and newline, DEL and the C1 controls: ESC starts terminal sequences (colours, cursor moves,
// window titles, OSC 8 links, clipboard writes), a raw C1 CSI (U+009B) does on some terminals, CR overwrites a line.
const CONTROL = /\p{Cc}/gu;
const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text from outside (a file's lines, names in it, an argument) as it may be printed on a terminal: every control
 * character but tab and newline is written as its `\u001b` escape, so it is seen rather than obeyed.
 */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL, (c) => (c === '\t' || c === '\n' ? c : escaped(c)));
}

/**
 * JSON with DEL and the C1 controls written as `\u` escapes too (JSON.stringify escapes only C0): the same document,
 * safe to print on a terminal whatever the files held.
 */
export function jsonTerminalSafe(json: string): string {
  return json.replace(/[\u007f-\u009f]/g, escaped);
}
