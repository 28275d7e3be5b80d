# syntax=docker/dockerfile:1
# The nself-plugins handler server. Hasura reaches it at http://<this container>:3100 ({{NSELF_PLUGINS_URL}}).
# With no DATABASE_URL it starts its embedded PostgreSQL in /app/.data (mount a volume there to keep it);
# with no REDIS_URL the job queue runs on that PostgreSQL.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts stay on: the embedded PostgreSQL package links its shared libraries in one.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY actions ./actions
COPY event-triggers ./event-triggers
COPY cron-triggers ./cron-triggers
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3100 \
    DATA_DIR=/app/.data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Read at run time: the actions' SDL (input validation) and the migrations applied at start.
COPY actions ./actions
COPY hasura ./hasura
# PostgreSQL refuses to run as root, and nothing else here needs it: the server runs as `node`, which owns
# only the data folder.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
VOLUME ["/app/.data"]
EXPOSE 3100
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3100)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/cli/main.js", "serve"]
