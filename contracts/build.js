// Compiles the contracts with solcjs (the npm `solc` package pinned in package.json) and
// writes compiled/<Name>.json = {abi, bytecode, compiler}. Run: cd contracts && npm ci && npm run build
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const SOURCES = ["TestUSDC.sol", "SanctionsOracle.sol"];
const input = {
  language: "Solidity",
  sources: Object.fromEntries(SOURCES.map((f) => [f, {content: fs.readFileSync(path.join(__dirname, f), "utf8")}])),
  settings: {
    optimizer: {enabled: true, runs: 200},
    evmVersion: "cancun",
    outputSelection: {"*": {"*": ["abi", "evm.bytecode.object"]}},
  },
};

function findImports(name) {
  try {
    return {contents: fs.readFileSync(require.resolve(name), "utf8")};
  } catch (err) {
    return {error: `not found: ${name}`};
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), {import: findImports}));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  errors.forEach((e) => console.error(e.formattedMessage));
  process.exit(1);
}
const outDir = path.join(__dirname, "compiled");
fs.mkdirSync(outDir, {recursive: true});
for (const file of SOURCES) {
  for (const [name, contract] of Object.entries(output.contracts[file])) {
    const artifact = {abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object, compiler: `solc ${solc.version()}`};
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 1) + "\n");
    console.log(`compiled/${name}.json`);
  }
}
