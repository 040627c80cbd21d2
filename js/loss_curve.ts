// Entry of the LossCurve widget (genai_widgets/widgets/loss_curve.py).
import type { RenderProps } from "@anywidget/types";
import { mountLossPanel } from "./lib/loss_panel";
import { mountRoot } from "./lib/mount";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-loss-curve", (root, errors) => {
    const panel = document.createElement("div");
    root.append(panel);
    return [mountLossPanel(model, panel, errors, { cursorTrait: "cursor_step" })];
  });
}

export default { render };
