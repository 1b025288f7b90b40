// kubectl-podgroup: the kubectl plugin (`kubectl podgroup …` once this is on PATH). The rollout
// verbs kubectl has for Deployments, `why`, and `inject` (the webhook's mutation, offline).
// Usage errors print one line naming the flag plus the verb's usage and exit 2; kubectl's own
// "error: …" answers exit 1.
import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { integerFlag, normalizeBooleans, parseCommandLine, parseDuration, UsageError, usageFailure } from '../cli-args.js';
import { injectDocuments } from '../injection/manifests.js';
import { DEFAULT_GIT_SYNC_IMAGE, DEFAULT_LOG_COLLECTOR_IMAGE } from '../injection/mutate.js';
import { kubePluginClient, loadConfig, ServerError, type PluginClient } from './cluster.js';
import { historyVerb, pauseVerb, restartVerb, statusVerb, undoVerb, whyVerb } from './verbs.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL: Options = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};
const GLOBAL_HELP = `Global flags:
  -n, --namespace NS    the namespace (default: the context's, else "default")
      --kubeconfig FILE the kubeconfig (default: $KUBECONFIG, else ~/.kube/config)
      --context NAME    the kubeconfig context to use
  -h, --help            this help
`;

interface Verb {
  usage: string;
  options: Options;
  /** How many positional arguments (after the verb words) it takes. */
  args: number;
}

const VERBS: Record<string, Verb> = {
  'rollout status': {
    usage: `usage: kubectl podgroup rollout status NAME [--watch=true|false] [--timeout DURATION] [--revision N]
  Shows the status of the rollout, waiting until it is done (as kubectl rollout status deployment).
  Exits 1 when the progress deadline is exceeded or the timeout passes.
  -w, --watch           watch until the rollout is done (default true; --watch=false prints once)
      --timeout D       stop waiting after D (e.g. 5m); 0 waits forever (default 0)
      --revision N      pin to revision N (podgroup.dev/revision); exits 1 if another one runs
`,
    options: { watch: { type: 'boolean', short: 'w' }, timeout: { type: 'string' }, revision: { type: 'string' } },
    args: 1,
  },
  'rollout history': {
    usage: `usage: kubectl podgroup rollout history NAME [--revision N]
  Lists the revisions (ControllerRevisions) with their kubernetes.io/change-cause, or with
  --revision the pod template of one revision and the sidecars injected into its pods.
`,
    options: { revision: { type: 'string' } },
    args: 1,
  },
  'rollout undo': {
    usage: `usage: kubectl podgroup rollout undo NAME [--to-revision N] [--timeout DURATION]
  Rolls back to the previous revision, or to revision N. Sets the podgroup.dev/rollback-to
  annotation (the controller applies it) and waits until it is applied (default --timeout 30s).
`,
    options: { 'to-revision': { type: 'string' }, timeout: { type: 'string' } },
    args: 1,
  },
  'rollout pause': {
    usage: 'usage: kubectl podgroup rollout pause NAME\n  Pauses the rollout: template changes are not rolled out until resumed.\n',
    options: {},
    args: 1,
  },
  'rollout resume': { usage: 'usage: kubectl podgroup rollout resume NAME\n  Resumes a paused rollout.\n', options: {}, args: 1 },
  'rollout restart': {
    usage:
      'usage: kubectl podgroup rollout restart NAME\n  Replaces every pod through a rollout (sets kubectl.kubernetes.io/restartedAt on the pod template).\n',
    options: {},
    args: 1,
  },
  why: {
    usage: `usage: kubectl podgroup why NAME
  Why isn't it ready: conditions, the gang's verdict, Pending members with the scheduler's message,
  missed sidecar injections and recent Warning events, on one screen.
`,
    options: {},
    args: 1,
  },
  inject: {
    usage: `usage: kubectl podgroup inject -f FILE|- [--namespace-enabled] [--fallback] [--log-collector-image IMG] [--git-sync-image IMG]
  Prints the objects in FILE with the sidecars the podgroup webhook would inject (no cluster needed).
  --namespace-enabled   as if the namespace had the label sidecars.podgroup.dev/injection=enabled
  --fallback            as on a cluster without native sidecars (Kubernetes < 1.29)
`,
    options: {
      filename: { type: 'string', short: 'f' },
      'namespace-enabled': { type: 'boolean' },
      fallback: { type: 'boolean' },
      'log-collector-image': { type: 'string' },
      'git-sync-image': { type: 'string' },
    },
    args: 0,
  },
};

