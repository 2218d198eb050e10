// "Did you mean …?" for a misspelt flag, verb, key or field: the closest of the known words by edit distance, if close.

/** Levenshtein distance (insertions, deletions, substitutions; a swap of two neighbours counts as one). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      // Transposition (Damerau): "regsitry" is one slip away from "registry", not two.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known word nearest to `word`, when it is near enough to be a slip (at most a third of its letters, and at
 * least one); a word that starts the input (`reg` for `registry`) counts too. Undefined when nothing is close.
 */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3))) return best;
  return known.find((k) => word.length >= 3 && k.startsWith(word));
}

/** " (did you mean X?)", or "" when nothing is close. */
export function didYouMean(word: string, known: readonly string[], show: (k: string) => string = (k) => k): string {
  const match = closest(word, known);
  return match === undefined ? '' : ` (did you mean ${show(match)}?)`;
}
