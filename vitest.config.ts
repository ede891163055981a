import { defineConfig } from "vitest/config";

// Two kinds of tests: fast pure/unit tests (anyone, any order) and root-only end-to-end
// tests in network-namespace labs (real nft, real packets, the firmware under Deno).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**", "test/bench/**", "node_modules/**", "**/*fuzz.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        // Fuzzing of everything that parses bytes from the network: FUZZ_RUNS cases per
        // property (npm test sets 100000).
        test: {
          name: "fuzz",
          include: ["test/**/*fuzz.test.ts"],
          exclude: ["node_modules/**"],
          testTimeout: 600_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          // Each file builds its own lab with unique names, but the 2-core VM is the limit.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
