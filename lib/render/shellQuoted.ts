// Commands printed for a person to paste: each argument quoted for a POSIX shell where it needs it, so a path or name
// with spaces, quotes or `$(…)` in it is one argument and never shell text.

export function shellQuoted(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
