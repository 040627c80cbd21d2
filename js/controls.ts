// Entry of the Controls widget (genai_widgets/widgets/controls.py).
import type { RenderProps } from "@anywidget/types";
import { mountControlsPanel } from "./lib/controls_panel";
import { mountRoot } from "./lib/mount";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-controls-widget", (root, errors) => {
    const panel = document.createElement("div");
    panel.className = "gw-panel gw-controls";
    root.append(panel);
    return [mountControlsPanel(model, panel, errors)];
  });
}

export default { render };
