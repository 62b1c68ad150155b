// Issue 13: the quiz owner's admin page in Debian's Chromium against a real gateway (workers on),
// the amoCRM simulator and PostgreSQL: sign in (an expired token is refused first), connect in
// the popup, watch the sync finish, read the catalogue, write a rule (a BAD_USER_INPUT lands at
// its input), send a test lead and see it turn DELIVERED and then WON live, revoke the tokens and
// see the page ask for a reconnect, reconnect, and the page at phone width and in Russian.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Account as SimAccount } from '@quiz-gateway/amo-sim';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { startStack, untilListening, type Stack } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';
import { browserSkipReason, fitsWidth, launchBrowser, newContext, pageErrors, screenshot } from './helpers/browser.ts';

const skip = browserSkipReason();
const TENANT = 'admin-owner';
const QUIZ = 'quiz-admin-1';
const TIMEOUT = 20_000;

let testDb: TestDatabase;
let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];
let amo: SimAccount;

before(async () => {
  if (skip) return;
  testDb = await createTestDatabase();
  stack = await startStack(testDb, { workers: true });
  amo = stack.sim.seedAccount({ subdomain: 'quizshop', name: 'ООО «Квиз Шоп»', pipelines: 2, statusesPerPipeline: 3, users: 3, tagsPerEntity: 3 });
  browser = await launchBrowser();
  context = await newContext(browser);
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  // a 401 is how the gateway refuses the expired token: the browser logs the failed request
  errors = pageErrors(page, [/status of 401/]);
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  await testDb?.drop();
});

