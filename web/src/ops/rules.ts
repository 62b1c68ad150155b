import { graphql } from '../gql/index.ts';

export const MappedField = graphql(`
  fragment MappedField on Field {
    id
    name
    entity
    type
  }
`);

export const RuleFields = graphql(`
  fragment RuleFields on Rule {
    id
    quizId
    toUnsorted
    mergeDuplicates
    leadNameTemplate
    priceQuestionId
    task {
      enabled
      text
      taskTypeId
      deadlineMinutes
      workingHours {
        days
        from
        to
        timezone
      }
    }
    assignmentMode
    assignees {
      id
    }
    tagNamesToAdd {
      lead
      contact
      company
      customer
    }
    problems
    checkedAt
    updatedAt
    paused
    pausedAt
    pipeline {
      id
      name
    }
    step {
      id
      name
    }
    performer {
      id
      name
    }
    fieldsRule {
      lead {
        questionId
        field {
          ...MappedField
        }
      }
      contact {
        properties {
          property
          field {
            ...MappedField
          }
        }
        questions {
          questionId
          field {
            ...MappedField
          }
        }
      }
      company {
        questionId
        field {
          ...MappedField
        }
      }
      customer {
        questionId
        field {
          ...MappedField
        }
      }
    }
    tagsToAdd {
      lead {
        id
        name
      }
      contact {
        id
        name
      }
      company {
        id
        name
      }
      customer {
        id
        name
      }
    }
  }
`);

export const RuleQuery = graphql(`
  query AdminRule($quizId: ID!) {
    rule(quizId: $quizId) {
      ...RuleFields
    }
  }
`);

export const CreateRuleMutation = graphql(`
  mutation AdminCreateRule($quizId: ID!, $input: RuleInput!) {
    createQuizRule(quizId: $quizId, input: $input) {
      ...RuleFields
    }
  }
`);

export const UpdateRuleMutation = graphql(`
  mutation AdminUpdateRule($quizId: ID!, $input: RuleInput!) {
    updateQuizRule(quizId: $quizId, input: $input) {
      ...RuleFields
    }
  }
`);

export const UtmsQuery = graphql(`
  query AdminUtms($quizId: ID!, $first: Int!, $after: String) {
    utms(quizId: $quizId, first: $first, after: $after) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        cursor
        node {
          id
          name
          field {
            ...MappedField
          }
        }
      }
    }
  }
`);

export const AddUtmsMutation = graphql(`
  mutation AdminAddUtms($quizId: ID!, $utms: [UtmInput!]!) {
    addUtms(quizId: $quizId, utms: $utms) {
      id
      name
    }
  }
`);

export const DeleteUtmsMutation = graphql(`
  mutation AdminDeleteUtms($ids: [ID!]!) {
    deleteUtms(ids: $ids)
  }
`);

export const PauseRuleMutation = graphql(`
  mutation AdminPauseRule($quizId: ID!) {
    pauseQuizRule(quizId: $quizId) {
      id
      paused
      pausedAt
    }
  }
`);

export const ResumeRuleMutation = graphql(`
  mutation AdminResumeRule($quizId: ID!) {
    resumeQuizRule(quizId: $quizId) {
      id
      paused
      pausedAt
    }
  }
`);

export const DeleteRuleMutation = graphql(`
  mutation AdminDeleteRule($quizId: ID!) {
    deleteQuizRule(quizId: $quizId)
  }
`);

export const PreviewRuleQuery = graphql(`
  query AdminPreviewRule($quizId: ID!, $sample: QuizResultInput!, $draft: RuleInput) {
    previewQuizRule(quizId: $quizId, sample: $sample, draft: $draft) {
      lead
      contact
      company
      customer
      note
      warnings
    }
  }
`);
