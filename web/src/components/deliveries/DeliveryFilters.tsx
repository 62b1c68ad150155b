import type { DeliveryItemFragment } from '../../gql/graphql.ts';
import { useI18n } from '../../i18n/index.tsx';

export interface Filters {
  status: string;
  reason: string;
  outcome: string;
}

const STATUSES = ['PENDING', 'DELIVERED', 'FAILED'];
const REASONS = [
  'QUEUED',
  'NO_ACCOUNT',
  'RECONNECT_NEEDED',
  'ACCOUNT_BLOCKED',
  'RATE_LIMITED',
  'AMO_UNAVAILABLE',
  'CONFIRMING',
  'ADDING_NOTE',
  'AMO_REJECTED',
  'NO_RULE',
  'RULE_PAUSED',
  'RULE_DELETED',
  'RETRIES_EXHAUSTED',
  'EXPIRED',
];
const OUTCOMES = ['OPEN', 'WON', 'LOST'];

/** The same test the server's filters make, for deliveries that changed while on screen. */
export function matchesFilters(d: Pick<DeliveryItemFragment, 'status' | 'reason' | 'leadOutcome'>, f: Filters): boolean {
  return (!f.status || d.status === f.status) && (!f.reason || d.reason === f.reason) && (!f.outcome || d.leadOutcome === f.outcome);
}

export function DeliveryFilters({ value, onChange }: { value: Filters; onChange(f: Filters): void }) {
  const { t, label } = useI18n();
  const select = (key: keyof Filters, group: string, options: string[]) => (
    <div className="input">
      <label htmlFor={`filter-${key}`}>{t(`deliveries.filter.${key}`)}</label>
      <select id={`filter-${key}`} value={value[key]} onChange={(e) => onChange({ ...value, [key]: e.target.value })}>
        <option value="">{t('deliveries.filter.any')}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {label(group, o)}
          </option>
        ))}
      </select>
    </div>
  );
  return (
    <div className="row filters" role="group" aria-label={t('deliveries.filters')}>
      {select('status', 'status', STATUSES)}
      {select('reason', 'reason', REASONS)}
      {select('outcome', 'outcome', OUTCOMES)}
    </div>
  );
}
