// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { ThemeWatch } from "../src/canvas";

afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

describe("ThemeWatch", () => {
  it("reads the theme once, then again when idle, and repaints only when it changed", () => {
    vi.useFakeTimers();
    const el = document.createElement("div");
    el.style.color = "rgb(1, 2, 3)";
    document.body.append(el);
    const read = vi.spyOn(window, "getComputedStyle");
    const changed = vi.fn();
    const watch = new ThemeWatch(el, changed);
    expect(watch.current.fg).toBe("rgb(1, 2, 3)");
    expect(watch.current.fg).toBe("rgb(1, 2, 3)"); // a second paint in the same frame reads no style
    expect(read).toHaveBeenCalledTimes(1);
    vi.runAllTimers(); // idle: read again, nothing changed
    expect(read).toHaveBeenCalledTimes(2);
    expect(changed).not.toHaveBeenCalled();
    el.style.color = "rgb(200, 200, 200)"; // the notebook switched to a dark theme
    void watch.current; // painted with the old theme ...
    vi.runAllTimers();
    expect(changed).toHaveBeenCalledTimes(1); // ... and repainted when idle
    expect(watch.current.fg).toBe("rgb(200, 200, 200)");
    watch.dispose();
    el.style.color = "rgb(0, 0, 0)";
    vi.runAllTimers();
    expect(changed).toHaveBeenCalledTimes(1); // disposed: no more checks
  });
});
