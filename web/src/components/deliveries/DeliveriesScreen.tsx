// Every quiz result handed to amoCRM, newest first, live from deliveryUpdated: status, reason,
// the lead in amoCRM and where it is now; filters; retry on FAILED; a test lead form.
import { useEffect, useState } from 'react';
import type { DeliveryReason, DeliveryStatus, LeadOutcome } from '../../gql/graphql.ts';
import { DeliveriesQuery, DeliveryUpdatedSubscription } from '../../ops/deliveries.ts';
import { useQuery } from '@apollo/client/react';
import { useI18n } from '../../i18n/index.tsx';
import { PagedFoot } from '../catalogue/Paged.tsx';
import { QuizPicker } from '../rules/RulesScreen.tsx';
import { DeliveryCard } from './DeliveryCard.tsx';
import { TestLeadForm } from './TestLeadForm.tsx';
import { RetryFailedButton } from './RetryFailedButton.tsx';
import { DeliveryFilters, matchesFilters, type Filters } from './DeliveryFilters.tsx';

const PAGE = 20;

export function DeliveriesScreen({ quizId, subdomain }: { quizId: string; subdomain: string | null }) {
  const { t } = useI18n();
  const [filters, setFilters] = useState<Filters>({ status: '', reason: '', outcome: '' });
  const variables = {
    quizId: quizId || null,
    status: (filters.status || null) as DeliveryStatus | null,
    reason: (filters.reason || null) as DeliveryReason | null,
    outcome: (filters.outcome || null) as LeadOutcome | null,
  };
  const query = useQuery(DeliveriesQuery, { variables: { ...variables, first: PAGE }, fetchPolicy: 'cache-and-network', notifyOnNetworkStatusChange: true });
  const { subscribeToMore } = query;
  const connection = query.data?.deliveries;
  const nodes = connection?.edges.map((e) => e.node) ?? [];
  const loadMore = () => {
    if (connection?.pageInfo.hasNextPage) void query.fetchMore({ variables: { after: connection.pageInfo.endCursor } });
  };

  // New deliveries go on top; known ones update in place (the cache normalizes them by id).
  useEffect(
    () =>
      subscribeToMore({
        document: DeliveryUpdatedSubscription,
        variables: { quizId: quizId || null },
        updateQuery: (_, options) => {
          const delivery = options.subscriptionData.data?.deliveryUpdated;
          if (!delivery || !options.complete) return;
          const list = options.previousData.deliveries;
          if (list.edges.some((e) => e.node.id === delivery.id) || !matchesFilters(delivery, filters)) return;
          return {
            ...options.previousData,
            deliveries: { ...list, totalCount: list.totalCount + 1, edges: [{ __typename: 'DeliveryEdge' as const, cursor: '', node: delivery }, ...list.edges] },
          };
        },
      }),
    [subscribeToMore, quizId, filters],
  );
  // a delivery that changed so it no longer matches the filters leaves the list
  const shown = nodes.filter((d) => matchesFilters(d, filters));

  return (
    <div className="stack">
      <QuizPicker screen="deliveries" quizId={quizId} optional key={quizId} />
      {quizId && <TestLeadForm quizId={quizId} />}
      <section className="card stack" aria-labelledby="deliveries-title">
        <h2 id="deliveries-title">{t('deliveries.title')}</h2>
        <DeliveryFilters value={filters} onChange={setFilters} />
        <RetryFailedButton quizId={quizId} />
        {query.error && <p className="banner error">{query.error.message}</p>}
        {shown.length === 0 && !query.loading && <p className="hint">{t('deliveries.none')}</p>}
        <ul className="deliveries" data-testid="deliveries" aria-live="polite">
          {shown.map((d) => (
            <DeliveryCard key={d.id} delivery={d} subdomain={subdomain} />
          ))}
        </ul>
        <PagedFoot shown={nodes.length} total={connection?.totalCount ?? 0} hasMore={!!connection?.pageInfo.hasNextPage} loading={query.loading} onMore={loadMore} />
      </section>
    </div>
  );
}
