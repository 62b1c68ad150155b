// Issue 16 in the admin page: an amoCRM account whose every id is above 2^31 (the simulator's
// idOffset). The page reads the BigInt twins (fullAmoId, fullAmoLeadId, …), never the contract's
// Int ids, which answer such an id with an error: the connection, the catalogue, a rule saved
// from the editor, an unsaved edit previewed (previewQuizRule's draft) and a test lead with its
// link into amoCRM all work on such an account.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Account as SimAccount } from '@quiz-gateway/amo-sim';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { startStack, untilListening, type Stack } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';
import { connectAndSync } from './helpers/owner.ts';
import { browserSkipReason, launchBrowser, newContext, pageErrors, screenshot } from './helpers/browser.ts';
import { ensureWebBuilt } from './helpers/web-build.ts';

const skip = browserSkipReason();
const HIGH = 2 ** 31;
const TENANT = 'admin-bigint';
const QUIZ = 'quiz-big-admin';
const TIMEOUT = 20_000;

let testDb: TestDatabase;
let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];
let amo: SimAccount;
let token: string;

before(async () => {
  if (skip) return;
  await ensureWebBuilt();
  testDb = await createTestDatabase();
  stack = await startStack(testDb, { workers: true, simOptions: { idOffset: HIGH } });
  amo = stack.sim.seedAccount({ subdomain: 'bigshop', name: 'Big Shop', pipelines: 2, statusesPerPipeline: 3, users: 2, tagsPerEntity: 2 });
  token = await tokenFor(TENANT, { expiresIn: '2h' });
  browser = await launchBrowser();
  context = await newContext(browser);
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  errors = pageErrors(page);
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  await testDb?.drop();
});

