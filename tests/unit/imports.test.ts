// Proves the layering of the code: no import cycles; imports between parts run one way only (the CLI → qemu, the
// agent, the OS builder → the fetcher; inside the fetcher core ← formats ← source ← trust ← store ← debian ← publish/cli);
// and nothing reachable from the device bundle's entry (bootos/src/agent/main.ts) is publisher, CLI, OS-builder or
// QEMU code. Each rule is also checked against a graph with one bad edge added, so a rule that cannot fail fails.
import test from 'ava';
import { cycles, importGraph, reachable, type Graph } from '../support/imports.js';

const AGENT_ENTRY = 'bootos/src/agent/main.ts';

/** Parts from the bottom up: a file may import only from its own part or from a part ranked lower. */
const RANKS: [prefix: string, rank: number][] = [
  ['fetcher/src/core/', 0],
  ['fetcher/src/formats/', 1],
  ['fetcher/src/source/', 2],
  ['fetcher/src/trust/', 3],
  ['fetcher/src/store/', 4],
  // Debian packages (apt with private state, the input cache, unpacking): for the publisher and the OS builder.
  ['fetcher/src/debian/', 5],
  ['fetcher/src/publish/', 6],
  ['fetcher/src/cli/', 7],
  ['bootos/src/agent/', 8],
  ['bootos/src/os/', 8],
  ['qemu/src/', 9],
  ['kiosk/src/', 9],
  // The demo's parts (ports, data disk, steps): QEMU, the OS builder and the fetcher below them, its CLI verb above.
  ['bootos/src/demo/', 10],
  ['bootos/src/cli/', 11],
];

function partOf(file: string): [string, number] {
  const hit = RANKS.find(([prefix]) => file.startsWith(prefix));
  if (!hit) throw new Error(`${file} belongs to no part: add its folder to RANKS`);
  return hit;
}

function wrongWay(graph: Graph): string[] {
  const bad: string[] = [];
  for (const [file, targets] of graph) {
    const [part, rank] = partOf(file);
    for (const target of targets) {
      const [tPart, tRank] = partOf(target);
      if (tPart !== part && tRank >= rank) bad.push(`${file} → ${target}`);
    }
  }
  return bad;
}

/**
 * What the device must not carry. The one CLI file it may: the flag parser (fetcher/src/cli/kit.ts), because the
 * agent is itself a command (`bootos agent --config …`).
 */
const NOT_ON_DEVICE = [/^fetcher\/src\/publish\//, /^fetcher\/src\/debian\//, /^fetcher\/src\/cli\/(?!kit\.ts$)/, /^bootos\/src\/cli\//, /^bootos\/src\/demo\//, /^bootos\/src\/os\//, /^qemu\//, /^kiosk\//];

function publisherCodeOnDevice(graph: Graph): string[] {
  return [...reachable(graph, AGENT_ENTRY)].filter(([file]) => NOT_ON_DEVICE.some((re) => re.test(file))).map(([, chain]) => chain.join(' → '));
}

function withEdge(graph: Graph, from: string, to: string): Graph {
  const copy = new Map(graph);
  copy.set(from, [...(graph.get(from) ?? []), to]);
  return copy;
}

const graph = importGraph();

test('the graph is read: every part has files and the agent entry imports something', (t) => {
  for (const [prefix] of RANKS) t.true([...graph.keys()].some((f) => f.startsWith(prefix)), `no files under ${prefix}`);
  t.true((graph.get(AGENT_ENTRY) ?? []).length > 0);
  t.true([...graph.values()].every((targets) => targets.every((f) => graph.has(f))), 'every import names a source file');
});

test('no import cycles', (t) => {
  t.deepEqual(cycles(graph), []);
  t.deepEqual(cycles(withEdge(graph, 'fetcher/src/source/source.ts', 'fetcher/src/source/open-source.ts')).length, 1, 'an added back edge is a cycle');
});

test('imports between parts run one way', (t) => {
  t.deepEqual(wrongWay(graph), []);
  t.deepEqual(wrongWay(withEdge(graph, 'fetcher/src/formats/oci.ts', 'fetcher/src/publish/layout.ts')), ['fetcher/src/formats/oci.ts → fetcher/src/publish/layout.ts']);
});

test('the device bundle reaches no publisher, CLI, OS-builder or QEMU code', (t) => {
  t.deepEqual(publisherCodeOnDevice(graph), []);
  const bad = publisherCodeOnDevice(withEdge(graph, 'bootos/src/agent/api/api.ts', 'fetcher/src/publish/serve.ts'));
  t.true(bad.length > 0 && bad.every((chain) => chain.startsWith(AGENT_ENTRY)), 'an added import of the registry server is caught');
});
