// Entry of the TextDashboard widget (genai_widgets/widgets/text/dashboard.py): every panel of a
// text run in one widget and one bundle. The curves are in bits per character, with the
// baselines as dashed lines and a mark at the step the held-out bpc first went below each; a
// click on the curves moves the sample strip to that step.
import type { RenderProps } from "@anywidget/types";
import { mountControlsPanel } from "./lib/controls_panel";
import { mountLossPanel } from "./lib/loss_panel";
import { mountRoot } from "./lib/mount";
import { mountAttentionPanel, mountSurprisalPanel } from "./lib/surprisal_panel";
import { mountMemorisationPanel, mountSteeringPanel, mountStripPanel } from "./lib/text_panels";
import { h, type Model } from "./lib/util";

const LINE_COLORS = ["#555", "#8c564b", "#9467bd", "#e377c2", "#17becf", "#bcbd22"];

/** Dashed reference lines with labels, and the "beat X at step N" marks. */
function baselineDecorations(model: Model): { shapes: any[]; annotations: any[] } {
  const lines: Record<string, number> = model.get("baselines") || {};
  const beaten: Record<string, number> = model.get("baselines_beaten") || {};
  const best = String(model.get("best_baseline") || "");
  const shapes: any[] = [];
  const annotations: any[] = [];
  Object.entries(lines).sort((a, b) => b[1] - a[1]).forEach(([name, value], k) => {
    const color = LINE_COLORS[k % LINE_COLORS.length];
    shapes.push({ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: value, y1: value,
      line: { color, width: name === best ? 1.6 : 1, dash: "dash" } });
    // Baselines lie close together: their labels are spread along the line, right to left.
    annotations.push({ xref: "paper", yref: "y", x: 1 - (k % 5) * 0.19, y: value, xanchor: "right",
      yanchor: "bottom", showarrow: false, font: { size: 10, color },
      text: `${name}${name === best ? " best" : ""} ${value.toFixed(2)}` });
    const step = beaten[name];
    if (typeof step === "number") {
      annotations.push({ xref: "x", yref: "y", x: step, y: value, showarrow: true, arrowhead: 2,
        arrowsize: 0.8, ax: 0, ay: -24 - (k % 3) * 12, font: { size: 10, color: "#2e7d32" },
        text: `beat ${name} at step ${step}` });
    }
  });
  return { shapes, annotations };
}

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-text-dashboard", (root, errors) => {
    const title = (text: string) => h("div", { class: "gw-panel-title", text });
    const controls = h("div", { class: "gw-panel gw-controls" });
    const loss = h("div", { class: "gw-panel gw-loss" },
      [title("Bits per character: train (bpc) and held-out (val_bpc), with the baselines")]);
    const beaten = h("div", { class: "gw-muted gw-baselines-beaten" });
    loss.append(beaten);
    const strip = h("div", { class: "gw-panel gw-text-strip" }, [title("Live sample strip (fixed prompt and seed)")]);
    const steer = h("div", { class: "gw-panel gw-steer" }, [title("Generate from the current weights")]);
    const memo = h("div", { class: "gw-panel gw-memorisation" }, [title("Memorisation: novel 8-grams of the strip's samples")]);
    const surprisal = h("div", { class: "gw-panel gw-surprisal" }, [title("Surprisal of a held-out passage (bits per character)")]);
    const attention = h("details", { class: "gw-panel gw-attention", open: true },
      [h("summary", { class: "gw-panel-title", text: "Attention on the passage's last characters" })]);
    root.append(controls, h("div", { class: "gw-columns" }, [loss, strip]),
      h("div", { class: "gw-columns" }, [steer, memo]), surprisal, attention);
    const showBeaten = errors.guard("baselines", () => {
      const items = Object.entries(model.get("baselines_beaten") || {}).sort((a: any, b: any) => a[1] - b[1]);
      const lines = Object.keys(model.get("baselines") || {}).length;
      const note = String(model.get("baselines_note") || "");
      beaten.textContent = note || (items.length ? `beat ${items.map(([n, s]) => `${n} at step ${s}`).join(", ")}`
        : lines ? "no baseline beaten yet" : "baselines: computing...");
      loss.dataset.baselines = String(lines);
      loss.dataset.beaten = String(items.length);
    });
    for (const name of ["baselines", "baselines_beaten", "baselines_note"]) model.on(`change:${name}`, showBeaten);
    showBeaten();
    return [
      () => { for (const name of ["baselines", "baselines_beaten", "baselines_note"]) model.off(`change:${name}`, showBeaten); },
      mountControlsPanel(model, controls, errors),
      mountLossPanel(model, loss, errors, {
        cursorTrait: "strip_step",
        onPickStep: (step) => model.send({ type: "seek_step", step }),
        yTitle: "bits per character",
        decorations: { traits: ["baselines", "baselines_beaten", "best_baseline"],
          build: () => baselineDecorations(model) },
      }),
      mountStripPanel(model, strip, errors),
      mountSteeringPanel(model, steer, errors),
      mountMemorisationPanel(model, memo, errors),
      mountSurprisalPanel(model, surprisal, errors),
      mountAttentionPanel(model, attention, errors),
    ];
  });
}

export default { render };
