// Opens a built skybench Allure report in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core from reports/allure/node_modules: no browser download), takes screenshots and
// prints what the pages show as JSON for tests/reports/test_html_report.py to check.
//   node browse_report.mjs '{"base": "http://127.0.0.1:PORT", "failedId": "...", "failedName": "...", "plotName": "...", "outDir": "..."}'
// With "plotId" the plot is opened on that test instead of the failed one (the failed test's page
// is then screenshot as it is: its evidence listed).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fs from "node:fs";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "..", "reports", "allure", "package.json"));
const { chromium } = require("playwright-core");

const spec = JSON.parse(process.argv[2]);
const userDataDir = fs.mkdtempSync(path.join(spec.tmpDir || "/tmp", "skybench-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: spec.executable || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"],
});
const out = {};
try {
  const page = context.pages()[0] || (await context.newPage());
  // 1. The suites: the tree of the run's tests, grouped by suite.
  await page.goto(`${spec.base}/awesome/index.html`);
  await page.getByText(spec.failedName).first().waitFor({ timeout: 30000 });
  out.suites = await page.locator("body").innerText();
  await page.screenshot({ path: path.join(spec.outDir, "1-suites.png"), fullPage: true });
  // 2. The failed test, its plot opened (or, with plotId, as it is; then the plot on plotId's page).
  await page.goto(`${spec.base}/awesome/index.html#/${spec.failedId}`);
  if (spec.plotId) {
    await page.getByText(spec.failedName).first().waitFor({ timeout: 30000 });
    await page.waitForTimeout(1000);
    out.failedTest = await page.locator("body").innerText();
    await page.screenshot({ path: path.join(spec.outDir, "2-failed-test.png"), fullPage: true });
    await page.goto(`${spec.base}/awesome/index.html#/${spec.plotId}`);
  }
  const row = page.getByText(spec.plotName).first();
  await row.waitFor({ timeout: 30000 });
  await row.click();
  const img = page.locator("img").filter({ visible: true }).last();
  await img.waitFor({ timeout: 30000 });
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 30000 });
  out[spec.plotId ? "plotTest" : "failedTest"] = await page.locator("body").innerText();
  out.plot = await img.evaluate((el) => ({ src: el.getAttribute("src"), width: el.naturalWidth, height: el.naturalHeight }));
  await page.screenshot({ path: path.join(spec.outDir, spec.plotId ? "2-test-with-plot.png" : "2-failed-test-with-plot.png"), fullPage: true });
  // 3. The trend over the runs (the dashboard's status dynamics chart, from the Allure history).
  await page.goto(`${spec.base}/dashboard/index.html`);
  const trend = page.getByText("Status dynamics").first();
  await trend.waitFor({ timeout: 30000 });
  await page.waitForTimeout(1000); // the chart animates in
  out.dashboard = await page.locator("body").innerText();
  await page.screenshot({ path: path.join(spec.outDir, "3-trend.png"), fullPage: false });
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out));
