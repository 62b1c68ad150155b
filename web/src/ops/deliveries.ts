import { graphql } from '../gql/index.ts';

export const DeliveryItem = graphql(`
  fragment DeliveryItem on Delivery {
    id
    resultId
    quizId
    status
    reason
    lastError
    attempts
    nextAttemptAt
    createdAt
    deliveredAt
    fullAmoLeadId
    fullAmoContactId
    warnings
    leadOutcome
    leadStatusChangedAt
    leadDeleted
    leadDeletedAt
    answers {
      questionId
      title
      values
    }
    leadStep {
      id
      name
      color
      pipeline {
        id
        name
      }
    }
  }
`);

export const DeliveriesQuery = graphql(`
  query AdminDeliveries($first: Int!, $after: String, $quizId: ID, $status: DeliveryStatus, $reason: DeliveryReason, $outcome: LeadOutcome) {
    deliveries(first: $first, after: $after, quizId: $quizId, status: $status, reason: $reason, outcome: $outcome) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        cursor
        node {
          ...DeliveryItem
        }
      }
    }
  }
`);

export const DeliveryUpdatedSubscription = graphql(`
  subscription AdminDeliveryUpdated($quizId: ID) {
    deliveryUpdated(quizId: $quizId) {
      ...DeliveryItem
    }
  }
`);

export const RetryDeliveryMutation = graphql(`
  mutation AdminRetryDelivery($id: ID!) {
    retryDelivery(id: $id) {
      ...DeliveryItem
    }
  }
`);

export const SubmitResultMutation = graphql(`
  mutation AdminSubmitResult($input: QuizResultInput!) {
    submitQuizResult(input: $input) {
      ...DeliveryItem
    }
  }
`);