const listening = (event: 'sync.completed' | 'delivery.updated' | 'token.stale') => () => stack.gw.app.services.pubsub.listening(event, TENANT) > 0;
const gql = async (query: string, token: string) => {
  const res = await stack.gw.gql(query, {}, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data;
};
const nav = (name: RegExp) => page.getByRole('navigation').getByRole('link', { name });

/** The popup amoCRM's consent page opens in: choose the account, allow; the popup posts back and closes. */
async function consentInPopup(button: RegExp, shot?: string) {
  const popupOpened = page.waitForEvent('popup');
  await page.getByRole('button', { name: button }).click();
  const popup = await popupOpened;
  await popup.waitForURL(/\/oauth\?/);
  await popup.locator('select[name="account_id"]').selectOption(String(amo.id));
  if (shot) await screenshot(popup, shot);
  await popup.getByRole('button', { name: 'Разрешить' }).click();
  await popup.waitForEvent('close', { timeout: TIMEOUT });
}

/** Closes the page's notices, so a screenshot shows the screen itself. */
async function dismissNotices() {
  const close = page.getByTestId('notice').getByRole('button', { name: 'Close' });
  // a notice may leave by itself meanwhile (its timer): then there is nothing to click
  while ((await close.count()) > 0)
    await close
      .first()
      .click({ timeout: 2000 })
      .catch(() => {});
}

/** The value of the option whose text starts with `text` (options read "<name> (<type>)"). */
async function optionValue(select: ReturnType<Page['locator']>, text: string): Promise<string> {
  const value = await select.locator('option', { hasText: text }).first().getAttribute('value');
  assert.ok(value, `an option "${text}"`);
  return value;
}

test('the admin page: sign in, connect, sync, catalogue, rule, test lead live, retry, rule problems, revoke, reconnect, disconnect', { skip, timeout: 120_000 }, async (t) => {
  const token = await tokenFor(TENANT, { expiresIn: '2h' });
  const simAccount = stack.sim.account(amo.id);
  const pipeline = simAccount.pipelines.find((p) => p.is_main)!;
  const step = pipeline.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
  const leadFields = simAccount.fields.leads.filter((f) => !f.is_predefined);
  const numeric = leadFields.find((f) => f.type === 'numeric')!;
  const text = leadFields.find((f) => f.type === 'text')!;
  const tag = simAccount.tags.leads[0]!;
  const utmField = simAccount.fields.leads.find((f) => f.code === 'UTM_SOURCE') ?? leadFields.filter((f) => f.type === 'text')[1]!;
  assert.ok(numeric && text && tag && step, 'the seeded account has what the rule needs');

  await t.test('an expired token is refused and asked for again; a pasted one signs in', async () => {
    const expired = await tokenFor(TENANT, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    await page.goto(`${stack.gw.url}/admin#token=${expired}`);
    await page.getByRole('alert').filter({ hasText: 'expired or is not valid' }).waitFor();
    assert.ok(!page.url().includes('token='), 'the token left the address bar');
    await screenshot(page, '01-sign-in-expired');
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No amoCRM account is connected').waitFor();
    await page.locator('[data-testid="live-state"][data-state="live"]').waitFor();
  });

  await t.test('connect in the popup, then the sync finishes live', async () => {
    await untilListening(listening('sync.completed'));
    await consentInPopup(/^Connect amoCRM$/, '02-amocrm-consent-popup');
    await page.getByTestId('connect-result').filter({ hasText: 'amoCRM is connected' }).waitFor();
    assert.equal(await page.getByTestId('account-name').textContent(), 'ООО «Квиз Шоп»');
    // syncCompleted's notice, then the account's last sync as the refetch shows it
    await page.getByTestId('notice').filter({ hasText: 'Sync finished: Succeeded' }).waitFor({ timeout: 30_000 });
    await page.getByTestId('sync-status').filter({ hasText: 'Succeeded' }).waitFor();
    assert.match((await page.getByTestId('sync-counts').textContent()) ?? '', /2 pipelines/);
    assert.equal(await page.getByTestId('account-state').textContent(), 'Working');
    await screenshot(page, '03-connection-synced');
  });

  await t.test('the catalogue: pipelines with steps, fields with types, paged and searchable', async () => {
    await nav(/Catalogue/).click();
    const pipelines = page.getByTestId('pipelines');
    await pipelines.getByText(pipeline.name, { exact: true }).waitFor();
    await pipelines.getByText(step.name, { exact: true }).first().waitFor();
    await page.getByTestId('fields').getByText(numeric.name, { exact: true }).waitFor();
    // paged: 25 lead fields at first, the rest on "Load more"
    const leadFieldCount = (await gql('{ fields(entity: LEAD, first: 1) { totalCount } }', token)).fields.totalCount as number;
    assert.ok(leadFieldCount > 25, `more lead fields than one page (${leadFieldCount})`);
    const fieldsCard = page.locator('section', { has: page.getByTestId('fields') });
    assert.equal(await page.getByTestId('fields').locator('li').count(), 25);
    await fieldsCard.getByText(`25 of ${leadFieldCount} loaded`).waitFor();
    await fieldsCard.getByRole('button', { name: 'Load more' }).click();
    await fieldsCard.getByText(`${Math.min(50, leadFieldCount)} of ${leadFieldCount} loaded`).waitFor();
    await page.locator('#search-fields').fill(numeric.name);
    await until('the field search to narrow the list', async () => (await page.getByTestId('fields').locator('li').count()) === 1, 10_000);
    assert.match((await page.getByTestId('fields').locator('li').textContent()) ?? '', /number/);
    await screenshot(page, '04-catalogue');
  });

  await t.test('the rule: the server’s BAD_USER_INPUT at its input, then saved', async () => {
    await nav(/Rules/).click();
    await page.getByLabel('Quiz id').fill(QUIZ);
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('heading', { name: `New rule for quiz ${QUIZ}` }).waitFor();
    const pipelineSelect = page.getByLabel('Pipeline');
    await pipelineSelect.selectOption(await optionValue(pipelineSelect, pipeline.name));
    const stepSelect = page.getByLabel('Step', { exact: true });
    // only the chosen pipeline's steps are offered
    await stepSelect.locator('option', { hasText: step.name }).first().waitFor({ state: 'attached' });
    const offered = await stepSelect.locator('option').allTextContents();
    assert.deepEqual(offered.slice(1).sort(), pipeline.statuses.map((s) => s.name).sort());
    await stepSelect.selectOption(await optionValue(stepSelect, step.name));
    const leadList = page.getByTestId('mappings-lead');
    await leadList.getByRole('button', { name: 'Add a mapping' }).click();
    await leadList.getByRole('button', { name: 'Add a mapping' }).click();
    const rows = leadList.getByTestId('mapping-row');
    await rows.nth(0).getByLabel('Question id').fill('q-area');
    const firstField = rows.nth(0).getByLabel('amoCRM field');
    await firstField.selectOption(await optionValue(firstField, numeric.name));
    await rows.nth(0).getByTestId('field-type').filter({ hasText: 'number' }).waitFor();
    // a file field can take no answer: it is not offered
    const fileField = leadFields.find((f) => f.type === 'file');
    if (fileField) assert.equal(await firstField.locator('option', { hasText: fileField.name }).count(), 0);
    await rows.nth(1).getByLabel('Question id').fill('q-area');
    const secondField = rows.nth(1).getByLabel('amoCRM field');
    await secondField.selectOption(await optionValue(secondField, text.name));
    await page.getByTestId('tags-lead').getByLabel(tag.name).check();
    // an unknown placeholder in the lead name is refused at its input too
    const template = page.getByLabel('Lead name', { exact: true });
    await template.fill('Quiz {quizTitle}');
    await page.getByRole('button', { name: 'Save the rule' }).click();
    await until('the template marked invalid', async () => (await template.getAttribute('aria-invalid')) === 'true', 10_000);
    assert.equal(await template.getAttribute('data-issue-path'), 'input.leadNameTemplate');
    // {leadName} renders the result's own name, else the default: the lead below is named as before
    await template.fill('{leadName}');

    const duplicate = rows.nth(1).getByLabel('Question id');
    await until('the duplicate question marked invalid', async () => (await duplicate.getAttribute('aria-invalid')) === 'true', 10_000);
    assert.equal(await duplicate.getAttribute('data-issue-path'), 'input.fieldsRule.lead.1.questionId');
    assert.match((await rows.nth(1).getByTestId('field-error').textContent()) ?? '', /mapped more than once/);
    assert.equal(await rows.nth(0).getByLabel('Question id').getAttribute('aria-invalid'), null);
    await screenshot(page, '05-rule-bad-user-input');

    await duplicate.fill('q-comment');
    await page.getByRole('button', { name: 'Save the rule' }).click();
    await page.getByTestId('notice').filter({ hasText: 'The rule is saved.' }).waitFor();
    await page.getByRole('heading', { name: `Rule of quiz ${QUIZ}` }).waitFor();
    // UTM: utm_source fills the text field
    await page.getByLabel('UTM parameter').fill('utm_source');
    const utmSelect = page.getByTestId('utms').getByLabel('amoCRM field');
    await utmSelect.selectOption(await optionValue(utmSelect, utmField.name));
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByTestId('utms').getByText('utm_source', { exact: true }).waitFor();

    const saved = await gql(
      `{ rule(quizId: "${QUIZ}") { leadNameTemplate step { name } fieldsRule { lead { questionId field { name } } } tagsToAdd { lead { name } } } utms(quizId: "${QUIZ}") { edges { node { name field { name } } } } }`,
      token,
    );
    assert.equal(saved.rule.step.name, step.name);
    assert.equal(saved.rule.leadNameTemplate, '{leadName}');
    assert.deepEqual(
      saved.rule.fieldsRule.lead.map((m: { questionId: string; field: { name: string } }) => [m.questionId, m.field.name]),
      [
        ['q-area', numeric.name],
        ['q-comment', text.name],
      ],
    );
    assert.deepEqual(saved.rule.tagsToAdd.lead, [{ name: tag.name }]);
    assert.deepEqual(saved.utms.edges[0].node, { name: 'utm_source', field: { name: utmField.name } });
    // issue 17: pause and resume from the page, and a preview that sends nothing
    await page.getByRole('button', { name: 'Pause the rule' }).click();
    await page.getByTestId('rule-paused').waitFor();
    assert.equal((await gql(`{ rule(quizId: "${QUIZ}") { paused } }`, token)).rule.paused, true);
    await page.getByRole('button', { name: 'Resume the rule' }).click();
    await page.getByTestId('rule-paused').waitFor({ state: 'detached' });
    assert.equal((await gql(`{ rule(quizId: "${QUIZ}") { paused } }`, token)).rule.paused, false);
    await page.getByText('Preview', { exact: true }).click();
    await page.getByRole('button', { name: 'Build the preview' }).click();
    assert.match((await page.getByTestId('rule-preview').locator('pre').first().textContent()) ?? '', /"pipeline_id"/);
    await dismissNotices();
    await screenshot(page, '06-rule-editor', { docs: 'rule-editor' });
  });

  let leadId = 0;
  let testResultId = '';
  await t.test('a test lead turns DELIVERED live, then WON from amoCRM’s webhook', async () => {
    await nav(/Deliveries/).click();
    await page.getByLabel(/Quiz id/).fill(QUIZ);
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByText('Send a test lead').click();
    await page.getByLabel('Answer to q-area').fill('54,5');
    await page.getByLabel('Answer to q-comment').fill('Перезвоните после 18:00');
    await untilListening(listening('delivery.updated'));
    await page.getByRole('button', { name: 'Send the test lead' }).click();
    const card = page.getByTestId('delivery').first();
    await card.and(page.locator('[data-status="DELIVERED"]')).waitFor({ timeout: 30_000 });
    testResultId = (await card.getAttribute('data-result-id')) ?? '';
    const link = card.getByTestId('lead-link');
    const href = (await link.getAttribute('href')) ?? '';
    const match = /^https:\/\/quizshop\.amocrm\.ru\/leads\/detail\/(\d+)$/.exec(href);
    assert.ok(match, `a lead link into the account: ${href}`);
    leadId = Number(match[1]);
    const lead = stack.sim.leads(amo.id).find((l) => l.id === leadId);
    assert.ok(lead, 'the linked lead is at amoCRM');
    assert.ok(JSON.stringify(lead).includes('Перезвоните после 18:00'), 'the mapped answer reached amoCRM');

    // amoCRM moves the lead to "won": its webhook reaches the gateway, deliveryUpdated the page
    await stack.sim.changeLeadStatus(amo.id, leadId, 142, pipeline.id);
    await card.getByText('Won', { exact: true }).waitFor({ timeout: 30_000 });
    assert.deepEqual(await card.locator('.warnings li').allTextContents(), [], 'the lead went out without warnings');
    // the result's answers as the gateway received them
    await card.getByTestId('delivery-answers').locator('summary').click();
    assert.match(await card.getByTestId('delivery-answers').innerText(), /Перезвоните после 18:00/);
  });

  await t.test('every quiz: a result without a rule FAILS live, is retried once its rule exists, filters', async () => {
    await nav(/Deliveries/).click();
    await page.getByTestId('delivery').first().waitFor();
    const submitted = await stack.gw.gql(
      'mutation ($input: QuizResultInput!) { submitQuizResult(input: $input) { id } }',
      { input: { resultId: 'result-no-rule', quizId: 'quiz-admin-2', contact: { name: 'Ольга', phone: '+79990002233' }, answers: [] } },
      token,
    );
    assert.equal(submitted.errors, undefined, JSON.stringify(submitted.errors));
    const failed = page.locator('[data-testid="delivery"][data-result-id="result-no-rule"]');
    await failed.and(page.locator('[data-status="FAILED"]')).waitFor({ timeout: 30_000 });
    assert.match((await failed.getByTestId('delivery-reason').textContent()) ?? '', /^No rule/);
    const rule = await gql(`{ rule(quizId: "${QUIZ}") { pipeline { id } step { id } } }`, token);
    await gql(`mutation { createQuizRule(quizId: "quiz-admin-2", input: { pipelineId: "${rule.rule.pipeline.id}", stepId: "${rule.rule.step.id}" }) { id } }`, token);
    await failed.getByRole('button', { name: 'Retry' }).click();
    await failed.and(page.locator('[data-status="DELIVERED"]')).waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('delivery').count(), 2);

    await page.getByLabel('Lead outcome').selectOption('WON');
    await until('the outcome filter', async () => (await page.getByTestId('delivery').count()) === 1, 10_000);
    assert.equal(await page.getByTestId('delivery').getAttribute('data-result-id'), testResultId);
    await page.getByLabel('Lead outcome').selectOption('');
    await until('every delivery again', async () => (await page.getByTestId('delivery').count()) === 2, 10_000);
    await dismissNotices();
    await screenshot(page, '07-deliveries', { docs: 'deliveries' });
  });

  await t.test('a tag deleted in amoCRM since the sync: the rule check’s problem shows as a warning', async () => {
    const gone = simAccount.tags.leads[2]!;
    stack.sim.removeTag(amo.id, 'leads', gone.id);
    await nav(/Rules/).click();
    await page.getByLabel('Quiz id').fill('quiz-admin-2');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('heading', { name: 'Rule of quiz quiz-admin-2' }).waitFor();
    // the cache still has it (no sync since), so it is offered and the save passes; amoCRM's check does not
    await page.getByTestId('tags-lead').getByLabel(gone.name).check();
    await page.getByRole('button', { name: 'Save the rule' }).click();
    const problems = page.getByTestId('rule-problems');
    await problems.waitFor({ timeout: 30_000 });
    const said = (await problems.textContent()) ?? '';
    assert.ok(said.includes(`lead tag «${gone.name}» (${gone.id}) no longer exists in amoCRM`), said);
    await dismissNotices();
    await screenshot(page, '08-rule-problems');
  });

  await t.test('revoked tokens: the page says the account needs reconnecting; reconnect', async () => {
    const revoked = await fetch(`${stack.sim.url}/_sim/revoke`, { method: 'POST', body: JSON.stringify([amo.id]) });
    assert.ok(revoked.ok, `revoke: ${revoked.status}`);
    await nav(/Connection/).click();
    await untilListening(listening('token.stale'));
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.getByTestId('account-state').filter({ hasText: 'Needs reconnecting' }).waitFor({ timeout: 30_000 });
    await page.getByRole('alert').filter({ hasText: 'needs reconnecting' }).first().waitFor();
    await screenshot(page, '09-needs-reconnecting');
    await consentInPopup(/^Reconnect amoCRM$/);
    await page.getByTestId('account-state').filter({ hasText: 'Working' }).waitFor();
    // the reconnect's own sync works again
    await page.getByTestId('sync-status').filter({ hasText: 'Succeeded' }).waitFor({ timeout: 30_000 });
    await dismissNotices();
  });

  await t.test('phone width (390 px) and Russian', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await nav(/Deliveries/).click();
    await page.getByTestId('delivery').first().waitFor();
    assert.deepEqual(await fitsWidth(page), { ok: true, scrollWidth: 390, width: 390 });
    await screenshot(page, '10-phone-deliveries');
    await nav(/Rules/).click();
    await page.getByRole('link', { name: QUIZ }).click();
    await page.getByRole('button', { name: 'Save the rule' }).waitFor();
    assert.equal((await fitsWidth(page)).ok, true, 'the rule editor fits a phone');
    await screenshot(page, '11-phone-rule-editor');
    await page.getByRole('button', { name: 'Рус' }).click();
    await page.getByRole('button', { name: 'Сохранить правило' }).waitFor();
    await nav(/Заявки/).click();
    await page.getByTestId('delivery-status').first().filter({ hasText: 'Доставлена' }).waitFor();
    await screenshot(page, '12-phone-deliveries-ru');
  });

  await t.test('a lead deleted in amoCRM: its webhook marks the delivery live', async () => {
    const card = page.locator(`[data-testid="delivery"][data-result-id="${testResultId}"]`);
    assert.equal(await card.getByTestId('lead-deleted').count(), 0);
    await stack.sim.deleteLead(amo.id, leadId);
    await card.getByTestId('lead-deleted').filter({ hasText: 'удалена в amoCRM' }).waitFor({ timeout: 30_000 });
  });

  await t.test('disconnect behind a confirmation, by keyboard', async () => {
    await page.getByRole('button', { name: 'Eng' }).click();
    await page.setViewportSize({ width: 1280, height: 900 });
    await nav(/Connection/).click();
    const disconnect = page.getByRole('button', { name: 'Disconnect' });
    await disconnect.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Disconnect amoCRM?' });
    await dialog.waitFor();
    // the safe answer has the focus; Escape keeps the account
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await gql('{ account { id } }', token)).account !== null, true);
    await disconnect.focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByText('No amoCRM account is connected').waitFor();
    assert.equal((await gql('{ account { id } }', token)).account, null);
    await screenshot(page, '13-disconnected');
  });

  assert.deepEqual(errors, [], 'the page logged no errors');
});
