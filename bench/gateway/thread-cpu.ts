import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks (user, system) of a process's main thread and of its other threads (V8's GC and compiler threads, libuv's pool). */
export interface ThreadTicks {
  mainUser: number;
  mainSystem: number;
  otherUser: number;
  otherSystem: number;
}

function ticksOf(statPath: string): [number, number] {
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]), Number(fields[12])];
}

/** /proc/<pid>/task/<tid>/stat of every thread; the main thread's tid is the pid. Threads that exited meanwhile no longer count. */
export function threadTicks(pid: number): ThreadTicks {
  const ticks: ThreadTicks = { mainUser: 0, mainSystem: 0, otherUser: 0, otherSystem: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let user: number;
    let system: number;
    try {
      [user, system] = ticksOf(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      continue; // exited between the listing and the read
    }
    if (Number(tid) === pid) {
      ticks.mainUser += user;
      ticks.mainSystem += system;
    } else {
      ticks.otherUser += user;
      ticks.otherSystem += system;
    }
  }
  return ticks;
}

/** How the ticks between two readings split, as shares of their sum (0–1, two decimals). */
export function threadShares(before: ThreadTicks, after: ThreadTicks): ThreadTicks {
  const d = {
    mainUser: after.mainUser - before.mainUser,
    mainSystem: after.mainSystem - before.mainSystem,
    otherUser: after.otherUser - before.otherUser,
    otherSystem: after.otherSystem - before.otherSystem,
  };
  const sum = Math.max(1, d.mainUser + d.mainSystem + d.otherUser + d.otherSystem);
  const share = (n: number) => Math.round((Math.max(0, n) / sum) * 100) / 100;
  return { mainUser: share(d.mainUser), mainSystem: share(d.mainSystem), otherUser: share(d.otherUser), otherSystem: share(d.otherSystem) };
}
