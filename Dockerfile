# podgroup-controller: the manager (default) and the kubectl-podgroup plugin in one image.
#   docker build -t podgroup-controller:dev .
#   docker run --rm podgroup-controller:dev --help
#   docker run --rm -i --entrypoint node podgroup-controller:dev dist/plugin/main.js inject -f - < pod.yaml

# Build: all dependencies, compile TypeScript, then keep production dependencies only.
FROM node:22.12.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Run: distroless Node 22 (no shell, no package manager), non-root numeric UID.
FROM gcr.io/distroless/nodejs22-debian12:nonroot
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 65532:65532
ENV NODE_ENV=production
EXPOSE 8080 8081 8888 9443
ENTRYPOINT ["/nodejs/bin/node", "dist/main.js"]
