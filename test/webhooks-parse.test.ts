// Parsing amoCRM's webhooks (pure): the events typed from form and JSON bodies, their hashes, what
// is refused, and the small helpers around them. Against the gateway: webhooks.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventHash, leadOutcome, parseAmoWebhook, webhookDestination, webhookSecretFromPath, WebhookParseError } from '../src/features/webhooks/index.ts';
import { at, defined } from './helpers/narrow.ts';
import { FORM, form } from './helpers/webhooks.ts';

describe('parseAmoWebhook', () => {
  const account = { 'account[subdomain]': 'demo', 'account[id]': 29000001, 'account[_links][self]': 'https://demo.amocrm.ru' };

  it('types a status change (and the update that comes with it)', () => {
    const body = form({
      'leads[status][0][id]': 123,
      'leads[status][0][status_id]': 142,
      'leads[status][0][pipeline_id]': 7,
      'leads[status][0][old_status_id]': 55,
      'leads[status][0][old_pipeline_id]': 6,
      'leads[status][0][name]': 'Quiz lead',
      'leads[status][0][last_modified]': 1700000000,
      'leads[status][0][updated_at]': 1700000001,
      'leads[status][0][custom_fields][0][id]': 9,
      'leads[status][0][custom_fields][0][values][0][value]': 'x',
      'leads[update][0][id]': 123,
      'leads[update][0][status_id]': 142,
      'leads[update][0][pipeline_id]': 7,
      'leads[update][0][updated_at]': 1700000001,
      ...account,
    });
    const parsed = parseAmoWebhook(`${FORM}; charset=UTF-8`, body);
    assert.deepEqual(parsed.account, { id: 29000001, subdomain: 'demo' });
    assert.equal(parsed.events.length, 2);
    const [status, update] = [at(parsed.events, 0), at(parsed.events, 1)];
    assert.equal(status.kind, 'lead.status');
    assert.equal(status.leadId, 123);
    assert.equal(status.statusId, 142);
    assert.equal(status.pipelineId, 7);
    assert.equal(status.oldStatusId, 55);
    assert.equal(status.oldPipelineId, 6);
    assert.equal(status.occurredAt, 1700000001);
    assert.equal(status.name, 'Quiz lead');
    assert.deepEqual(status.data.custom_fields, { '0': { id: '9', values: { '0': { value: 'x' } } } });
    assert.equal(update.kind, 'lead.updated');
    assert.equal(update.statusId, 142);
  });

  it('types added, deleted, contact and note events', () => {
    const body = form({
      'leads[add][0][id]': 1,
      'leads[add][0][status_id]': 10,
      'leads[add][0][pipeline_id]': 2,
      'leads[add][0][created_at]': 1700000000,
      'leads[delete][0][id]': 3,
      'leads[delete][0][status_id]': 10,
      'leads[delete][0][pipeline_id]': 2,
      'contacts[add][0][id]': 4,
      'contacts[add][0][name]': 'Ann',
      'contacts[update][0][id]': 5,
      'contacts[update][0][updated_at]': 1700000005,
      'leads[note][0][note][id]': 6,
      'leads[note][0][note][text]': 'called',
      'leads[note][0][note][element_id]': 1,
      'leads[note][0][note][element_type]': 2,
      'leads[note][0][note][date_create]': 1700000006,
      'leads[note][0][type]': 'lead',
      ...account,
    });
    const events = parseAmoWebhook(FORM, body).events;
    const byKind = Object.fromEntries(events.map((e) => [e.kind, e]));
    const of = (kind: string) => defined(byKind[kind], `${kind} event`);
    assert.deepEqual(Object.keys(byKind).sort(), ['contact.added', 'contact.updated', 'lead.added', 'lead.deleted', 'note.added']);
    assert.equal(of('lead.added').leadId, 1);
    assert.equal(of('lead.added').statusId, 10);
    assert.equal(of('lead.added').occurredAt, 1700000000);
    assert.equal(of('lead.deleted').leadId, 3);
    assert.equal(of('contact.added').contactId, 4);
    assert.equal(of('contact.added').name, 'Ann');
    assert.equal(of('contact.updated').occurredAt, 1700000005);
    assert.deepEqual(
      { leadId: of('note.added').leadId, noteId: of('note.added').noteId, text: of('note.added').text, at: of('note.added').occurredAt },
      { leadId: 1, noteId: 6, text: 'called', at: 1700000006 },
    );
  });

  it('keeps sections it cannot type as `unknown`', () => {
    const events = parseAmoWebhook(FORM, form({ 'companies[add][0][id]': 8, 'task[update][0][id]': 9, ...account })).events;
    assert.deepEqual(
      events.map((e) => [e.kind, e.entity, e.action]),
      [
        ['unknown', 'companies', 'add'],
        ['unknown', 'task', 'update'],
      ],
    );
  });

  it('reads JSON bodies, and the same event hashes alike in both encodings', () => {
    const json = JSON.stringify({
      leads: { status: [{ id: 123, status_id: 142, pipeline_id: 7, old_status_id: 55 }] },
      account: { id: 29000001, subdomain: 'demo' },
    });
    const fromJson = parseAmoWebhook('application/json', json);
    const fromForm = parseAmoWebhook(
      FORM,
      form({ 'leads[status][0][id]': 123, 'leads[status][0][status_id]': 142, 'leads[status][0][pipeline_id]': 7, 'leads[status][0][old_status_id]': 55, 'account[id]': 29000001 }),
    );
    const jsonEvent = at(fromJson.events, 0);
    assert.equal(jsonEvent.kind, 'lead.status');
    assert.equal(jsonEvent.statusId, 142);
    assert.equal(eventHash(jsonEvent), eventHash(at(fromForm.events, 0)));
    // Without a content type the body is sniffed.
    assert.equal(at(parseAmoWebhook(undefined, json).events, 0).leadId, 123);
  });

  it('hashes different events differently and ignores the parameter order', () => {
    const a = at(parseAmoWebhook(FORM, 'leads[status][0][id]=1&leads[status][0][status_id]=2&leads[status][0][pipeline_id]=3&account[id]=1').events, 0);
    const b = at(parseAmoWebhook(FORM, 'account[id]=1&leads[status][0][pipeline_id]=3&leads[status][0][status_id]=2&leads[status][0][id]=1').events, 0);
    const c = at(parseAmoWebhook(FORM, 'leads[status][0][id]=1&leads[status][0][status_id]=4&leads[status][0][pipeline_id]=3&account[id]=1').events, 0);
    assert.equal(eventHash(a), eventHash(b));
    assert.notEqual(eventHash(a), eventHash(c));
  });

  it('rejects what is not an amoCRM webhook with a clear error', () => {
    const bad: Array<[string | undefined, string, RegExp]> = [
      [FORM, '', /empty body/],
      [FORM, 'leads[status][0][id]=1&leads[status][0][status_id]=2&leads[status][0][pipeline_id]=3', /no account/],
      [FORM, 'account[id]=1', /no events/],
      [FORM, 'account[id]=abc&leads[add][0][id]=1', /account\[id\] is not a number/],
      [FORM, 'account[id]=1&leads[status][0][id]=x&leads[status][0][status_id]=2&leads[status][0][pipeline_id]=3', /leads\[status\]\[0\]: id/],
      [FORM, 'account[id]=1&leads[status][0][id]=1&leads[status][0][pipeline_id]=3', /status_id/],
      [FORM, 'account[id]=1&leads[add]=1', /not a list/],
      [FORM, 'account[id]=1&leads=1', /not a section/],
      [FORM, 'account[id]=1&leads[add][0]]=1', /malformed parameter/],
      [FORM, 'account[id]=1&leads[add][0][id]=1&leads[add][0][id]=2', /given twice/],
      [FORM, 'account[id]=1&__proto__[add][0][id]=1', /forbidden|unexpected/],
      [FORM, 'hello world', /no account/],
      ['application/json', '{"account":', /not valid JSON/],
      ['application/json', '[1,2]', /not an object/],
      ['multipart/form-data; boundary=x', 'account[id]=1&leads[add][0][id]=1', /unsupported content type/],
    ];
    for (const [type, body, re] of bad) {
      assert.throws(
        () => parseAmoWebhook(type, body),
        (err: unknown) => err instanceof WebhookParseError && re.test(err.message),
        `${type} ${body}`,
      );
    }
  });

  it('helpers: path secret, destination, outcome', () => {
    assert.equal(webhookSecretFromPath('/webhook/amo/abc123'), 'abc123');
    assert.equal(webhookSecretFromPath('/webhook/amo/'), null);
    assert.equal(webhookSecretFromPath('/webhook/amo/a/b'), null);
    assert.equal(webhookDestination({ publicUrl: 'https://gw.example/' }, { webhookSecret: 's3cret' }), 'https://gw.example/webhook/amo/s3cret');
    assert.equal(leadOutcome({ leadStatusAmoId: null }), null);
    assert.equal(leadOutcome({ leadStatusAmoId: 142 }), 'won');
    assert.equal(leadOutcome({ leadStatusAmoId: 143 }), 'lost');
    assert.equal(leadOutcome({ leadStatusAmoId: 20 }), 'open');
  });
});
