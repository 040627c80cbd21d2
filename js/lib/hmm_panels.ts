// The hmm family's snapshot panel: a step slider over the EM iterations' records (follows the
// latest by default), the transition matrix as a heatmap (a table: its states kept in one order
// between iterations) with the true matrix beside it and the largest errors after matching when
// the parameters are known, the emissions per state (top symbols, or means), the record's sample
// and the restarts' leaderboard.
import { type Cleanup, ErrorArea, h, type Model, Subscriptions } from "./util";

/** White (0) -> dark blue (1), as genai_widgets/widgets/hmm/dashboard.py `heat_color`. */
export function heatColor(p: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(p) ? p : 0));
  return `rgb(${Math.round(255 - 247 * x)},${Math.round(255 - 207 * x)},${Math.round(255 - 148 * x)})`;
}

/** A symbol as the emissions panel shows it: a space as ␣, control characters escaped (\\n). */
export function symbolText(symbol: string): string {
  if (symbol === " ") return "\u2423";
  return JSON.stringify(symbol).slice(1, -1) || "\u2205";
}

function fmt(value: unknown, digits = 3): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

/** One K x K matrix of probabilities as a table of coloured cells (values shown when they fit). */
function heatmap(matrix: number[][], title: string, kind: string): HTMLElement {
  const k = matrix.length;
  const cell = Math.max(8, Math.min(44, Math.floor(260 / Math.max(1, k))));
  const table = h("table", { class: `gw-hmm-heatmap gw-hmm-heatmap-${kind}` });
  table.dataset.size = String(k);
  const header = h("tr", {}, [h("th", { text: "" })]);
  for (let j = 0; j < k; j++) header.append(h("th", { text: k <= 12 ? String(j) : "" }));
  table.append(header);
  matrix.forEach((row, i) => {
    const tr = h("tr", {}, [h("th", { text: k <= 12 ? String(i) : "" })]);
    row.forEach((p, j) => {
      const td = h("td", { class: "gw-hmm-cell", title: `${i} -> ${j}: ${fmt(p, 4)}`,
        text: cell >= 30 ? fmt(p, 2) : "",
        style: { background: heatColor(p), color: p > 0.5 ? "#fff" : "#222",
          width: `${cell}px`, height: `${cell}px` } });
      tr.append(td);
    });
    table.append(tr);
  });
  return h("figure", { class: "gw-hmm-figure" }, [h("figcaption", { class: "gw-muted", text: title }), table]);
}

/** A state's colour in the posterior ribbon and the Viterbi path (by its display position). */
export function stateColor(position: number, k: number): string {
  return `hsl(${Math.round((360 * position) / Math.max(1, k)) % 360}, 65%, ${k > 12 && position % 2 ? 38 : 52}%)`;
}

interface Passage { posterior: number[][]; viterbi: number[]; symbols: string[] | null }

/** The held-out passage: a stacked ribbon of each symbol's state posteriors (a canvas), the
 * Viterbi path as a strip under it, and the symbols coloured by their Viterbi state. */
function ribbon(passage: Passage, k: number): HTMLElement {
  const n = passage.posterior.length;
  const w = Math.max(4, Math.min(12, Math.floor(640 / Math.max(1, n))));
  const height = 60;
  const canvas = h("canvas", { class: "gw-hmm-ribbon" }) as HTMLCanvasElement;
  canvas.width = n * w;
  canvas.height = height + 10;
  const ctx = canvas.getContext("2d");
  if (ctx) {
    passage.posterior.forEach((row, t) => {
      let y = height;
      row.forEach((p, s) => {
        const dy = Math.max(0, Number(p) || 0) * height;
        if (dy <= 0) return;
        ctx.fillStyle = stateColor(s, k);
        ctx.fillRect(t * w, y - dy, w, dy);
        y -= dy;
      });
      ctx.fillStyle = stateColor(passage.viterbi[t] ?? 0, k);
      ctx.fillRect(t * w, height + 3, w, 7);
    });
  }
  const parts: HTMLElement[] = [canvas];
  if (Array.isArray(passage.symbols)) {
    const text = h("div", { class: "gw-hmm-passage" });
    passage.symbols.forEach((symbol, t) => {
      const state = passage.viterbi[t] ?? 0;
      text.append(h("span", { class: "gw-hmm-passage-symbol", title: `state ${state}`,
        text: symbol === "\n" ? "\u21b5" : symbol, style: { color: stateColor(state, k) } }));
    });
    parts.push(text);
  }
  const box = h("div", { class: "gw-hmm-ribbon-box" }, parts);
  box.dataset.symbols = String(n);
  return box;
}