export function usage(verb?: string): string {
  if (verb !== undefined && VERBS[verb] !== undefined) {
    return `${VERBS[verb]?.usage ?? ''}\n${GLOBAL_HELP}`;
  }
  return `usage: kubectl podgroup COMMAND [flags]

Commands:
  rollout status NAME     wait for a rollout to finish
  rollout history NAME    list revisions, or show one (--revision N)
  rollout undo NAME       roll back to the previous revision (--to-revision N)
  rollout pause NAME      pause the rollout
  rollout resume NAME     resume a paused rollout
  rollout restart NAME    replace every pod through a rollout
  why NAME                why isn't it ready
  inject -f FILE          print FILE with the sidecars the webhook would inject

${GLOBAL_HELP}Run 'kubectl podgroup COMMAND --help' for a command's flags.
`;
}

export interface Invocation {
  verb: string;
  name: string;
  values: Record<string, string | boolean | undefined>;
}

const ALL_OPTIONS: Options = Object.assign({}, GLOBAL, ...Object.values(VERBS).map((v) => v.options)) as Options;
const BOOLEANS = Object.entries(ALL_OPTIONS)
  .filter(([, o]) => o.type === 'boolean')
  .map(([n]) => n);

/** Whether arg is a string flag whose value is the next argument ("-n NS", not "-n=NS"). */
function takesValue(arg: string | undefined): boolean {
  if (arg === undefined || !arg.startsWith('-') || arg.includes('=')) {
    return false;
  }
  const name = arg.replace(/^-+/, '');
  const option = arg.startsWith('--') ? ALL_OPTIONS[name] : Object.values(ALL_OPTIONS).find((o) => o.short === name);
  return option?.type === 'string';
}

/** Parses argv into a verb, its NAME and flags; 'help' for --help; UsageError for anything wrong. */
export function parseInvocation(argv: string[]): Invocation | { help: string } {
  let verbHint: string | undefined;
  const withVerb = (err: unknown): never => {
    throw Object.assign(err instanceof UsageError ? err : new UsageError(String(err)), { verb: verbHint });
  };
  let parsed;
  try {
    parsed = parseCommandLine({ args: normalizeBooleans(argv, BOOLEANS), options: ALL_OPTIONS, allowPositionals: true, allowNegative: true, tokens: true });
  } catch (err) {
    // Name the verb's usage when the words before the bad flag say which verb it is.
    const words = argv.filter((a, i) => !a.startsWith('-') && !takesValue(argv[i - 1]));
    const guess = words[0] === 'rollout' ? `rollout ${words[1] ?? ''}` : words[0];
    verbHint = guess !== undefined && VERBS[guess] !== undefined ? guess : undefined;
    return withVerb(err);
  }
  const words = parsed.positionals;
  const verb = words[0] === 'rollout' ? (words[1] === undefined ? 'rollout' : `rollout ${words[1]}`) : words[0];
  verbHint = verb !== undefined && VERBS[verb] !== undefined ? verb : undefined;
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) {
    return { help: usage(verbHint) };
  }
  if (verb === undefined) {
    return withVerb(new UsageError('a command is required'));
  }
  const spec = VERBS[verb];
  if (spec === undefined) {
    return withVerb(
      new UsageError(
        verb === 'rollout' ? 'rollout needs a subcommand: status, history, undo, pause, resume or restart' : `unknown command ${JSON.stringify(verb)}`,
      ),
    );
  }
  // Flags of another verb are unknown to this one.
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'option' && GLOBAL[token.name] === undefined && spec.options[token.name] === undefined) {
      return withVerb(new UsageError(`unknown flag ${token.rawName}`));
    }
  }
  const args = words.slice(verb.split(' ').length);
  if (args.length !== spec.args) {
    return withVerb(
      new UsageError(
        spec.args === 0
          ? `unexpected argument ${JSON.stringify(args[0])}`
          : args.length === 0
            ? 'NAME is required'
            : `expected one NAME, got ${args.length}: ${args.join(' ')}`,
      ),
    );
  }
  return { verb, name: args[0] ?? '', values };
}

