/**
 * A process run in the background inside a namespace (`ip netns exec` execs the command, so the
 * child's pid is the command's): its output so far, its end awaited, and `stop()` by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

export interface Background {
  pid: number | undefined;
  /** stdout and stderr once it ended, or after `timeoutMs` (it is stopped then). */
  output(timeoutMs: number): Promise<string>;
  /** SIGKILL by pid when still running; resolves once it ended. */
  stop(): Promise<void>;
}

export function spawnInNamespace(netns: string, cmd: string, args: readonly string[]): Background {
  const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const ended = new Promise<void>((resolve) => {
    if (!running(child)) resolve();
    else child.once('close', () => resolve());
  });
  const stop = async () => {
    if (child.pid !== undefined && running(child)) process.kill(child.pid, 'SIGKILL');
    await ended;
  };
  return {
    pid: child.pid,
    async output(timeoutMs) {
      const timer = setTimeout(() => void stop(), timeoutMs);
      await ended;
      clearTimeout(timer);
      return text;
    },
    stop,
  };
}
