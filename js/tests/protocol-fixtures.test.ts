/**
 * The shared protocol fixtures (tests/protocol_fixtures/*.json) against `LocalModel`, the
 * offline page's server. tests/test_protocol.py runs the same files against Python's
 * `attnviz_widget.protocol.answer`: both servers must give the same replies and buffers.
 */
import { describe, expect, it } from "vitest";
import { LocalModel, type StandaloneState } from "../src/standalone";

interface FixtureCase {
  name: string;
  request: Record<string, unknown>;
  /** The reply without `message`; errors carry a `message` matching `message_pattern`. */
  reply: Record<string, unknown>;
  message_pattern?: string;
  buffer: { byte_length: number; sha256: string } | null;
}

interface Fixture {
  name: string;
  description: string;
  state: StandaloneState;
  cases: FixtureCase[];
}

declare global {
  interface ImportMeta {
    glob<T>(pattern: string, options: { eager: true; import: "default" }): Record<string, T>;
  }
}

const FIXTURES = Object.values(
  import.meta.glob<Fixture>("../../tests/protocol_fixtures/*.json", { eager: true, import: "default" }),
);

function ask(model: LocalModel, request: Record<string, unknown>): Promise<[Record<string, unknown>, DataView[]]> {
  return new Promise((resolve) => {
    model.on("msg:custom", (reply: Record<string, unknown>, buffers: DataView[]) => resolve([reply, buffers]));
    model.send(request);
  });
}

async function sha256(view: DataView): Promise<string> {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("protocol fixtures shared with Python", () => {
  it("are found", () => {
    expect(FIXTURES.map((fixture) => fixture.name).sort()).toEqual(
      expect.arrayContaining(["cross_attention", "self_attention"]),
    );
  });

  for (const fixture of FIXTURES) {
    describe(fixture.name, () => {
      for (const testCase of fixture.cases) {
        it(`answers ${testCase.name} as Python does`, async () => {
          const [reply, buffers] = await ask(new LocalModel(fixture.state), testCase.request);
          const { message, ...rest } = reply;
          expect(rest).toEqual(testCase.reply);
          if (testCase.message_pattern !== undefined) {
            expect(String(message)).toMatch(new RegExp(testCase.message_pattern));
          } else {
            expect(message).toBeUndefined();
          }
          if (testCase.buffer === null) {
            expect(buffers).toEqual([]);
          } else {
            expect(buffers).toHaveLength(1);
            expect(buffers[0].byteLength).toBe(testCase.buffer.byte_length);
            expect(await sha256(buffers[0])).toBe(testCase.buffer.sha256);
          }
        });
      }
    });
  }
});
