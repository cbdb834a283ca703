import { pino, type Logger, type LevelWithSilent } from 'pino';

/** JSON logs, one line per event (stdout, or stderr for the CLI); `service` tells the processes apart. */
export function createLogger(service: string, level: LevelWithSilent, fd: 1 | 2 = 1): Logger {
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
    },
    pino.destination({ fd, sync: fd === 2 }),
  );
}
