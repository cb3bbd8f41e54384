package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/yamlx"
)

func TestScratch(t *testing.T) {
	var doc struct {
		Labels map[string][]int `yaml:"labels"`
	}
	fmt.Printf("1: %v\n", yamlx.Unmarshal("d.yaml", []byte("labels: {\"a\\nb\": x}\n"), &doc))
	p := map[string]runbook.ParamSpec{"ns": {}}
	for _, tx := range []string{"{{ with .Params }}{{ .nope }}{{ end }}", "{{ $.Params.nope }}", "{{ $x := .Params }}{{ $x.nope }}", "{{ range 3 }}x{{ end }}"} {
		_, err := runbook.Render(tx, runbook.Context{Params: map[string]string{"ns": "a"}})
		fmt.Printf("2: %q check=%v render=%v\n", tx, runbook.CheckTemplate(tx, p), err)
	}
	_, err := config.Parse("bot.yaml", []byte("groups: {\"a\\nb\": {}}\n"), func(string) string { return "" })
	fmt.Printf("4: %v\n", err)
	c, err := config.Parse("bot.yaml", []byte("slack: {channel: C}\nservices: [{name: a, runbook: r, watchers: [{query: up, above: nan}]}]\n"), func(string) string { return "" })
	fmt.Printf("6: %v %v\n", err, *c.Services[0].Watchers[0].Above)
	// billion laughs
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 7; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	var lol struct {
		A0 []string `yaml:"a0"`
		A1 [][]string `yaml:"a1"`
		A2 [][][]string `yaml:"a2"`
		A3 [][][][]string `yaml:"a3"`
		A4 [][][][][]string `yaml:"a4"`
		A5 [][][][][][]string `yaml:"a5"`
		A6 [][][][][][][]string `yaml:"a6"`
	}
	start := time.Now()
	err = yamlx.Unmarshal("lol.yaml", []byte(b.String()), &lol)
	fmt.Printf("5: %d bytes, %v, err=%v\n", b.Len(), time.Since(start), err)
}
