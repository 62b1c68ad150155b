// A Relay connection as a list screen reads it: the nodes loaded so far (the cache's
// relayStylePagination merges the pages), "load more", or every page for pickers and search.
import { useEffect, useEffectEvent } from 'react';
import { useQuery } from '@apollo/client/react';
import type { OperationVariables, TypedDocumentNode } from '@apollo/client';

export interface Connection<N> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  edges: { node: N }[];
}

/** At most this many pages are read to fill a picker or a search. */
const MAX_PAGES = 20;

export function useConnection<TData, TVars extends OperationVariables, N>(
  query: TypedDocumentNode<TData, TVars>,
  variables: Omit<TVars, 'first' | 'after'>,
  pick: (data: TData) => Connection<N> | null | undefined,
  options: { pageSize?: number; all?: boolean; skip?: boolean; fetchPolicy?: 'cache-first' | 'cache-and-network' } = {},
) {
  const pageSize = options.pageSize ?? 25;
  const result = useQuery(query, {
    variables: { ...variables, first: pageSize } as unknown as TVars,
    skip: options.skip,
    fetchPolicy: options.fetchPolicy ?? 'cache-first',
    notifyOnNetworkStatusChange: true,
  } as never);
  const data = result.data as TData | undefined;
  const connection = data ? pick(data) : undefined;
  const nodes = connection?.edges.map((e) => e.node) ?? [];
  const hasMore = !!connection?.pageInfo.hasNextPage;
  const endCursor = connection?.pageInfo.endCursor ?? null;

  const loadMore = () => {
    if (!hasMore || result.loading) return Promise.resolve();
    return result.fetchMore({ variables: { after: endCursor } as never }).then(() => undefined);
  };

  const pages = Math.ceil(nodes.length / pageSize);
  const wantAll = !!options.all && hasMore && !result.loading && !result.error && pages < MAX_PAGES;
  // loadMore changes every render; the cursor says when another page is due.
  const loadNext = useEffectEvent(() => void loadMore());
  useEffect(() => {
    if (wantAll) loadNext();
  }, [wantAll, endCursor]);

  return { nodes, totalCount: connection?.totalCount ?? 0, hasMore, loading: result.loading, error: result.error, loadMore, refetch: result.refetch };
}
