import { SingleBar } from 'cli-progress';

/**
 * A progress bar on stderr for a person watching; null when stderr is not a terminal, so
 * that a log file or a pipe gets no escape codes and stdout stays the result alone. The
 * cursor is left visible: a bar stopped by Ctrl-C would otherwise leave it hidden, and
 * catching SIGINT to restore it would keep Ctrl-C from ending the process.
 */
export function progressBar(stderr: NodeJS.WritableStream, stderrIsTTY: boolean, label: string): SingleBar | null {
  if (!stderrIsTTY) return null;
  return new SingleBar({
    stream: stderr,
    format: `${label} [{bar}] {value}/{total} {percentage}% · eta {eta_formatted}`,
    barCompleteChar: '#',
    barIncompleteChar: '.',
  });
}