/** A Go duration, or "0" (kubectl's "wait forever"). */
const durationMs = (flag: string, value: string): number => (value === '0' ? 0 : parseDuration(flag, value));
/** A non-negative integer flag, or `fallback` when absent. */
const countFlag = (flag: string, value: string | undefined, fallback: number): number =>
  value === undefined ? fallback : integerFlag(flag, value, { min: 0 });

export async function run(inv: Invocation, print: (text: string) => void, clientFor: () => PluginClient): Promise<number> {
  const v = inv.values;
  const str = (name: string): string | undefined => (typeof v[name] === 'string' ? (v[name] as string) : undefined);
  switch (inv.verb) {
    case 'rollout status':
      return statusVerb(
        clientFor(),
        inv.name,
        { watch: v.watch !== false, timeoutMs: durationMs('timeout', str('timeout') ?? '0'), revision: countFlag('revision', str('revision'), 0) },
        print,
      );
    case 'rollout history':
      return historyVerb(clientFor(), inv.name, countFlag('revision', str('revision'), 0), print);
    case 'rollout undo':
      return undoVerb(
        clientFor(),
        inv.name,
        { toRevision: countFlag('to-revision', str('to-revision'), 0), timeoutMs: durationMs('timeout', str('timeout') ?? '30s') },
        print,
      );
    case 'rollout pause':
      return pauseVerb(clientFor(), inv.name, true, print);
    case 'rollout resume':
      return pauseVerb(clientFor(), inv.name, false, print);
    case 'rollout restart':
      return restartVerb(clientFor(), inv.name, new Date(), print);
    case 'why':
      return whyVerb(clientFor(), inv.name, new Date(), print);
    case 'inject': {
      const file = str('filename');
      if (file === undefined) {
        throw new UsageError('-f/--filename is required');
      }
      print(
        injectDocuments(readFileSync(file === '-' ? 0 : file, 'utf8'), {
          namespaceEnabled: v['namespace-enabled'] === true,
          settings: {
            logCollectorImage: str('log-collector-image') ?? DEFAULT_LOG_COLLECTOR_IMAGE,
            gitSyncImage: str('git-sync-image') ?? DEFAULT_GIT_SYNC_IMAGE,
            nativeSidecars: v.fallback !== true,
          },
        }),
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(inv.verb)}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let inv: Invocation | { help: string } | undefined;
  try {
    inv = parseInvocation(argv);
    if ('help' in inv) {
      process.stdout.write(inv.help);
      return 0;
    }
    const flags = inv.values;
    const connection = {
      kubeconfig: typeof flags.kubeconfig === 'string' ? flags.kubeconfig : undefined,
      context: typeof flags.context === 'string' ? flags.context : undefined,
      namespace: typeof flags.namespace === 'string' ? flags.namespace : undefined,
    };
    return await run(
      inv,
      (text) => process.stdout.write(text),
      () => {
        const { kc, namespace } = loadConfig(connection);
        return kubePluginClient(kc, namespace);
      },
    );
  } catch (err) {
    if (err instanceof UsageError) {
      const verb = (err as { verb?: string }).verb ?? (inv !== undefined && !('help' in inv) ? inv.verb : undefined);
      return usageFailure('kubectl-podgroup', err, usage(verb));
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(err instanceof ServerError ? `${message}\n` : `error: ${message}\n`);
    return 1;
  }
}
