# tidewatch's node components (agent, aggregator, alerter) in one image; the command picks one:
#   docker run tidewatch node aggregator/dist/main.js --config /etc/tidewatch/aggregator.toml
# Multi-stage: build with dev dependencies, run with production dependencies only, as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
COPY shared/package.json shared/
COPY agent/package.json agent/
COPY aggregator/package.json aggregator/
COPY alerter/package.json alerter/
RUN npm ci --no-audit --no-fund
COPY shared/ shared/
COPY agent/ agent/
COPY aggregator/ aggregator/
COPY alerter/ alerter/
RUN npm run build -w shared -w agent -w aggregator -w alerter

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY agent/package.json agent/
COPY aggregator/package.json aggregator/
COPY alerter/package.json alerter/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules/
COPY --from=deps /app/package.json ./
COPY --from=build /src/shared/package.json shared/
COPY --from=build /src/shared/dist shared/dist/
COPY --from=build /src/agent/package.json agent/
COPY --from=build /src/agent/dist agent/dist/
COPY --from=build /src/aggregator/package.json aggregator/
COPY --from=build /src/aggregator/dist aggregator/dist/
COPY --from=build /src/alerter/package.json alerter/
COPY --from=build /src/alerter/dist alerter/dist/
# The same layout as on a host: configuration in /etc/tidewatch, state in /var/lib/tidewatch.
RUN groupadd --system tidewatch && useradd --system --gid tidewatch --home-dir /var/lib/tidewatch --shell /usr/sbin/nologin tidewatch \
  && install -d -o tidewatch -g tidewatch -m 0750 /var/lib/tidewatch && install -d -m 0755 /etc/tidewatch
USER tidewatch
WORKDIR /var/lib/tidewatch
CMD ["node", "/app/aggregator/dist/main.js", "--config", "/etc/tidewatch/aggregator.toml"]
