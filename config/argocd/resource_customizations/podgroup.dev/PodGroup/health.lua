-- Argo CD health check for podgroup.dev/PodGroup: the verdicts Argo CD gives a Deployment
-- (Suspended when paused, Degraded past the progress deadline, Progressing until every pod runs
-- the current template and is available, Healthy after), read from the same status fields.
-- Uses only what Argo CD opens for a script set in argocd-cm (no string library).
local spec = obj.spec or {}
local status = obj.status or {}
local name = (obj.metadata and obj.metadata.name) or ""

if spec.paused == true then
  return { status = "Suspended", message = "PodGroup is paused" }
end

local generation = (obj.metadata and obj.metadata.generation) or 0
local observed = status.observedGeneration or 0
if generation > observed then
  return { status = "Progressing", message = "Waiting for rollout to finish: observed PodGroup generation less than desired generation" }
end

if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded" then
      return { status = "Degraded", message = "PodGroup \"" .. name .. "\" exceeded its progress deadline" }
    end
  end
end

local desired = spec.replicas or 1
local replicas = status.replicas or 0
local updated = status.updatedReplicas or 0
local available = status.availableReplicas or 0
if updated < desired then
  return { status = "Progressing", message = "Waiting for rollout to finish: " .. updated .. " out of " .. desired .. " new replicas have been updated..." }
end
if replicas > updated then
  return { status = "Progressing", message = "Waiting for rollout to finish: " .. (replicas - updated) .. " old replicas are pending termination..." }
end
if available < updated then
  return { status = "Progressing", message = "Waiting for rollout to finish: " .. available .. " of " .. updated .. " updated replicas are available..." }
end
return { status = "Healthy" }
