// Prints the results of ./run (one JSON object per line) as one table.
// The ratio column compares each row with the first ajv row (ajv with allErrors, which like lmos
// looks for every problem rather than stopping at the first).

import { appendFileSync, readFileSync } from "node:fs";

const rows = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim().startsWith("{")).map((l) => JSON.parse(l));
const reference = rows.find((r) => r.name.startsWith("ajv"));
const fmt = (n) => Math.round(n).toLocaleString("en-US");
const name = Math.max(...rows.map((r) => r.name.length));
const header = `${"validator".padEnd(name)} | ${"TD/s (median)".padStart(13)} | ${"min".padStart(9)} | ${"max".padStart(9)} | ${"MB/s".padStart(6)} | valid     | vs ajv`;
console.log(header);
console.log(header.replace(/[^|]/g, "-"));
for (const r of rows) {
  const mbps = (r.bytes / r.docs) * r.median_tds_per_s / 1e6;
  const ratio = reference ? (r.median_tds_per_s / reference.median_tds_per_s).toFixed(2) : "-";
  console.log(`${r.name.padEnd(name)} | ${fmt(r.median_tds_per_s).padStart(13)} | ${fmt(r.min_tds_per_s).padStart(9)} | ${fmt(r.max_tds_per_s).padStart(9)} | ${mbps.toFixed(1).padStart(6)} | ${`${r.valid}/${r.docs}`.padEnd(9)} | ${ratio}x`);
}
const first = rows[0];
if (first) console.log(`\n${first.docs} TDs, ${(first.bytes / 1e6).toFixed(2)} MB in all (${Math.round(first.bytes / first.docs)} bytes per TD on average), ${first.iterations} timed passes after warm-up; median of passes.`);

// The headline figures for bench/run's summary table ($BENCH_RESULTS, see bench/result.py).
if (process.env.BENCH_RESULTS) {
  const find = (prefix) => rows.find((r) => r.name.startsWith(prefix));
  const ajv = find("ajv allErrors");
  const record = (name, row, goal) =>
    row && ajv && appendFileSync(process.env.BENCH_RESULTS, `${JSON.stringify({
      name, ours: row.median_tds_per_s, unit: "TDs/s", baseline: ajv.median_tds_per_s,
      baseline_name: "ajv allErrors", ...(goal ? { goal_ratio: goal } : {}),
      detail: `median of ${row.iterations} passes over ${row.docs} TDs`,
    })}\n`);
  record("TD parse + validate (validate_bytes, all checks) vs ajv", find("lmos validate_bytes"), 1);
  record("TD schema-only validation vs ajv (like for like)", find("lmos schema only"));
}
