// Entry of the LatentScatter widget (genai_widgets/widgets/latent_scatter.py).
import type { RenderProps } from "@anywidget/types";
import { mountRoot } from "./lib/mount";
import { mountScatterPanel } from "./lib/scatter_panel";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-latent-scatter", (root, errors) => {
    const panel = document.createElement("div");
    panel.className = "gw-scatter";
    root.append(panel);
    return [mountScatterPanel(model, panel, errors)];
  });
}

export default { render };
