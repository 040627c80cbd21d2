// Entry of the SampleGrid widget (genai_widgets/widgets/sample_grid.py).
import type { RenderProps } from "@anywidget/types";
import { mountGridPanel } from "./lib/grid_panel";
import { mountRoot } from "./lib/mount";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-sample-grid", (root, errors) => {
    const panel = document.createElement("div");
    root.append(panel);
    return [mountGridPanel(model, panel, errors)];
  });
}

export default { render };
