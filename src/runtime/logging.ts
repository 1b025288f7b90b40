// Structured logs through winston: JSON by default (one object per line, for log pipelines),
// human-readable text with --log-format=text. Components take child loggers that carry
// their own fields (controller, namespace/name, reconcileID, ...).
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'text';
export type Logger = winston.Logger;

export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export function createLogger(options: { level?: LogLevel; format?: LogFormat; silent?: boolean } = {}): Logger {
  const format =
    options.format === 'text'
      ? winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, ...fields }) => {
            const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
            return `${String(timestamp)} ${level.toUpperCase().padEnd(5)} ${String(message)}${rest}`;
          }),
        )
      : winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json());
  return winston.createLogger({
    level: options.level ?? 'info',
    format,
    silent: options.silent ?? false,
    // stderr, like klog/zap: stdout stays free for command output.
    transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
  });
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = createLogger({ silent: true });
