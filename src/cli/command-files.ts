/**
 * Which top-level commands each file in ./commands registers. A command line that names a command loads only
 * its file: `serve` then does not load the installer, the SDK generator or the dev endpoint (a cold start is
 * mostly module loading). Help, a missing or an unknown command loads every file, so `--help` lists them all
 * and commander reports unknown commands as before. A test checks this table against what the files register.
 */
export const COMMAND_FILES: Readonly<Record<string, readonly string[]>> = {
  apply: ['apply'],
  compose: ['compose'],
  config: ['config'],
  dev: ['dev'],
  install: ['install', 'remove'],
  job: ['job'],
  migrate: ['migrate'],
  plugins: ['list', 'info', 'docs'],
  sdk: ['sdk'],
  serve: ['serve'],
  stripe: ['stripe'],
  worker: ['worker'],
};

/** The command file that registers `command`, if one does. */
export function commandFileFor(command: string | undefined): string | undefined {
  if (command === undefined) return undefined;
  for (const [file, commands] of Object.entries(COMMAND_FILES)) if (commands.includes(command)) return file;
  return undefined;
}
