// A read-only Git server over smart HTTP: git's own `git http-backend` (CGI) behind a small Node
// HTTP server. The contract tests clone from it on 127.0.0.1 and the real node's pods on the
// bridge gateway address. Only fetches are served (git-upload-pack); pushes get 403, so what the
// pods see changes only through commits made on the host. Run as a process:
//   node --loader ts-node/esm hack/real-node/git-server.ts --root DIR --listen HOST:PORT
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** A fetch that takes longer than this is cut off (the demo's repositories are tiny). */
const BACKEND_TIMEOUT_MS = 60_000;

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain' });
  res.end(`${message}\n`);
}

function isFetch(req: IncomingMessage, url: URL): boolean {
  if (url.pathname.endsWith('/info/refs')) {
    return req.method === 'GET' && url.searchParams.get('service') === 'git-upload-pack';
  }
  return req.method === 'POST' && url.pathname.endsWith('/git-upload-pack');
}

function handle(projectRoot: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://git');
  if (url.pathname.includes('..') || !isFetch(req, url)) {
    refuse(res, 403, 'this Git server only serves fetches (git-upload-pack)');
    return;
  }
  const backend = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method,
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      ...(req.headers['content-length'] === undefined ? {} : { CONTENT_LENGTH: req.headers['content-length'] }),
      ...(req.headers['content-encoding'] === undefined ? {} : { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }),
      ...(req.headers['git-protocol'] === undefined ? {} : { GIT_PROTOCOL: String(req.headers['git-protocol']) }),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => backend.kill('SIGKILL'), BACKEND_TIMEOUT_MS);
  let stderr = '';
  backend.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  req.pipe(backend.stdin);
  backend.stdin.on('error', () => undefined);
  // CGI output: headers, a blank line, then the body.
  let head = Buffer.alloc(0);
  let headersDone = false;
  backend.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n');
    if (end < 0) {
      return;
    }
    const separator = head[end] === 0x0d ? 4 : 2;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString().split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) {
        continue;
      }
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') {
        status = Number.parseInt(value, 10) || 500;
      } else {
        headers[name] = value;
      }
    }
    res.writeHead(status, headers);
    headersDone = true;
    res.write(head.subarray(end + separator));
  });
  backend.on('close', (code) => {
    clearTimeout(timer);
    if (!headersDone) {
      refuse(res, 500, `git http-backend exited with ${code}: ${stderr.trim()}`);
      return;
    }
    res.end();
  });
  backend.on('error', (err) => {
    clearTimeout(timer);
    if (!res.headersSent) {
      refuse(res, 500, `cannot run git http-backend: ${err.message}`);
    }
  });
}

/** Serves the repositories under projectRoot at http://host:port/<name>.git; resolves once listening. */
export async function startGitServer(projectRoot: string, host: string, port: number): Promise<{ server: Server; url: string }> {
  const root = resolve(projectRoot);
  const server = createServer({ requestTimeout: 120_000, headersTimeout: 10_000 }, (req, res) => handle(root, req, res));
  server.maxConnections = 64;
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolvePromise());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  return { server, url: `http://${host}:${actual}` };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const usage = 'usage: git-server --root DIR --listen HOST:PORT';
  let values: { root?: string; listen?: string };
  try {
    values = parseArgs({ options: { root: { type: 'string' }, listen: { type: 'string' } } }).values;
  } catch (err) {
    console.error(`git-server: ${(err as Error).message}\n${usage}`);
    process.exit(2);
  }
  const match = /^(.+):(\d+)$/.exec(values.listen ?? '');
  if (values.root === undefined || match === null) {
    console.error(usage);
    process.exit(2);
  }
  const { url } = await startGitServer(values.root, match[1] ?? '', Number(match[2]));
  console.log(`git-server: serving ${values.root} read-only at ${url}`);
  const stop = (): void => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