async function gql<T = any>(query: string): Promise<T> {
  const res = await stack.gw.gql(query, {}, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data;
}
const nav = (name: RegExp) => page.getByRole('navigation').getByRole('link', { name });

/** The value of the option whose text starts with `text`. */
async function optionValue(select: ReturnType<Page['locator']>, text: string): Promise<string> {
  const value = await select.locator('option', { hasText: text }).first().getAttribute('value');
  assert.ok(value, `an option "${text}"`);
  return value;
}

test('ids above 2^31: the page shows the account and catalogue, saves a rule, previews an edit, links a test lead', { skip, timeout: 120_000 }, async () => {
  const sim = stack.sim.account(amo.id);
  const pipeline = sim.pipelines.find((p) => p.is_main)!;
  const step = pipeline.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
  const numeric = sim.fields.leads.find((f) => f.type === 'numeric' && !f.is_predefined)!;
  const tag = sim.tags.leads[0]!;
  assert.ok(amo.id > HIGH && pipeline.id > HIGH && step.id > HIGH && numeric.id > HIGH && tag.id > HIGH, 'the simulator issues ids above 2^31');

  // connected and synced through the API: the page's part starts after it
  await connectAndSync(stack, token, amo.id);

  await page.goto(`${stack.gw.url}/admin#token=${token}`);
  await page.getByTestId('account-name').filter({ hasText: 'Big Shop' }).waitFor();
  await page.getByTestId('sync-status').filter({ hasText: 'Succeeded' }).waitFor();

  await nav(/Catalogue/).click();
  await page.getByTestId('pipelines').getByText(pipeline.name, { exact: true }).waitFor();
  await page.getByTestId('pipelines').getByText(step.name, { exact: true }).first().waitFor();
  await page.getByTestId('fields').getByText(numeric.name, { exact: true }).waitFor();

  await nav(/Rules/).click();
  await page.getByLabel('Quiz id').fill(QUIZ);
  await page.getByRole('button', { name: 'Open' }).click();
  await page.getByRole('heading', { name: `New rule for quiz ${QUIZ}` }).waitFor();
  const pipelineSelect = page.getByLabel('Pipeline');
  await pipelineSelect.selectOption(await optionValue(pipelineSelect, pipeline.name));
  const stepSelect = page.getByLabel('Step', { exact: true });
  await stepSelect.locator('option', { hasText: step.name }).first().waitFor({ state: 'attached' });
  await stepSelect.selectOption(await optionValue(stepSelect, step.name));
  const leadList = page.getByTestId('mappings-lead');
  await leadList.getByRole('button', { name: 'Add a mapping' }).click();
  const row = leadList.getByTestId('mapping-row').first();
  await row.getByLabel('Question id').fill('q-budget');
  const fieldSelect = row.getByLabel('amoCRM field');
  await fieldSelect.selectOption(await optionValue(fieldSelect, numeric.name));
  await page.getByTestId('tags-lead').getByLabel(tag.name).check();
  await page.getByRole('button', { name: 'Save the rule' }).click();
  await page.getByTestId('notice').filter({ hasText: 'The rule is saved.' }).waitFor();
  await page.getByRole('heading', { name: `Rule of quiz ${QUIZ}` }).waitFor();

  const saved = (
    await gql(`{ rule(quizId: "${QUIZ}") { pipeline { fullAmoId } step { fullAmoId } fieldsRule { lead { questionId field { fullAmoId } } } tagsToAdd { lead { fullAmoId } } } }`)
  ).rule;
  assert.equal(saved.pipeline.fullAmoId, String(pipeline.id));
  assert.equal(saved.step.fullAmoId, String(step.id));
  assert.deepEqual(saved.fieldsRule.lead, [{ questionId: 'q-budget', field: { fullAmoId: String(numeric.id) } }]);
  assert.deepEqual(saved.tagsToAdd.lead, [{ fullAmoId: String(tag.id) }]);
  await screenshot(page, 'bigint-rule-saved');

  // an edit previewed before it is saved (previewQuizRule's draft): another pipeline and step
  const other = sim.pipelines.find((p) => p.id !== pipeline.id)!;
  const otherStep = other.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
  const otherIds = (await gql('{ pipelines(first: 10) { edges { node { id fullAmoId steps(first: 40) { edges { node { id fullAmoId } } } } } } }')).pipelines.edges
    .map((e: any) => e.node)
    .find((p: any) => p.fullAmoId === String(other.id));
  const otherStepId = otherIds.steps.edges.map((e: any) => e.node).find((s: any) => s.fullAmoId === String(otherStep.id)).id;
  await pipelineSelect.selectOption(otherIds.id);
  await stepSelect.locator(`option[value="${otherStepId}"]`).waitFor({ state: 'attached' });
  await stepSelect.selectOption(otherStepId);
  await page.getByText('Preview', { exact: true }).click();
  await page.getByRole('button', { name: 'Build the preview' }).click();
  const previewPre = page.getByTestId('rule-preview').locator('pre').first();
  await until('the draft previewed', async () => ((await previewPre.textContent()) ?? '').includes(String(other.id)), 10_000);
  const previewed = JSON.parse((await previewPre.textContent()) ?? '{}');
  assert.equal(previewed.pipeline_id, other.id);
  assert.equal(previewed.status_id, otherStep.id);
  // a draft the server refuses shows the save's error; the saved rule is untouched
  await stepSelect.selectOption('');
  await page.getByRole('button', { name: 'Build the preview' }).click();
  await page.getByTestId('rule-preview-error').filter({ hasText: 'input.stepId' }).waitFor();
  assert.equal((await gql(`{ rule(quizId: "${QUIZ}") { pipeline { fullAmoId } step { fullAmoId } } }`)).rule.step.fullAmoId, String(step.id));

  // a test lead: delivered, its link carries amoCRM's lead id exactly
  await nav(/Deliveries/).click();
  await page.getByLabel(/Quiz id/).fill(QUIZ);
  await page.getByRole('button', { name: 'Open' }).click();
  await page.getByText('Send a test lead').click();
  await page.getByLabel('Answer to q-budget').fill('15,000');
  await untilListening(() => stack.gw.app.services.pubsub.listening('delivery.updated', TENANT) > 0);
  await page.getByRole('button', { name: 'Send the test lead' }).click();
  const card = page.getByTestId('delivery').first();
  await card
    .and(page.locator('[data-status="DELIVERED"]'))
    .waitFor({ timeout: 30_000 })
    .catch(async (err: unknown) => {
      // what the gateway says about it, for the failure's output
      console.log('deliveries:', JSON.stringify(await gql('{ deliveries(first: 5) { edges { node { status reason lastError warnings } } } }')));
      await screenshot(page, 'bigint-delivery-not-delivered');
      throw err;
    });
  const [lead] = stack.sim.leads(amo.id);
  assert.ok(lead && lead.id > HIGH, 'amoCRM answered a lead id above 2^31');
  assert.equal(await card.getByTestId('lead-link').getAttribute('href'), `https://bigshop.amocrm.ru/leads/detail/${lead.id}`);
  assert.match((await card.getByTestId('lead-link').textContent()) ?? '', new RegExp(String(lead.id)));
  // the numeric rule: "15,000" is fifteen thousand
  assert.deepEqual(
    lead.custom_fields_values?.find((f) => f.field_id === numeric.id)?.values.map((v) => v.value),
    ['15000'],
  );
  assert.deepEqual(errors, []);
});
