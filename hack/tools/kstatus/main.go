// Command kstatus prints what sigs.k8s.io/cli-utils' kstatus (the library behind Flux's health
// checks, kpt live apply, Helm 4's --wait and cli-utils' own apply) computes for Kubernetes objects.
//
// Input on stdin: a JSON list of objects. Output on stdout: a JSON list with one
// {"status", "message"} (InProgress, Failed, Current, Terminating, NotFound or Unknown) or
// {"error"} per object.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	var objects []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading the input: %v\n", err)
		os.Exit(2)
	}
	out := make([]verdict, 0, len(objects))
	for _, obj := range objects {
		// Unstructured's own decoding keeps whole numbers int64, as a client's objects have them.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(obj); err != nil {
			out = append(out, verdict{Error: err.Error()})
			continue
		}
		result, err := status.Compute(u)
		if err != nil {
			out = append(out, verdict{Error: err.Error()})
			continue
		}
		out = append(out, verdict{Status: result.Status.String(), Message: result.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
}
