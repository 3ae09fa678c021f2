// Which search a run takes and what the fast one may spend: from the work and the probes, never the clock.
import t from "tap";
import { chooseSearch, searchBudget } from "../../lib/select/search-plan.js";
import { openSession } from "../../lib/measure/session.js";
import { defaultWorkload } from "../../lib/measure/workload.js";
import { fixturePath } from "../helpers/fixtures.js";

t.test("the fast search gets what the rest of the run leaves of its passes, at least 3", async (t) => {
  const session = await openSession(fixturePath("llama-localized"), await defaultWorkload("demo"), { threads: 1 });
  t.teardown(() => session.model.dispose());
  const { probes, neutral } = session;
  const pass = probes.filter((p) => p.split === "selection").tokenCount + neutral.tokenCount;
  const still = probes.filter((p) => p.split === "heldout").tokenCount + 4 * probes.filter((p) => p.split === "heldout" && p.label !== "factual").tokenCount + probes.tokenCount + neutral.tokenCount;
  t.equal(searchBudget(session, 1.8, "heldout", 15), Math.floor(15 - 1.8 - still / pass), `${(still / pass).toFixed(2)} passes still needed after the search`);
  t.equal(searchBudget(session, 1.8, "heldout", 4), 3, "never fewer than 3");
});

t.test("auto takes the thorough search where its work fits, the fast one elsewhere, whatever the machine's load", async (t) => {
  t.equal(chooseSearch({}, 4 * 512, 3.0e6, 20205), "thorough", "the 3M-parameter test model");
  t.equal(chooseSearch({}, 2 * 384, 6.6e5, 6000), "thorough", "TinyStories-656K");
  t.equal(chooseSearch({}, 12 * 3072, 1.145e8, 20205), "fast", "a 114.5M model");
  t.equal(chooseSearch({}, 16 * 8192, 1.24e9, 7018), "fast", "a 1B model");
  t.equal(chooseSearch({ thoroughWork: 1e12 }, 4 * 512, 3.0e6, 20205), "fast", "a tighter allowance");
  t.equal(chooseSearch({ search: "thorough" }, 16 * 8192, 1.24e9, 7018), "thorough", "the user's choice wins");
  t.equal(chooseSearch({ search: "fast" }, 4 * 512, 3.0e6, 20205), "fast");
});
