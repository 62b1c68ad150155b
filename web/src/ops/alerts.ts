import { graphql } from '../gql/index.ts';

export const AlertWebhookQuery = graphql(`
  query AdminAlertWebhook {
    alertWebhook {
      url
      updatedAt
      recentAlerts(first: 5) {
        id
        kind
        status
        attempts
        lastStatusCode
        lastError
        createdAt
      }
    }
  }
`);

export const SetAlertWebhookMutation = graphql(`
  mutation AdminSetAlertWebhook($input: AlertWebhookInput!) {
    setAlertWebhook(input: $input) {
      url
      updatedAt
    }
  }
`);

export const RemoveAlertWebhookMutation = graphql(`
  mutation AdminRemoveAlertWebhook {
    removeAlertWebhook
  }
`);

export const SendTestAlertMutation = graphql(`
  mutation AdminSendTestAlert {
    sendTestAlert
  }
`);

export const RetryFailedDeliveriesMutation = graphql(`
  mutation AdminRetryFailedDeliveries($quizId: ID) {
    retryFailedDeliveries(quizId: $quizId)
  }
`);