export function mountHMMSnapshotPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const slider = h("input", { type: "range", min: "0", max: "0", step: "1", class: "gw-hmm-slider" });
  const follow = h("input", { type: "checkbox" });
  const label = h("span", { class: "gw-muted gw-hmm-label" });
  const empty = h("div", { class: "gw-muted gw-hmm-empty", text: "no snapshot yet (one per EM iteration)" });
  const maps = h("div", { class: "gw-row gw-hmm-maps" });
  const matched = h("div", { class: "gw-hmm-errors" });
  const emissions = h("div", { class: "gw-hmm-emissions" });
  const sample = h("pre", { class: "gw-text-sample gw-hmm-sample" });
  const board = h("div", { class: "gw-hmm-leaderboard" });
  const passageTitle = h("div", { class: "gw-panel-title",
    text: "Held-out passage: state posteriors (ribbon), Viterbi path (strip) and symbols by state" });
  const passage = h("div", { class: "gw-hmm-passage-panel" });
  const title = (text: string) => h("div", { class: "gw-panel-title", text });
  el.append(h("div", { class: "gw-row" }, [slider, h("label", {}, [follow, " follow latest"]), label]),
    empty, maps, matched, title("Emissions per state"), emissions, title("Sample (fixed seed)"), sample, passageTitle, passage, board);

  function render(): void {
    const count = Number(model.get("hmm_count")) || 0;
    const index = Number(model.get("hmm_index")) || 0;
    const step = Number(model.get("hmm_step"));
    slider.max = String(Math.max(0, count - 1));
    if (document.activeElement !== slider) slider.value = String(index);
    slider.disabled = count <= 1;
    follow.checked = Boolean(model.get("hmm_follow"));
    label.textContent = count ? `step ${step} · snapshot ${index + 1} of ${count}` : "";
    el.dataset.step = String(step);
    el.dataset.count = String(count);
  }

  function showRecord(): void {
    const r = model.get("hmm_record") || {};
    const has = typeof r.n_states === "number";
    empty.hidden = has;
    for (const node of [maps, matched, emissions, sample, board, passage, passageTitle]) node.hidden = !has;
    if (!has) return;
    const step = Number(model.get("hmm_step"));
    const k = Number(r.n_states);
    if (Array.isArray(r.transmat)) {
      const parts = [heatmap(r.transmat, `transitions at step ${step} (row: from, column: to)`, "model")];
      if (Array.isArray(r.truth_transmat)) parts.push(heatmap(r.truth_transmat, "true transitions (matched order)", "truth"));
      maps.replaceChildren(...parts);
    } else {
      maps.replaceChildren(h("div", { class: "gw-muted", text: `${k} states: too many to draw the transition matrix` }));
    }
    const e = r.errors || null;
    matched.hidden = !e;
    if (e) {
      const items: string[] = [];
      if (typeof e.transmat === "number") items.push(`transitions ${fmt(e.transmat)}`);
      if (typeof e.emissionprob === "number") items.push(`emissions ${fmt(e.emissionprob)}`);
      if (typeof e.means === "number") items.push(`means ${fmt(e.means)}`);
      matched.textContent = `largest absolute error after matching the states to the truth: ${items.join(", ")}`;
      matched.dataset.transmat = String(e.transmat);
    }
    const occupancy: (number | null)[] = r.occupancy || [];
    const rows: HTMLElement[] = [];
    for (let s = 0; s < k; s++) {
      const head = h("span", { class: "gw-hmm-state",
        text: `state ${s}${typeof occupancy[s] === "number" ? ` (${Math.round(Number(occupancy[s]) * 100)}%)` : ""}` });
      const body = h("span", { class: "gw-hmm-emission" });
      if (Array.isArray(r.top_symbols) && r.top_symbols[s]) {
        for (const [symbol, p] of r.top_symbols[s]) {
          const shown = symbolText(String(symbol));
          body.append(h("span", { class: "gw-hmm-symbol", title: `p = ${fmt(p, 4)}`,
            style: { background: heatColor(Number(p) * 2), color: Number(p) > 0.25 ? "#fff" : "#222" },
            text: `${shown} ${fmt(p, 2)}` }));
        }
      } else if (Array.isArray(r.means) && r.means[s] !== undefined) {
        const mean = ([] as number[]).concat(r.means[s]);
        const covar = r.covars && r.covars[s] !== undefined ? ([] as number[]).concat(r.covars[s]) : [];
        body.textContent = `mean ${mean.slice(0, 8).map((v) => fmt(v)).join(", ")}` +
          (covar.length ? ` · variance ${covar.slice(0, 8).map((v) => fmt(v)).join(", ")}` : "");
      }
      rows.push(h("div", { class: "gw-hmm-emission-row" }, [head, body]));
    }
    emissions.replaceChildren(...rows);
    emissions.dataset.states = String(rows.length);
    const text = typeof r.text === "string" ? r.text
      : Array.isArray(r.symbols) ? r.symbols.join(" ") : "";
    sample.hidden = !text;
    sample.textContent = text;
    const shown = r.passage && Array.isArray(r.passage.posterior) ? (r.passage as Passage) : null;
    passage.hidden = passageTitle.hidden = !shown;
    if (shown) passage.replaceChildren(ribbon(shown, k));
    const restarts: { restart: number; log_likelihood: number | null }[] = r.restarts || [];
    board.hidden = !restarts.length;
    board.dataset.rows = String(restarts.length);
    if (restarts.length) {
      const table = h("table", { class: "gw-hmm-board" }, [
        h("tr", {}, [h("th", { text: "rank" }), h("th", { text: "restart" }), h("th", { text: "log-likelihood / symbol" })]),
        ...restarts.map((row, i) => h("tr", { class: i === 0 ? "gw-hmm-best" : "" }, [
          h("td", { text: String(i + 1) }), h("td", { text: String(row.restart) }),
          h("td", { text: fmt(row.log_likelihood, 4) })])),
      ]);
      board.replaceChildren(title("Restarts (best first; the best one is shown)"), table);
    }
    el.dataset.draws = String(Number(el.dataset.draws || 0) + 1);
  }

  slider.addEventListener("input", errors.guard("hmm slider", () => {
    const count = Number(model.get("hmm_count")) || 0;
    const index = Number(slider.value);
    model.set("hmm_index", index);
    model.set("hmm_follow", index >= count - 1);
    model.save_changes();
    render();
  }));
  follow.addEventListener("change", errors.guard("hmm follow", () => {
    model.set("hmm_follow", follow.checked);
    model.save_changes();
  }));
  for (const name of ["hmm_count", "hmm_index", "hmm_step", "hmm_follow"]) {
    subs.on(`change:${name}`, errors.guard("hmm snapshot", render));
  }
  subs.on("change:hmm_record", errors.guard("hmm record", showRecord));
  render();
  showRecord();
  return () => subs.dispose();
}
