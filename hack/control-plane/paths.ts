// Where the local control plane keeps its files: the repository root, the default state
// directory, and the files every state directory holds.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_STATE_DIR = join(REPO_ROOT, '.cluster');

/** The state directory's record of what runs (state.ts reads and writes it). */
export const stateFile = (stateDir: string): string => join(stateDir, 'state.json');

/** Where a component started from the state directory writes its output. */
export const logFile = (stateDir: string, component: string): string => join(stateDir, 'logs', `${component}.log`);
