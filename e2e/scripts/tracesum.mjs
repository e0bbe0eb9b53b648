// tracesum.mjs summarises a Chrome trace of the game page (perf_test.go,
// E2E_TRACE=1): on the page's main thread, the time in each kind of work
// (script, style, layout, paint, GC, …) over all tasks and over the long
// ones (> 50 ms), and the longest tasks with what filled them.
//
//   node e2e/scripts/tracesum.mjs [--cpu] e2e/artifacts/TestThousandBodiesLongTasks/page-trace.json
import fs from 'node:fs';

const raw = JSON.parse(fs.readFileSync(process.argv.filter((a) => !a.startsWith('--'))[2], 'utf8'));
const events = Array.isArray(raw) ? raw : raw.traceEvents;
const main = events.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain' &&
  events.some((x) => x.pid === e.pid && x.tid === e.tid && x.name === 'FunctionCall'));
if (main === undefined) throw new Error('no renderer main thread with script in this trace');
const onMain = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur !== undefined);
// Tasks: the outermost RunTask events (Chrome nests a RunTask in a
// ThreadControllerImpl::RunTask).
const tasks = [];
for (const e of onMain.filter((e) => e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask').sort((a, b) => a.ts - b.ts || b.dur - a.dur)) {
  const last = tasks[tasks.length - 1];
  if (last === undefined || e.ts >= last.ts + last.dur) tasks.push(e);
}
// Kinds of work: the outermost event of each name inside a task.
const kinds = ['FunctionCall', 'EvaluateScript', 'v8.run', 'TimerFire', 'FireAnimationFrame', 'EventDispatch',
  'UpdateLayoutTree', 'Layout', 'PrePaint', 'Paint', 'Layerize', 'UpdateLayer', 'Commit', 'HitTest',
  'MajorGC', 'MinorGC', 'V8.GC_SCAVENGER', 'BlinkGC.AtomicPhase', 'ParseHTML'];
const inside = (t, e) => e.ts >= t.ts && e.ts + e.dur <= t.ts + t.dur;
// Wall time (dur) by default; --cpu sums the main thread's CPU time
// (tdur), which other processes on a busy machine disturb less.
const cpu = process.argv.includes('--cpu');
const len = (e) => (cpu ? e.tdur ?? e.dur : e.dur);
function breakdown(list) {
  const sum = Object.fromEntries(kinds.map((k) => [k, 0]));
  let total = 0;
  for (const t of list) {
    total += len(t);
    const evs = onMain.filter((e) => e !== t && kinds.includes(e.name) && inside(t, e)).sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    // Count only outermost events, so nested ones are not counted twice.
    let end = -1;
    for (const e of evs) {
      if (e.ts < end) continue;
      sum[e.name] += len(e);
      end = e.ts + e.dur;
    }
  }
  return { total, sum };
}
const ms = (us) => (us / 1000).toFixed(1);
const span = tasks.length === 0 ? 0 : tasks[tasks.length - 1].ts + tasks[tasks.length - 1].dur - tasks[0].ts;
for (const [label, list] of [['all tasks', tasks], ['long tasks (> 50 ms)', tasks.filter((t) => t.dur > 50_000)]]) {
  const { total, sum } = breakdown(list);
  console.log(`${label}: ${list.length}, ${ms(total)} ms ${cpu ? 'CPU' : 'wall'} of ${ms(span)} ms traced`);
  for (const [k, v] of Object.entries(sum).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(20)} ${ms(v).padStart(9)} ms`);
}
console.log('longest tasks:');
for (const t of [...tasks].sort((a, b) => b.dur - a.dur).slice(0, 8)) {
  const { sum } = breakdown([t]);
  console.log(`  ${ms(t.dur)} ms: ` + Object.entries(sum).filter(([, v]) => v > 1000).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${ms(v)}`).join(', '));
}
