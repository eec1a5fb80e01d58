// The reasoning path as an inline SVG graph: a deterministic layered layout (columns left to
// right, rows ordered to keep edges short) and its drawing. No library: the page works
// offline and the same record always draws the same picture (the browser test relies on it).
// Every label comes from the knowledge graph, so it is data: it only ever reaches the page
// through textContent and setAttribute, never as markup.
"use strict";

const KGGraph = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const NODE_H = 30;
  const ROW_GAP = 16;
  const MARGIN = 20;
  const CHAR_W = 7.4; // px per character of a 13px node label (estimated: no text measuring)
  const EDGE_CHAR_W = 6.2; // px per character of an 11px edge label
  const PAD_X = 12;
  const MIN_NODE_W = 56;
  const MAX_NODE_CHARS = 34;
  const MAX_EDGE_CHARS = 30;
  const MIN_GAP = 110;

  const clip = (text, max) => (text.length > max ? text.slice(0, max - 1) + "…" : text);

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function title(text) {
    const t = svg("title");
    t.textContent = text;
    return t;
  }

  // Undirected adjacency over the node ids (edges to unknown ids are ignored).
  function adjacency(nodes, edges) {
    const adj = new Map(nodes.map((n) => [n.id, []]));
    for (const e of edges) {
      if (adj.has(e.source) && adj.has(e.target) && e.source !== e.target) {
        adj.get(e.source).push(e.target);
        adj.get(e.target).push(e.source);
      }
    }
    return adj;
  }

  // Hops from the topic (breadth first); parts the topic does not reach start their own count
  // from their first node, so every node gets a distance.
  function distances(nodes, adj) {
    const dist = new Map();
    const walk = (starts) => {
      const queue = [...starts];
      for (const s of starts) dist.set(s, 0);
      while (queue.length) {
        const u = queue.shift();
        for (const v of adj.get(u)) {
          if (!dist.has(v)) {
            dist.set(v, dist.get(u) + 1);
            queue.push(v);
          }
        }
      }
    };
    const topics = nodes.filter((n) => n.role === "topic").map((n) => n.id);
    if (topics.length) walk(topics);
    for (const n of nodes) if (!dist.has(n.id)) walk([n.id]);
    return dist;
  }

  // An answer record's graph in columns: the topic on the left, every answer in one column on
  // the right (the farthest any answer is from the topic), the hops in between; a node beyond
  // the answers (a value a constraint read) stays right of them. Edges on a shortest way from
  // the topic to an answer are the answer's own ("onPath").
  function answerLayout(graph) {
    const nodes = graph.nodes || [];
    const edges = graph.edges || [];
    const adj = adjacency(nodes, edges);
    const dist = distances(nodes, adj);
    const answers = nodes.filter((n) => n.role === "answer");
    const answerCol = answers.length ? Math.max(...answers.map((n) => dist.get(n.id))) : 0;
    const col = new Map(
      nodes.map((n) => [n.id, n.role === "answer" ? answerCol : dist.get(n.id)])
    );
    const onPath = new Set(answers.map((n) => n.id));
    const byDistance = [...nodes].sort((a, b) => dist.get(b.id) - dist.get(a.id));
    for (const n of byDistance) {
      if (!onPath.has(n.id)) continue;
      for (const v of adj.get(n.id)) if (dist.get(v) === dist.get(n.id) - 1) onPath.add(v);
    }
    const hot = (e) =>
      onPath.has(e.source) &&
      onPath.has(e.target) &&
      Math.abs(dist.get(e.source) - dist.get(e.target)) === 1;
    return {
      nodes: nodes.map((n) => ({ ...n, col: col.get(n.id) })),
      edges: edges.filter((e) => adj.has(e.source) && adj.has(e.target)).map((e) => ({ ...e, hot: hot(e) })),
    };
  }

  // Rows within each column: the first column in the record's order, every next one by the
  // mean position of its neighbours in the columns before it (ties keep the record's order).
  function placeRows(nodes, edges) {
    const used = [...new Set(nodes.map((n) => n.col))].sort((a, b) => a - b);
    const compact = new Map(used.map((c, i) => [c, i])); // no empty columns
    const order = new Map(nodes.map((n, i) => [n.id, i]));
    const adj = adjacency(nodes, edges);
    const columns = used.map(() => []);
    for (const n of nodes) columns[compact.get(n.col)].push(n);
    const pos = new Map();
    columns.forEach((members, c) => {
      if (c > 0) {
        const key = (n) => {
          const seen = adj.get(n.id).filter((v) => pos.has(v)).map((v) => pos.get(v));
          return seen.length ? seen.reduce((a, b) => a + b, 0) / seen.length : Infinity;
        };
        const keys = new Map(members.map((n) => [n.id, key(n)]));
        members.sort((a, b) => {
          const ka = keys.get(a.id);
          const kb = keys.get(b.id);
          if (ka !== kb) return ka === Infinity ? 1 : kb === Infinity ? -1 : ka - kb;
          return order.get(a.id) - order.get(b.id);
        });
      }
      members.forEach((n, row) => pos.set(n.id, row - (members.length - 1) / 2));
    });
    return columns;
  }

  // Node boxes and column positions in pixels; the gap after each column fits its edge labels.
  function geometry(columns, edges) {
    const box = new Map();
    const widthOf = (label) =>
      Math.max(MIN_NODE_W, Math.ceil(clip(label, MAX_NODE_CHARS).length * CHAR_W + 2 * PAD_X));
    const colOf = new Map();
    columns.forEach((members, c) => members.forEach((n) => colOf.set(n.id, c)));
    const colW = columns.map((members) => Math.max(...members.map((n) => widthOf(n.label))));
    const gaps = columns.map((_, c) => {
      const labels = edges
        .filter((e) => Math.min(colOf.get(e.source), colOf.get(e.target)) === c)
        .map((e) => clip(e.label, MAX_EDGE_CHARS).length);
      return Math.max(MIN_GAP, Math.max(0, ...labels) * EDGE_CHAR_W + 48);
    });
    const colX = [];
    let x = MARGIN;
    columns.forEach((_, c) => {
      colX.push(x);
      x += colW[c] + gaps[c];
    });
    const heights = columns.map((m) => m.length * (NODE_H + ROW_GAP) - ROW_GAP);
    const inner = Math.max(...heights);
    columns.forEach((members, c) => {
      const top = MARGIN + (inner - heights[c]) / 2;
      members.forEach((n, row) => {
        const w = widthOf(n.label);
        box.set(n.id, {
          x: colX[c] + (colW[c] - w) / 2,
          y: top + row * (NODE_H + ROW_GAP),
          w,
          h: NODE_H,
          col: c,
        });
      });
    });
    const last = columns.length - 1;
    // Room on the right for edges that bend out of the last column.
    const width = colX[last] + colW[last] + MARGIN + 60;
    return { box, width, height: inner + 2 * MARGIN };
  }

  // The point at `t` (0..1) of the cubic curve p0 c1 c2 p3.
  function pointAt(p0, c1, c2, p3, t) {
    const u = 1 - t;
    const at = (i) => u * u * u * p0[i] + 3 * u * u * t * c1[i] + 3 * u * t * t * c2[i] + t * t * t * p3[i];
    return { x: at(0), y: at(1) };
  }

  // A cubic curve from one box to another, bent apart from its parallel edges by `offset`;
  // its label goes at `at` along it (nearer the end where edges fan out, so that the labels
  // of a fan spread with it instead of piling up where the edges meet).
  function curve(s, t, offset, at) {
    const sy = s.y + s.h / 2 + offset / 3;
    const ty = t.y + t.h / 2 + offset / 3;
    if (s === t) {
      const x = s.x + s.w / 2;
      const d = `M ${x - 10} ${s.y} C ${x - 30} ${s.y - 40 - offset}, ${x + 30} ${s.y - 40 - offset}, ${x + 10} ${s.y}`;
      return { d, mid: { x, y: s.y - 30 - offset } };
    }
    let x1;
    let x2;
    let c1;
    let c2;
    if (s.col === t.col) {
      x1 = s.x + s.w;
      x2 = t.x + t.w;
      const bend = Math.max(x1, x2) + 50 + Math.abs(offset);
      c1 = [bend, sy];
      c2 = [bend, ty];
    } else {
      const forward = s.col < t.col;
      x1 = forward ? s.x + s.w : s.x;
      x2 = forward ? t.x : t.x + t.w;
      const dx = (x2 - x1) / 2;
      c1 = [x1 + dx, sy + offset];
      c2 = [x2 - dx, ty + offset];
    }
    const d = `M ${x1} ${sy} C ${c1[0]} ${c1[1]}, ${c2[0]} ${c2[1]}, ${x2} ${ty}`;
    return { d, mid: pointAt([x1, sy], c1, c2, [x2, ty], s.col === t.col ? 0.5 : at) };
  }

  function arrowDefs() {
    const defs = svg("defs");
    for (const name of ["arrow", "arrow-hot"]) {
      const marker = svg("marker", {
        id: name,
        class: name,
        viewBox: "0 0 10 10",
        refX: 9,
        refY: 5,
        markerUnits: "userSpaceOnUse", // the same head on thin and highlighted edges
        markerWidth: 9,
        markerHeight: 9,
        orient: "auto-start-reverse",
      });
      marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
      defs.append(marker);
    }
    return defs;
  }

  // Draws {nodes: [{id, label, role, col}], edges: [{source, target, label, fact, hot, title}]}
  // into `container` (replacing what was there). Options: onNode(node) for entity nodes (not
  // values), onEdgeHover(fact, on) for edges that cite a fact.
  function draw(container, layout, options) {
    const opts = options || {};
    container.replaceChildren();
    if (!layout.nodes.length) return null;
    const columns = placeRows(layout.nodes, layout.edges);
    const { box, width, height } = geometry(columns, layout.edges);
    const root = svg("svg", {
      width: Math.ceil(width),
      height: Math.ceil(height),
      viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
      role: "img",
      "aria-label": opts.label || "graph",
    });
    root.append(arrowDefs());

    const edgeLayer = svg("g", { class: "edges" });
    const pairs = new Map();
    for (const e of layout.edges) {
      const key = [e.source, e.target].sort().join("\u0000");
      pairs.set(key, (pairs.get(key) || []).concat([e]));
    }
    const colSize = columns.map((members) => members.length);
    for (const group of pairs.values()) {
      group.forEach((e, k) => {
        const offset = (k - (group.length - 1) / 2) * 22;
        const s = box.get(e.source);
        const t = box.get(e.target);
        const [sn, tn] = [colSize[s.col], colSize[t.col]];
        const { d, mid } = curve(s, t, offset, sn > tn ? 0.3 : tn > sn ? 0.7 : 0.5);
        const g = svg("g", { class: e.hot ? "edge hot" : "edge" });
        if (e.fact != null) g.setAttribute("data-fact", e.fact);
        g.append(title(e.title || e.label));
        g.append(svg("path", { class: "hit", d }));
        g.append(svg("path", { class: "line", d, "marker-end": `url(#${e.hot ? "arrow-hot" : "arrow"})` }));
        const text = svg("text", { class: "edge-label", x: mid.x, y: mid.y - 4, "text-anchor": "middle" });
        text.textContent = clip(e.label, MAX_EDGE_CHARS);
        g.append(text);
        if (e.fact != null && opts.onEdgeHover) {
          g.addEventListener("mouseenter", () => opts.onEdgeHover(e.fact, true));
          g.addEventListener("mouseleave", () => opts.onEdgeHover(e.fact, false));
        }
        edgeLayer.append(g);
      });
    }
    root.append(edgeLayer);

    const nodeLayer = svg("g", { class: "nodes" });
    for (const members of columns) {
      for (const n of members) {
        const b = box.get(n.id);
        const value = n.role === "value" || n.id.startsWith("literal:");
        const g = svg("g", {
          class: `node node-${n.role}`,
          transform: `translate(${b.x} ${b.y})`,
          "data-id": n.id,
          "data-role": n.role,
          "data-label": n.label,
        });
        g.append(title(value ? n.label : `${n.label}\n${n.id}`));
        g.append(svg("rect", { width: b.w, height: b.h, rx: value ? b.h / 2 : 5 }));
        const text = svg("text", { x: b.w / 2, y: b.h / 2, "text-anchor": "middle", "dominant-baseline": "central" });
        text.textContent = clip(n.label, MAX_NODE_CHARS);
        g.append(text);
        if (!value && opts.onNode) {
          g.classList.add("clickable");
          g.setAttribute("tabindex", "0");
          g.setAttribute("role", "button");
          g.setAttribute("aria-label", `Show the neighbourhood of ${n.label}`);
          g.addEventListener("click", () => opts.onNode(n));
          g.addEventListener("keydown", (ev) => {
            if (ev.key === "Enter" || ev.key === " ") {
              ev.preventDefault();
              opts.onNode(n);
            }
          });
        }
        nodeLayer.append(g);
      }
    }
    root.append(nodeLayer);
    container.append(root);
    return root;
  }

  // An entity's neighbourhood from GET /v1/entity: the facts it is the object of come in from
  // the left, the facts it is the subject of go out to the right.
  function neighbourhoodLayout(entity) {
    const nodes = new Map();
    const edges = [];
    const add = (id, label, role, col) => {
      if (!nodes.has(id)) nodes.set(id, { id, label, role, col });
      return id;
    };
    add(entity.iri, entity.label || entity.iri, "focus", 1);
    for (const f of entity.facts || []) {
      const objectId = f.object_is_literal ? `literal:${f.object}` : f.object;
      const objectRole = f.object_is_literal ? "value" : "hop";
      let source;
      let target;
      if (f.subject === entity.iri) {
        source = entity.iri;
        target = add(objectId, f.object_label || f.object, objectRole, 2);
      } else {
        source = add(f.subject, f.subject_label || f.subject, "hop", 0);
        target = objectId === entity.iri ? entity.iri : add(objectId, f.object_label, objectRole, 2);
      }
      edges.push({ source, target, label: f.predicate_label || f.predicate, title: f.text, hot: false });
    }
    return { nodes: [...nodes.values()], edges };
  }

  return { answerLayout, neighbourhoodLayout, draw };
})();
