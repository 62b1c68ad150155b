// The consumer groups every replica shares, one per topic it works on (a
// group whose members read different topics would rebalance for nothing).
export const AMO_TASKS_GROUP = 'gateway-workers';
export const DELIVERY_GROUP = 'gateway-deliveries';
