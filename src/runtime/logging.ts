// Structured logs through winston: JSON by default (one object per line, for log pipelines),
// klog-style text with --log-format=text (time LEVEL message key=value ...). Components take child loggers that carry
// their own fields (controller, namespace/name, reconcileID, ...).
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'text';
export type Logger = winston.Logger;

export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export function createLogger(options: { level?: LogLevel; format?: LogFormat; silent?: boolean; stream?: NodeJS.WritableStream } = {}): Logger {
  const format =
    options.format === 'text'
      ? winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, ...fields }) => {
            const rest = Object.entries(fields)
              .filter(([key, value]) => value !== undefined && key !== 'stack')
              .map(([key, value]) => ` ${key}=${textValue(value)}`)
              .join('');
            // A stack (only ever for a bug, never for an API answer) goes on the lines below.
            const stack = typeof fields.stack === 'string' ? `\n${fields.stack}` : '';
            return `${String(timestamp)} ${level.toUpperCase().padEnd(5)} ${String(message)}${rest}${stack}`;
          }),
        )
      : winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json());
  return winston.createLogger({
    level: options.level ?? 'info',
    format,
    silent: options.silent ?? false,
    // stderr, like klog/zap: stdout stays free for command output.
    transports: [
      options.stream === undefined
        ? new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })
        : new winston.transports.Stream({ stream: options.stream }),
    ],
  });
}

/** klog's text values: bare when plain, quoted when they hold spaces or quotes, JSON for objects. */
function textValue(value: unknown): string {
  if (typeof value === 'string') {
    return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  }
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = createLogger({ silent: true });
