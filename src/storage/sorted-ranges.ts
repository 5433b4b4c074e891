/**
 * Finds, among items sorted by start whose ranges [start, end) do not overlap, the one holding
 * `key`; undefined when none does. Segment lists of data logs and indexes share it.
 */
export function findContaining<T>(
  items: readonly T[],
  key: number,
  start: (item: T) => number,
  end: (item: T) => number,
): T | undefined {
  let low = 0;
  let high = items.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const item = items[middle]!;
    if (key < start(item)) high = middle - 1;
    else if (key >= end(item)) low = middle + 1;
    else return item;
  }
  return undefined;
}
