// The real node's sandbox ("pause") container: holds the pod's namespaces, reaps orphans.
module podgroup-controller/hack/images/pause

go 1.25
