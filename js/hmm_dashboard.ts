// Entry of the HMMDashboard widget (genai_widgets/widgets/hmm/dashboard.py): every panel of an
// HMM run in one widget and one bundle: the controls (with the health warnings), the train and
// held-out log-likelihood per symbol (a click moves the snapshot panel to that step), and the
// snapshot panel (transition heatmap beside the true one, emissions, sample, restarts).
import type { RenderProps } from "@anywidget/types";
import { mountControlsPanel } from "./lib/controls_panel";
import { mountHMMSnapshotPanel } from "./lib/hmm_panels";
import { mountLossPanel } from "./lib/loss_panel";
import { mountRoot } from "./lib/mount";
import { h } from "./lib/util";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-hmm-dashboard", (root, errors) => {
    const title = (text: string) => h("div", { class: "gw-panel-title", text });
    const controls = h("div", { class: "gw-panel gw-controls" });
    const loss = h("div", { class: "gw-panel gw-loss" },
      [title("Log-likelihood per symbol: train and held-out (nats)")]);
    const snapshot = h("div", { class: "gw-panel gw-hmm-snapshot" }, [title("Transition matrix by EM iteration")]);
    root.append(controls, h("div", { class: "gw-columns" }, [loss, snapshot]));
    return [
      mountControlsPanel(model, controls, errors),
      mountLossPanel(model, loss, errors, {
        cursorTrait: "hmm_step",
        onPickStep: (step) => model.send({ type: "seek_step", step }),
        yTitle: "nats per symbol",
      }),
      mountHMMSnapshotPanel(model, snapshot, errors),
    ];
  });
}

export default { render };
