# syntax=docker/dockerfile:1
# The gateway as a service: compiled JavaScript, production dependencies only, a non-root user.
#   docker build -t quiz-amocrm-gateway .
#   docker run --env-file .env -p 4000:4000 quiz-amocrm-gateway

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json ./
COPY packages/amo-sim/package.json packages/amo-sim/
COPY web/package.json web/
RUN npm ci --no-audit --no-fund
COPY . .
# Prisma's client and Pothos' types, the gateway in dist/, the admin page in web/dist/.
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=4000
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/amo-sim/package.json packages/amo-sim/
COPY web/package.json web/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
COPY --from=build /app/web/dist web/dist
# `prisma migrate deploy` (the compose file runs it before the gateway) needs the schema, its migrations and config.
COPY prisma prisma
COPY prisma.config.ts ./
USER node
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/main.js"]
