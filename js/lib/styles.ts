// One stylesheet for all panels; JupyterLab theme variables with light-theme fallbacks.
export const CSS = `
.gw-root { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px;
  color: var(--jp-ui-font-color1, #222); display: flex; flex-direction: column; gap: 8px; }
.gw-panel { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px; padding: 8px;
  background: var(--jp-layout-color1, #fff); min-width: 0; }
.gw-panel-title { font-weight: 600; margin-bottom: 4px; }
.gw-row { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.gw-columns { display: flex; gap: 8px; flex-wrap: wrap; align-items: flex-start; }
.gw-columns > .gw-panel:first-child { flex: 1 1 420px; }
.gw-muted { color: var(--jp-ui-font-color2, #666); }
.gw-error-area { border: 1px solid #d32f2f; background: #fdecea; color: #611a15; border-radius: 4px;
  padding: 6px 8px; max-height: 220px; overflow: auto; }
.gw-error-text { margin: 0; white-space: pre-wrap; font-size: 12px; }
.gw-message { border: 1px solid #ed6c02; background: #fff4e5; color: #663c00; border-radius: 4px;
  padding: 6px 8px; }
.gw-badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; color: #fff; background: #777; text-transform: uppercase; }
.gw-badge[data-status="running"] { background: #2e7d32; }
.gw-badge[data-status="paused"] { background: #ed6c02; }
.gw-badge[data-status="finished"] { background: #1565c0; }
.gw-badge[data-status="stopped"] { background: #616161; }
.gw-badge[data-status="failed"] { background: #c62828; }
.gw-progress { flex: 1 1 160px; height: 8px; background: var(--jp-layout-color3, #e0e0e0);
  border-radius: 4px; overflow: hidden; min-width: 120px; }
.gw-progress > div { height: 100%; background: #1976d2; width: 0; transition: width 0.2s; }
.gw-progress.gw-indeterminate > div { width: 100%; opacity: 0.35; }
.gw-root button { font: inherit; padding: 2px 10px; cursor: pointer; }
.gw-root button:disabled { cursor: default; opacity: 0.5; }
.gw-root input[type="text"], .gw-root input[type="number"] { font: inherit; width: 80px; }
.gw-feedback { font-size: 12px; }
.gw-feedback[data-ok="false"] { color: #c62828; }
.gw-feedback[data-ok="true"] { color: #2e7d32; }
.gw-pixelated { image-rendering: pixelated; image-rendering: crisp-edges; display: block; }
.gw-pick { position: relative; display: inline-block; cursor: crosshair; }
.gw-pick-mark { position: absolute; border: 2px solid; pointer-events: none; font-size: 11px;
  font-weight: 700; line-height: 1; padding: 1px; box-sizing: border-box; }
.gw-pick-mark[data-which="A"] { border-color: #e53935; color: #e53935; }
.gw-pick-mark[data-which="B"] { border-color: #1e88e5; color: #1e88e5; }
.gw-strip { max-width: 100%; overflow-x: auto; }
.gw-frames { height: 72px; }
.gw-traverse { height: 120px; }
.gw-loss, .gw-loss-curve { min-width: 0; overflow: hidden; }
.gw-chart { width: 100%; min-height: 300px; }
.gw-columns > .gw-scatter { flex: 1 1 380px; min-width: 0; overflow: hidden; }
.gw-stack { display: flex; flex-direction: column; gap: 8px; flex: 1 1 360px; min-width: 0; }
.gw-recon-image, .gw-interp-image { max-width: 100%; cursor: pointer; }
.gw-interp-image { height: 56px; width: auto; cursor: default; }
.gw-picked { height: 64px; }
.gw-direction-row { gap: 6px; align-items: center; }
.gw-direction-name { min-width: 150px; font-size: 12px; }
.gw-direction-moved, .gw-real-projection { height: 96px; }
.gw-direction-strip, .gw-real-frames, .gw-arith-strip, .gw-real-images { height: 64px; }
.gw-neighbours { height: 96px; }
.gw-latent-error { color: #b00020; font-size: 12px; }
.gw-warning + .gw-warning { margin-top: 4px; }
.gw-traversal { display: flex; gap: 4px; align-items: stretch; }
.gw-traversal-labels { display: grid; font-size: 11px; color: var(--jp-ui-font-color2, #666);
  align-items: center; }
.gw-columns > .gw-panel.gw-data-space { flex: 0 1 440px; min-width: 240px; }
.gw-columns > .gw-panel.gw-loss { flex: 1 1 420px; }
.gw-space-canvas { display: block; margin-top: 4px; }
.gw-space-coverage { font-weight: 600; }
.gw-columns > .gw-text-strip, .gw-columns > .gw-memorisation { flex: 1 1 340px; min-width: 0; }
.gw-columns > .gw-panel.gw-steer { flex: 1 1 420px; }
.gw-text-sample { font-family: var(--jp-code-font-family, monospace); font-size: 12px; margin: 4px 0;
  white-space: pre-wrap; word-break: break-all; max-height: 220px; overflow: auto; line-height: 1.45; }
.gw-prompt { color: #1565c0; font-weight: 600; background: #e3f2fd; }
.gw-longest { background: #ffe0b2; color: inherit; outline: 1px solid #fb8c00; }
.gw-gen-prompt { width: 100%; box-sizing: border-box; font-family: var(--jp-code-font-family, monospace);
  font-size: 12px; }
.gw-gen-error { color: #c62828; font-size: 12px; }
.gw-surprisal { position: relative; }
.gw-surprisal-text { max-height: none; }
.gw-char { cursor: default; }
.gw-legend-bar { display: inline-block; width: 160px; height: 10px; border: 1px solid #ccc; }
.gw-tooltip { position: absolute; z-index: 10; background: var(--jp-layout-color0, #fff);
  border: 1px solid #999; border-radius: 3px; padding: 4px 6px; font-size: 12px;
  font-family: var(--jp-code-font-family, monospace); box-shadow: 0 2px 6px rgba(0,0,0,0.2);
  pointer-events: none; white-space: pre; }
.gw-tip-title { font-weight: 600; }
.gw-tip-true { color: #2e7d32; font-weight: 600; }
.gw-attention-canvas { display: block; margin-top: 4px; }
.gw-root .gw-steer input[type="number"] { width: 70px; }
.gw-columns > .gw-panel.gw-hmm-snapshot { flex: 1 1 380px; min-width: 0; overflow-x: auto; }
.gw-hmm-maps { align-items: flex-start; gap: 16px; }
.gw-hmm-figure { margin: 4px 0; }
.gw-hmm-heatmap { border-collapse: collapse; font-size: 11px; }
.gw-hmm-heatmap th { font-weight: 400; color: var(--jp-ui-font-color2, #666); padding: 0 3px; }
.gw-hmm-cell { text-align: center; padding: 0; border: 1px solid var(--jp-layout-color1, #fff); }
.gw-hmm-errors { color: #2e7d32; margin: 4px 0; }
.gw-hmm-emission-row { display: flex; gap: 6px; align-items: baseline; margin: 2px 0; }
.gw-hmm-emissions { max-height: 480px; overflow-y: auto; }
.gw-hmm-ellipses { display: block; border: 1px solid #eee; background: #fff; }
.gw-hmm-state { min-width: 110px; font-weight: 600; white-space: nowrap; }
.gw-hmm-emission { display: flex; gap: 3px; flex-wrap: wrap;
  font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.gw-hmm-symbol { padding: 0 4px; border-radius: 3px; white-space: pre; }
.gw-hmm-sample { max-height: 120px; overflow: auto; white-space: pre-wrap; }
.gw-hmm-ribbon { display: block; image-rendering: pixelated; max-width: 100%; }
.gw-hmm-passage { font-family: monospace; white-space: pre-wrap; word-break: break-all; margin-top: 4px; }
.gw-hmm-passage-symbol { font-weight: 600; }
.gw-hmm-board { border-collapse: collapse; font-size: 12px; }
.gw-hmm-board th, .gw-hmm-board td { padding: 1px 8px; text-align: right; }
.gw-hmm-best { font-weight: 600; }
`;
