import { graphql } from '../gql/index.ts';

export const PageFields = graphql(`
  fragment PageFields on PageInfo {
    hasNextPage
    endCursor
  }
`);

export const PipelinesQuery = graphql(`
  query AdminPipelines($first: Int!, $after: String, $includeArchived: Boolean) {
    pipelines(first: $first, after: $after, includeArchived: $includeArchived) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        cursor
        node {
          id
          fullAmoId
          name
          isMain
          isArchive
          sort
          steps(first: 50) {
            totalCount
            edges {
              cursor
              node {
                id
                fullAmoId
                name
                color
                sort
              }
            }
          }
        }
      }
    }
  }
`);

export const StepsQuery = graphql(`
  query AdminSteps($pipelineId: ID!, $first: Int!, $after: String) {
    steps(pipelineId: $pipelineId, first: $first, after: $after) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        cursor
        node {
          id
          fullAmoId
          name
          color
          sort
        }
      }
    }
  }
`);

export const UsersQuery = graphql(`
  query AdminUsers($first: Int!, $after: String) {
    users(first: $first, after: $after) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        cursor
        node {
          id
          fullAmoUserId
          name
          email
          isActive
        }
      }
    }
  }
`);

export const FieldsQuery = graphql(`
  query AdminFields($entity: EntityType, $first: Int!, $after: String) {
    fields(entity: $entity, first: $first, after: $after) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        cursor
        node {
          id
          fullAmoId
          name
          code
          entity
          type
          rawType
          options {
            fullAmoId
            value
          }
        }
      }
    }
  }
`);

export const TagsQuery = graphql(`
  query AdminTags($entity: EntityType, $first: Int!, $after: String) {
    tags(entity: $entity, first: $first, after: $after) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        cursor
        node {
          id
          fullAmoId
          name
          entity
          color
        }
      }
    }
  }
`);
