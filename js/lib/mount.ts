// The common frame of every widget: root element, styles, the error area for front-end errors and
// Python-side flush errors (`widget_error`), a "hello" so Python refreshes the snapshot, and the
// saved static picture of this widget hidden while the view lives.
import { type Cleanup, ErrorArea, h, hideStaticPicture, injectStyles, type Model, Subscriptions } from "./util";

export function mountRoot(model: Model, el: HTMLElement, className: string,
  build: (root: HTMLElement, errors: ErrorArea) => Cleanup[]): Cleanup {
  injectStyles();
  const showStaticPicture = hideStaticPicture(String(model.get("static_id") || ""));
  const errors = new ErrorArea(model);
  const root = h("div", { class: `gw-root ${className}` });
  el.append(root);
  root.append(errors.el);
  const subs = new Subscriptions(model);
  const showWidgetError = () => errors.set("python", model.get("widget_error") || null);
  subs.on("change:widget_error", showWidgetError);
  showWidgetError();
  let cleanups: Cleanup[] = [];
  try {
    cleanups = build(root, errors);
  } catch (error) {
    errors.report("render", error);
  }
  try {
    model.send({ type: "hello" });
  } catch (error) {
    errors.report("hello", error);
  }
  return () => {
    subs.dispose();
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch {
        // a failing cleanup must not keep the others from running
      }
    }
    root.remove();
    showStaticPicture();
  };
}
