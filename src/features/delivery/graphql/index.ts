// The delivery feature's GraphQL: deliveries and their subscription, bulk retry and answers, the rule preview.
import './delivery.ts';
import './extras.ts';
import './preview.ts';
