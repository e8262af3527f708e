package main

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
)

// TestGuideAgreesWithExampleRules: the operator's guide's YAML setups are
// the rules `make run` preloads (rules.example.yaml): every group and
// station of the guide is in the example, the same. A reader who runs the
// guide's explain and list commands against `make run` sees what the guide
// shows.
func TestGuideAgreesWithExampleRules(t *testing.T) {
	guide, err := os.ReadFile("../../docs/operators-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(guide), "## The same setups from YAML")
	if !ok {
		t.Fatal(`docs/operators-guide.md has no "## The same setups from YAML" section`)
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatal("the YAML section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	setups, err := rulesfile.Parse(strings.NewReader(block), "docs/operators-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example, err := rulesfile.Parse(bytes.NewReader(data), "rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range setups.Groups(rules.DefaultTenant) {
		if e := example.Group(rules.DefaultTenant, name); !reflect.DeepEqual(e, g) {
			t.Errorf("group %s: the guide has %+v, rules.example.yaml %+v", name, g, e)
		}
	}
	for id, s := range setups.Stations {
		if !reflect.DeepEqual(example.Stations[id], s) {
			t.Errorf("station %s: the guide has %+v, rules.example.yaml %+v", id, s, example.Stations[id])
		}
	}
	// The example also spells its defaults out (all off, as unset ones
	// are): every decision is the same.
	for id := range setups.Stations {
		for _, d := range rules.AllDirections() {
			if g, e := setups.Resolve(id, d), example.Resolve(id, d); g.Mode != e.Mode || g.Rule != e.Rule || g.Announce != e.Announce {
				t.Errorf("%s %s: the guide decides %+v, rules.example.yaml %+v", id, d, g, e)
			}
		}
	}
}
