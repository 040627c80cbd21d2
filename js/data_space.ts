// Entry of the DataSpace widget (genai_widgets/widgets/data_space.py): controls (pause, resume,
// single step, slow motion) above the data-space canvas.
import type { RenderProps } from "@anywidget/types";
import { mountControlsPanel } from "./lib/controls_panel";
import { mountDataSpacePanel } from "./lib/data_space_panel";
import { mountRoot } from "./lib/mount";
import { h } from "./lib/util";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-data-space-widget", (root, errors) => {
    const controls = h("div", { class: "gw-panel gw-controls" });
    const space = h("div", { class: "gw-panel gw-data-space" },
      [h("div", { class: "gw-panel-title", text: "Data space" })]);
    root.append(controls, space);
    return [mountControlsPanel(model, controls, errors), mountDataSpacePanel(model, space, errors)];
  });
}

export default { render };
