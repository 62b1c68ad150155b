/**
 * Standalone amoCRM simulator (`npm run sim`): listens on AMO_SIM_PORT (default 4010) with the
 * integration from AMO_CLIENT_ID / AMO_CLIENT_SECRET / AMO_REDIRECT_URI and one seeded demo account.
 */
import { createAmoSimulator } from './index.ts';

const port = Number(process.env.AMO_SIM_PORT ?? 4010);
const sim = createAmoSimulator({
  clientId: process.env.AMO_CLIENT_ID ?? 'dev-client-id',
  clientSecret: process.env.AMO_CLIENT_SECRET ?? 'dev-client-secret',
  redirectUri: process.env.AMO_REDIRECT_URI ?? 'http://127.0.0.1:4000/webhook/create',
  rateLimitRps: process.env.AMO_RATE_LIMIT_RPS ? Number(process.env.AMO_RATE_LIMIT_RPS) : undefined,
});

const url = await sim.start(port);
const demo = sim.seedAccount({ subdomain: 'demo', name: 'ООО «Демо Квиз»', users: 4, pipelines: 3, statusesPerPipeline: 5 });

console.log(`amoCRM simulator listening on ${url}`);
console.log(`  demo account: id=${demo.id} subdomain=${demo.subdomain} (${demo.users.length} users, ${demo.pipelines.length} pipelines)`);
console.log(`  authorize:    ${url}/oauth?client_id=${encodeURIComponent(sim.state.mainIntegration().clientId)}&state=STATE&mode=post_message`);
console.log(`  grant:        ${url}/oauth?client_id=${encodeURIComponent(sim.state.mainIntegration().clientId)}&state=STATE&account_id=${demo.id}&consent=allow`);
console.log(`  control API:  ${url}/_sim`);

const shutdown = () => {
  sim.stop().finally(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
