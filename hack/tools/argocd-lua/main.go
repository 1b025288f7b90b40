// Command argocd-lua evaluates an Argo CD health.lua on Kubernetes objects the way Argo CD's
// controller does: gopher-lua (the interpreter Argo CD embeds) with only the libraries Argo CD
// opens for a health script configured in argocd-cm (package, base, table), the object as the
// global `obj` (maps as tables, lists as 1-based tables), a one-second budget per run, and the
// returned table read as {status, message}.
//
// Input on stdin, one JSON document: {"script": "...", "objects": [{...}, ...]}.
// Output on stdout: a JSON list with one {"status", "message"} or {"error"} per object.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

type input struct {
	Script  string           `json:"script"`
	Objects []map[string]any `json:"objects"`
}

type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// The health statuses Argo CD accepts from a script; anything else reads as Unknown.
var validStatuses = map[string]bool{"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true}

func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func evaluate(script string, obj map[string]any) verdict {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return verdict{Error: err.Error()}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return verdict{Error: err.Error()}
	}
	result, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return verdict{Error: fmt.Sprintf("expect table output from Lua script, not %s", l.Get(-1).Type())}
	}
	status := lua.LVAsString(result.RawGetString("status"))
	if !validStatuses[status] {
		return verdict{Status: "Unknown", Message: "Lua returned an invalid health status"}
	}
	return verdict{Status: status, Message: lua.LVAsString(result.RawGetString("message"))}
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "argocd-lua: reading the input: %v\n", err)
		os.Exit(2)
	}
	out := make([]verdict, 0, len(in.Objects))
	for _, obj := range in.Objects {
		out = append(out, evaluate(in.Script, obj))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "argocd-lua: %v\n", err)
		os.Exit(1)
	}
}
