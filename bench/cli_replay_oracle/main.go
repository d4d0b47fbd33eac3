// Command cli_replay_oracle answers, for each case on stdin, what cli-replay's own packages do:
// whether its loader accepts the scenario, and what its replay engine answers to each call.
// It is the yardstick for bench/cli_replay_compat.py; build it against a checkout of cli-replay
// (GOPATH mode, see docs/decisions/0012-cli-replay-compatibility.md). Reads JSON, writes JSON.
package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ormasoftchile/cli-replay/pkg/matcher"
	"github.com/ormasoftchile/cli-replay/pkg/rendering"
	"github.com/ormasoftchile/cli-replay/pkg/replay"
	"github.com/ormasoftchile/cli-replay/pkg/scenario"
	"github.com/ormasoftchile/cli-replay/pkg/verify"
)

type call struct {
	Argv  []string `json:"argv"`
	Stdin string   `json:"stdin"`
}

type kase struct {
	Name  string            `json:"name"`
	File  string            `json:"file"`
	Env   map[string]string `json:"env"`
	Calls []call            `json:"calls"`
	// ArgvVars: also render {{ .var }} in match.argv before matching, as cli-replay's README and
	// cookbook write argv (its engine compares such items literally)
	ArgvVars bool `json:"argv_vars"`
}

type answer struct {
	Error  string `json:"error,omitempty"`
	Exit   int    `json:"exit"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

type outcome struct {
	Name     string   `json:"name"`
	Loaded   bool     `json:"loaded"`
	LoadErr  string   `json:"load_error,omitempty"`
	Answers  []answer `json:"answers"`
	Verified bool     `json:"verified"`
}

func run(k kase) outcome {
	out := outcome{Name: k.Name}
	scn, err := scenario.LoadFile(k.File)
	if err != nil {
		out.LoadErr = err.Error()
		return out
	}
	out.Loaded = true
	dir := filepath.Dir(k.File)
	opts := []replay.Option{
		replay.WithEnvLookup(func(name string) string { return k.Env[name] }),
		replay.WithFileReader(func(rel string) (string, error) {
			b, err := os.ReadFile(filepath.Join(dir, rel))
			return string(b), err
		}),
	}
	if scn.Meta.Security != nil && len(scn.Meta.Security.DenyEnvVars) > 0 {
		opts = append(opts, replay.WithDenyEnvPatterns(scn.Meta.Security.DenyEnvVars))
	}
	if k.ArgvVars {
		vars := map[string]string{}
		for name, v := range scn.Meta.Vars {
			vars[name] = v
			if e := k.Env[name]; e != "" {
				vars[name] = e
			}
		}
		opts = append(opts, replay.WithMatchFunc(func(expected, received []string) bool {
			rendered := make([]string, len(expected))
			for i, item := range expected {
				rendered[i] = item
				if m, _ := regexp.MatchString(`^\s*\{\{\s*\.(any|regex)\b`, item); !m && strings.Contains(item, "{{") {
					if out, err := rendering.RenderWithCaptures(item, vars, nil); err == nil {
						rendered[i] = out
					}
				}
			}
			return matcher.ArgvMatch(rendered, received)
		}))
	}
	engine := replay.New(scn, opts...)
	for _, c := range k.Calls {
		res, err := engine.MatchWithStdin(context.Background(), c.Argv[0], c.Argv[1:], c.Stdin)
		a := answer{}
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Exit, a.Stdout, a.Stderr = res.ExitCode, res.Stdout, res.Stderr
		}
		out.Answers = append(out.Answers, a)
	}
	res := verify.BuildResult(scn.Meta.Name, "oracle", scn.FlatSteps(), engine.StepCounts(), scn.GroupRanges())
	out.Verified = res.Passed
	return out
}

type templateCase struct {
	Template string            `json:"template"`
	Vars     map[string]string `json:"vars"`
	Captures map[string]string `json:"captures"`
}

type rendered struct {
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

// renderAll answers `{"templates": [...]}`: each response template as cli-replay renders it.
func renderAll(raw []byte) {
	var in struct {
		Templates []templateCase `json:"templates"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		panic(err)
	}
	out := make([]rendered, 0, len(in.Templates))
	for _, t := range in.Templates {
		text, err := rendering.RenderWithCaptures(t.Template, t.Vars, t.Captures)
		r := rendered{Output: text}
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	if len(raw) > 0 && raw[0] == '{' {
		renderAll(raw)
		return
	}
	var cases []kase
	if err := json.Unmarshal(raw, &cases); err != nil {
		panic(err)
	}
	outs := make([]outcome, 0, len(cases))
	for _, k := range cases {
		outs = append(outs, run(k))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(outs); err != nil {
		panic(err)
	}
}
