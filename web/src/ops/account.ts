import { graphql } from '../gql/index.ts';

export const SyncJobFields = graphql(`
  fragment SyncJobFields on SyncJob {
    id
    status
    scopes
    queuedAt
    startedAt
    finishedAt
    error
    counts {
      users
      pipelines
      steps
      fields
      tags
    }
  }
`);

export const AccountQuery = graphql(`
  query AdminAccount {
    account {
      id
      fullAmoId
      name
      subdomain
      stale
      blocked
      createdAt
      lastSyncAt
      reconcileMode
      reconcileNote
      lastSync {
        ...SyncJobFields
      }
      deliveryHealth {
        waiting
        failed
        oldestWaitingAt
        mainReason
        reasons {
          reason
          count
        }
      }
    }
  }
`);

export const ConnectMutation = graphql(`
  mutation AdminConnect {
    connectAccount {
      link
    }
  }
`);

export const DisconnectMutation = graphql(`
  mutation AdminDisconnect {
    disconnectAccount {
      account {
        id
      }
    }
  }
`);

export const SyncMutation = graphql(`
  mutation AdminSync {
    syncAccount {
      ...SyncJobFields
    }
  }
`);

export const SyncCompletedSubscription = graphql(`
  subscription AdminSyncCompleted {
    syncCompleted {
      ...SyncJobFields
    }
  }
`);

export const TokenStaleSubscription = graphql(`
  subscription AdminTokenStale {
    tokenStale {
      id
      stale
      blocked
    }
  }
`);
