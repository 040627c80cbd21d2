// Entry of the LatentExplorer widget (genai_widgets/widgets/latent_explorer.py).
import type { RenderProps } from "@anywidget/types";
import { mountExplorerPanel } from "./lib/explorer_panel";
import { mountRoot } from "./lib/mount";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-latent-explorer", (root, errors) => {
    const panel = document.createElement("div");
    root.append(panel);
    return [mountExplorerPanel(model, panel, errors)];
  });
}

export default { render };
