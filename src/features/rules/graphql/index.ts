// Rules and UTM mappings: their GraphQL types, queries and mutations.
import './rule.ts';
import './task.ts';
import './manage.ts';
import './utm.ts';
