/** PNG export: a file name that says what is shown, and a download through an object URL. */

/** `attention_<model>_layer<L>_<head>.png`, safe on every file system. */
export function exportFileName(model: string, layer: number, head: number | string): string {
  const safe = (s: string): string =>
    s
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 60);
  const what = typeof head === "number" ? `head${head}` : safe(head);
  const name = safe(model.split("/").pop() ?? "");
  return `${["attention", name, `layer${layer}`, what].filter(Boolean).join("_")}.png`;
}

/** Encode `canvas` as PNG and download it as `filename`. Resolves once the download starts. */
export function downloadPng(canvas: HTMLCanvasElement, filename: string): Promise<void> {
  const doc = canvas.ownerDocument;
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (!blob) {
        reject(new Error("the browser could not encode the image"));
        return;
      }
      const url = URL.createObjectURL(blob);
      const a = doc.createElement("a");
      a.href = url;
      a.download = filename;
      a.style.display = "none";
      doc.body.appendChild(a);
      a.click();
      a.remove();
      // revoke after the click has been handled, or some browsers cancel the download
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      resolve();
    }, "image/png");
  });
}
