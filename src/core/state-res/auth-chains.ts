// Auth chain computations for state resolution v2 and v2.1: the auth difference
// and the conflicted state subgraph. Events are integer indices of an AuthGraph.

import type { StateKey, StateMap } from '../pdu.js';
import type { AuthChainSource, AuthGraph } from './context.js';

/**
 * Marks every event in the auth chains of `starts` (not the starts themselves)
 * in `into`. Events in `stop` are skipped: it must be closed under auth chains,
 * so whatever lies behind them is already accounted for.
 */
export function walkAuthChains(graph: AuthGraph, starts: Iterable<number>, into: Set<number>, stop?: ReadonlySet<number>): void {
  const stack: number[] = [];
  for (const s of starts) for (const a of graph.authEdges(s)) stack.push(a);
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (into.has(x) || stop?.has(x)) continue;
    into.add(x);
    for (const a of graph.authEdges(x)) {
      if (!into.has(a) && !stop?.has(a)) stack.push(a);
    }
  }
}

/**
 * spec: rooms/v2 "Auth difference": ∪Cᵢ − ∩Cᵢ, where Cᵢ is the full auth chain
 * of state set Sᵢ.
 *
 * The unconflicted events are in every Sᵢ, so the union U of their auth chains is
 * in every Cᵢ. Writing Cᵢ = U ∪ Aᵢ, with Aᵢ the auth chains of Sᵢ's conflicted
 * events, the difference is (∪Aᵢ − ∩Aᵢ) − U: U is walked once, and only the
 * conflicted events' chains are walked per state set, stopping where they meet U.
 */
export function authDifference(
  graph: AuthGraph,
  stateSets: readonly StateMap[],
  unconflicted: ReadonlyMap<StateKey, string>,
  conflictedKeys: Iterable<StateKey>,
  source?: AuthChainSource,
): Set<number> {
  const n = stateSets.length;
  const counts = new Map<number, number>();
  const count = (x: number): void => {
    counts.set(x, (counts.get(x) ?? 0) + 1);
  };

  if (source !== undefined && typeof source !== 'function') {
    // Precomputed full auth chain per state set: count membership directly.
    for (const chain of source) for (const id of chain) count(graph.intern(id));
  } else {
    const keys = [...conflictedKeys];
    const conflictedOf = (set: StateMap): number[] => {
      const out: number[] = [];
      for (const k of keys) {
        const id = set.get(k);
        if (id !== undefined) out.push(graph.intern(id));
      }
      return out;
    };
    const common = new Set<number>();
    if (source === undefined) {
      walkAuthChains(graph, Array.from(unconflicted.values(), (id) => graph.intern(id)), common);
      for (const set of stateSets) {
        const chain = new Set<number>();
        walkAuthChains(graph, conflictedOf(set), chain, common);
        for (const x of chain) count(x);
      }
    } else {
      for (const id of unconflicted.values()) for (const a of source(id)) common.add(graph.intern(a));
      for (const set of stateSets) {
        const chain = new Set<number>();
        for (const c of conflictedOf(set)) {
          for (const a of source(graph.id(c))) {
            const x = graph.intern(a);
            if (!common.has(x)) chain.add(x);
          }
        }
        for (const x of chain) count(x);
      }
    }
  }

  const difference = new Set<number>();
  for (const [x, c] of counts) if (c < n) difference.add(x);
  return difference;
}

/**
 * spec: rooms/v12 "Conflicted state subgraph": every event on an `auth_events`
 * path from one conflicted event to another, endpoints included.
 *
 * An event is on such a path iff it is in the (reflexive) auth chain of some
 * conflicted event and some conflicted event is in its own (reflexive) auth
 * chain. One post-order walk down from the conflicted events decides the second
 * condition for every event the walk reaches, which are exactly the first.
 */
export function conflictedStateSubgraph(graph: AuthGraph, conflicted: readonly number[]): Set<number> {
  const isConflicted = new Set(conflicted);
  const visited = new Set<number>();
  const onPath = new Set<number>();
  const nodes: number[] = [];
  const cursor: number[] = [];
  for (const c of conflicted) {
    if (visited.has(c)) continue;
    visited.add(c);
    nodes.push(c);
    cursor.push(0);
    while (nodes.length > 0) {
      const top = nodes.length - 1;
      const x = nodes[top];
      const edges = graph.authEdges(x);
      const p = cursor[top];
      if (p < edges.length) {
        cursor[top] = p + 1;
        const y = edges[p];
        if (!visited.has(y)) {
          visited.add(y);
          nodes.push(y);
          cursor.push(0);
        }
        continue;
      }
      nodes.pop();
      cursor.pop();
      if (isConflicted.has(x) || edges.some((y) => onPath.has(y))) onPath.add(x);
    }
  }
  return onPath;
}
