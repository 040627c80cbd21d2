// Entry of the RunDashboard widget (genai_widgets/widgets/run_dashboard.py): the shared
// dashboard of a family without its own (one registered from outside): controls, the metric
// curves, and the fixed sample grid when the family makes images.
import type { RenderProps } from "@anywidget/types";
import { mountControlsPanel } from "./lib/controls_panel";
import { mountGridPanel } from "./lib/grid_panel";
import { mountLossPanel } from "./lib/loss_panel";
import { mountRoot } from "./lib/mount";
import { h } from "./lib/util";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-run-dashboard", (root, errors) => {
    const title = (text: string) => h("div", { class: "gw-panel-title", text });
    const controls = h("div", { class: "gw-panel gw-controls" });
    const loss = h("div", { class: "gw-panel gw-loss" }, [title("Metrics")]);
    const lossPanel = () => mountLossPanel(model, loss, errors, {
      cursorTrait: "snapshot_step",
      onPickStep: (step) => model.send({ type: "seek_step", step }),
    });
    if (!model.get("samples_enabled")) {
      root.append(controls, loss);
      return [mountControlsPanel(model, controls, errors), lossPanel()];
    }
    const grid = h("div", { class: "gw-panel gw-grid" }, [title("Fixed samples")]);
    root.append(controls, h("div", { class: "gw-columns" }, [loss, grid]));
    return [mountControlsPanel(model, controls, errors), lossPanel(), mountGridPanel(model, grid, errors)];
  });
}

export default { render };
