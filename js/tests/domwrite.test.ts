// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { setAttr, setHidden, setStyle, setText, setValue } from "../src/domwrite";

/** The mutations `act` makes under `node`, counted by a MutationObserver. */
async function mutations(node: Node, act: () => void): Promise<number> {
  let count = 0;
  const observer = new MutationObserver((records) => (count += records.length));
  observer.observe(node, { subtree: true, childList: true, attributes: true, characterData: true });
  act();
  await Promise.resolve();
  observer.disconnect();
  return count;
}

describe("DOM writes that skip unchanged values", () => {
  it("writes a changed value, and leaves the DOM alone when it is the same", async () => {
    const el = document.createElement("div");
    const select = document.createElement("select");
    for (const v of ["a", "b"]) select.append(Object.assign(document.createElement("option"), { value: v, textContent: v }));
    const span = document.createElement("span");
    el.append(select, span);
    const writeAll = (text: string, hidden: boolean, width: string, pressed: string, value: string) => () => {
      setText(span, text);
      setHidden(el, hidden);
      setStyle(el, "width", width);
      setAttr(el, "aria-pressed", pressed);
      setValue(select, value);
    };
    expect(await mutations(el, writeAll("head 1", true, "10px", "true", "b"))).toBeGreaterThan(0);
    expect([el.textContent, el.hidden, el.style.width, el.getAttribute("aria-pressed"), select.value]).toEqual(["abhead 1", true, "10px", "true", "b"]);
    expect(await mutations(el, writeAll("head 1", true, "10px", "true", "b"))).toBe(0);
    expect(await mutations(el, writeAll("head 2", true, "10px", "true", "b"))).toBeGreaterThan(0);
  });
});
