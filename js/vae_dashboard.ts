// Entry of the VAEDashboard widget (genai_widgets/widgets/vae_dashboard.py): every VAE panel in
// one widget and one bundle. A click on the latent scatter or on an input image sets the
// interpolation's start, then its end, then the start again. Below, the folded latent-space
// section of the GAN dashboard (directions, real images into z through the encoder, training
// neighbours, arithmetic), with its own candidate samples from the prior.
import type { RenderProps } from "@anywidget/types";
import { mountControlsPanel } from "./lib/controls_panel";
import { mountGridPanel } from "./lib/grid_panel";
import { mountLatentSpaceSection } from "./lib/latent_space_panel";
import { mountLossPanel } from "./lib/loss_panel";
import { mountRoot } from "./lib/mount";
import { mountScatterPanel } from "./lib/scatter_panel";
import { h } from "./lib/util";
import { mountInterpolationPanel, mountReconstructionPanel, mountTraversalPanel } from "./lib/vae_views_panel";

function render({ model, el }: RenderProps) {
  return mountRoot(model, el, "gw-vae-dashboard", (root, errors) => {
    const title = (text: string) => h("div", { class: "gw-panel-title", text });
    const controls = h("div", { class: "gw-panel gw-controls" });
    const loss = h("div", { class: "gw-panel gw-loss" }, [title("ELBO (higher is better), reconstruction and KL terms, nats per image")]);
    const grid = h("div", { class: "gw-panel gw-grid" }, [title("Samples from the prior (fixed z)")]);
    const scatter = h("div", { class: "gw-panel gw-scatter" }, [title("Latent space of the held-out images")]);
    const recon = h("div", { class: "gw-panel gw-recon" }, [title("Reconstructions")]);
    const interp = h("div", { class: "gw-panel gw-interp" }, [title("Interpolation A → B through the encoder")]);
    const traversal = h("details", { class: "gw-panel gw-traversal-panel", open: true },
      [h("summary", { class: "gw-panel-title", text: "Latent traversal" })]);
    root.append(controls, h("div", { class: "gw-columns" }, [loss, grid]),
      h("div", { class: "gw-columns" }, [scatter, h("div", { class: "gw-stack" }, [recon, interp])]),
      traversal);
    let nextEnd: "A" | "B" = "A";
    const pickEnd = errors.guard("pick", (index: number) => {
      model.set(nextEnd === "A" ? "interp_start" : "interp_end", index);
      model.save_changes();
      nextEnd = nextEnd === "A" ? "B" : "A";
    });
    const cleanups = [
      mountControlsPanel(model, controls, errors),
      mountLossPanel(model, loss, errors, {
        cursorTrait: "snapshot_step",
        onPickStep: (step) => model.send({ type: "seek_step", step }),
      }),
      mountGridPanel(model, grid, errors),
      mountScatterPanel(model, scatter, errors, { onPick: pickEnd }),
      mountReconstructionPanel(model, recon, errors, { onPick: pickEnd }),
      mountInterpolationPanel(model, interp, errors),
      mountTraversalPanel(model, traversal, errors),
    ];
    // Folded at first: Python computes nothing for it until it is opened.
    const space = mountLatentSpaceSection(model, root, errors, { ownCandidates: true });
    if (space) cleanups.push(space);
    return cleanups;
  });
}

export default { render };
