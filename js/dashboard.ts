// Entry of the Dashboard widget: every panel in one widget and one bundle (anywidget ships the
// bundle with each widget instance, so child widgets would ship plotly several times).
import type { RenderProps } from "@anywidget/types";
import { mountControlsPanel } from "./lib/controls_panel";
import { mountDataSpacePanel } from "./lib/data_space_panel";
import { mountExplorerPanel } from "./lib/explorer_panel";
import { mountGridPanel } from "./lib/grid_panel";
import { mountLatentSpaceSection } from "./lib/latent_space_panel";
import { mountLossPanel } from "./lib/loss_panel";
import { mountRoot } from "./lib/mount";
import { h } from "./lib/util";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-dashboard", (root, errors) => {
    const controls = h("div", { class: "gw-panel gw-controls" });
    const loss = h("div", { class: "gw-panel gw-loss" }, [h("div", { class: "gw-panel-title", text: "Losses" })]);
    const grid = h("div", { class: "gw-panel gw-grid" }, [h("div", { class: "gw-panel-title", text: "Fixed-noise samples" })]);
    const explorer = h("details", { class: "gw-panel gw-explorer", open: true },
      [h("summary", { class: "gw-panel-title", text: "Latent explorer" })]);
    const lossPanel = () => mountLossPanel(model, loss, errors, {
      cursorTrait: "snapshot_step",
      onPickStep: (step) => model.send({ type: "seek_step", step }),
    });
    if (model.get("data_space_enabled")) {
      // 2-D points: the data-space view takes the place of the image panels, first in line.
      const space = h("div", { class: "gw-panel gw-data-space" },
        [h("div", { class: "gw-panel-title", text: "Data space" })]);
      root.append(controls, h("div", { class: "gw-columns" }, [space, loss]));
      return [mountControlsPanel(model, controls, errors), lossPanel(),
        mountDataSpacePanel(model, space, errors)];
    }
    root.append(controls, h("div", { class: "gw-columns" }, [loss, grid]), explorer);
    const cleanups = [
      mountControlsPanel(model, controls, errors),
      lossPanel(),
      mountGridPanel(model, grid, errors),
      mountExplorerPanel(model, explorer, errors),
    ];
    // Folded at first: Python computes nothing for it until it is opened. The explorer above
    // owns the candidates (sample A, the method and frames of the interpolations).
    const space = mountLatentSpaceSection(model, root, errors);
    if (space) cleanups.push(space);
    return cleanups;
  });
}

export default { render };
