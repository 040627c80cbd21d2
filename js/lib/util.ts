// Small DOM helpers shared by every panel: element builder, one <style> per page, a visible
// error area, and a guard that routes exceptions there instead of the browser console.
import type { AnyModel } from "@anywidget/types";
import { CSS } from "./styles";

export type Model = AnyModel<Record<string, any>>;
export type Cleanup = () => void;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, any> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key in node && typeof value !== "string") (node as any)[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

export function injectStyles(): void {
  if (document.getElementById("gw-styles")) return;
  const style = document.createElement("style");
  style.id = "gw-styles";
  style.textContent = CSS;
  document.head.append(style);
}

/** A visible error area at the top of a widget; front-end errors land here, not only in the console. */
export class ErrorArea {
  readonly el: HTMLDivElement;
  private messages = new Map<string, string>();

  constructor(private model: Model | null = null) {
    this.el = h("div", { class: "gw-error-area", role: "alert", hidden: true });
  }

  set(key: string, text: string | null): void {
    if (text) this.messages.set(key, text);
    else this.messages.delete(key);
    this.el.replaceChildren(
      ...[...this.messages.values()].map((m) => h("pre", { class: "gw-error-text", text: m })),
    );
    this.el.hidden = this.messages.size === 0;
  }

  report(where: string, error: unknown): void {
    const text = `${where}: ${error instanceof Error ? error.stack || error.message : String(error)}`;
    this.set(where, text);
    try {
      this.model?.send({ type: "frontend_error", text });
    } catch {
      // the comm may be closed; the error is already visible
    }
  }

  /** Wrap a callback so that its exceptions show in the error area. */
  guard<A extends any[]>(where: string, fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (error) {
        this.report(where, error);
      }
    };
  }
}

/** Subscribe to model events; the returned cleanup unsubscribes all of them. */
export class Subscriptions {
  private items: [string, (...args: any[]) => void][] = [];
  private timers: number[] = [];
  private disposers: Cleanup[] = [];
  constructor(private model: Model) {}

  on(event: string, callback: (...args: any[]) => void): void {
    this.model.on(event, callback);
    this.items.push([event, callback]);
  }

  interval(callback: () => void, ms: number): void {
    this.timers.push(window.setInterval(callback, ms));
  }

  add(dispose: Cleanup): void {
    this.disposers.push(dispose);
  }

  dispose(): void {
    for (const [event, callback] of this.items) this.model.off(event, callback);
    for (const timer of this.timers) window.clearInterval(timer);
    for (const dispose of this.disposers.splice(0)) dispose();
    this.items = [];
    this.timers = [];
  }
}

/** Keeps one object URL per image element and revokes the previous one. */
export function setImageBytes(img: HTMLImageElement, data: DataView | null | undefined): void {
  const old = img.dataset.url;
  if (data && data.byteLength > 0) {
    const url = URL.createObjectURL(new Blob([data as unknown as BlobPart], { type: "image/png" }));
    img.src = url;
    img.dataset.url = url;
    img.hidden = false;
    img.dataset.version = String(Number(img.dataset.version || "0") + 1);
  } else {
    img.removeAttribute("src");
    delete img.dataset.url;
    img.hidden = true;
  }
  if (old) URL.revokeObjectURL(old);
}

export function revokeImage(img: HTMLImageElement): void {
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  delete img.dataset.url;
}

/** Float32 values from a DataView; copies because the view's offset need not be 4-aligned. */
export function float32(data: DataView | ArrayBuffer | null | undefined): Float32Array {
  if (!data) return new Float32Array(0);
  if (data instanceof ArrayBuffer) return new Float32Array(data.slice(0));
  const copy = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return new Float32Array(copy as ArrayBuffer);
}

/** Int32 values from a DataView (copied, as for float32). */
export function int32(data: DataView | ArrayBuffer | null | undefined): Int32Array {
  if (!data) return new Int32Array(0);
  if (data instanceof ArrayBuffer) return new Int32Array(data.slice(0));
  const copy = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return new Int32Array(copy as ArrayBuffer);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** Hide the saved static picture of the widget `id` (its output after the widget's, see
 * genai_widgets/widgets/_base.py) while this view lives; the cleanup shows it again once no
 * view of that widget is left (a closed widget leaves its picture). The count lives on the
 * page, in one <style> per widget: each widget may load its own copy of this module. */
export function hideStaticPicture(id: string): Cleanup {
  if (!id) return () => {};
  const styleId = `gw-static-hide-${id}`;
  let style = document.getElementById(styleId);
  if (!style) {
    style = h("style", { id: styleId, "data-views": "0" });
    const cls = `.gw-static-${globalThis.CSS.escape(id)}`;
    // The picture, and the output row holding it (JupyterLab / Notebook 7, classic) so that no
    // empty prompt row is left; `>` keeps an enclosing Output widget's row out of it. One rule
    // each: a browser without :has() drops only its own rule.
    style.textContent = [cls, `.jp-OutputArea-child:has(> .jp-OutputArea-output > ${cls})`,
      `.output_area:has(> .output_subarea > ${cls})`]
      .map((selector) => `${selector} { display: none !important; }`).join("\n");
    document.head.append(style);
  }
  const node = style;
  node.dataset.views = String(Number(node.dataset.views || 0) + 1);
  let shown = false;
  return () => {
    if (shown) return;
    shown = true;
    const left = Number(node.dataset.views || 1) - 1;
    if (left > 0) node.dataset.views = String(left);
    else node.remove();
  };
}
