/**
 * Performance marks the browser test reads (`performance.getEntriesByType('mark')`): when the
 * data arrived, when the layout was done, when the topology was on screen and answering input.
 * Each mark is set once per page load.
 */
const done = new Set<string>();

export function mark(name: string): void {
  if (done.has(name)) return;
  done.add(name);
  performance.mark(name);
}
